import { checkMetadata, parseMetadata, parseSpec, SpecError, withMetadata } from '../../dev/provider/spec';

describe('local provider spec options: listen-delay', () => {
  it.each([
    ['gap:300:listen-delay=500', { name: 'gap', namespace: 'openfaas-fn', startDelayMs: 300, minScale: null, listenDelayMs: 500 }],
    ['gap.staging:300:2:listen-delay=0', { name: 'gap', namespace: 'staging', startDelayMs: 300, minScale: 2, listenDelayMs: 0 }],
    ['plain:300:2', { name: 'plain', namespace: 'openfaas-fn', startDelayMs: 300, minScale: 2 }],
  ])('parses %s', (text, expected) => {
    expect(parseSpec(text, 'openfaas-fn')).toStrictEqual(expected);
  });

  it.each([
    'gap:300:listen-delay',
    'gap:300:listen-delay=',
    'gap:300:listen-delay=-1',
    'gap:300:listen-delay=1.5',
    'gap:300:listen-delay=1:listen-delay=2',
    'gap:300:2:3',
    'gap:300:other=1',
    'gap:never:listen-delay=5',
    'gap:gate:listen-delay=5',
  ])('rejects %s', (text) => {
    expect(() => parseSpec(text, 'openfaas-fn')).toThrow(SpecError);
  });
});

describe('local provider labels and annotations', () => {
  it.each([
    ['hello:faas-waker/hold-timeout=2s', { name: 'hello', namespace: 'fn' }, 'faas-waker/hold-timeout', '2s'],
    [
      'hello.staging:com.openfaas.ready.http.path=/_/ready',
      { name: 'hello', namespace: 'staging' },
      'com.openfaas.ready.http.path',
      '/_/ready',
    ],
    ['hello:faas-waker/no-wake-paths=/a=b,/c:d', { name: 'hello', namespace: 'fn' }, 'faas-waker/no-wake-paths', '/a=b,/c:d'],
    ['hello:empty=', { name: 'hello', namespace: 'fn' }, 'empty', ''],
  ])('parses %s', (text, address, key, value) => {
    expect(parseMetadata(text, 'fn')).toEqual({ address, key, value });
  });

  it.each(['hello', 'hello:key', ':k=v', 'Hello:k=v', 'hello:=v', 'hello:a b=v', 'hello:-k=v', 'hello:k=line\nbreak'])(
    'rejects %j',
    (text) => {
      expect(() => parseMetadata(text, 'fn')).toThrow(SpecError);
    },
  );

  it('rejects over-long values', () => {
    expect(() => checkMetadata('k', 'x'.repeat(4097))).toThrow(SpecError);
    expect(checkMetadata('k', 'x'.repeat(4096))).toEqual({ key: 'k', value: 'x'.repeat(4096) });
  });

  it('adds entries without touching the original spec; a repeated key takes the later value', () => {
    const spec = parseSpec('hello:0', 'fn');
    const one = withMetadata(spec, 'labels', 'a', '1');
    const two = withMetadata(withMetadata(one, 'labels', 'a', '2'), 'annotations', 'b', '3');
    expect(spec).toStrictEqual({ name: 'hello', namespace: 'fn', startDelayMs: 0, minScale: null });
    expect(two.labels).toEqual({ a: '2' });
    expect(two.annotations).toEqual({ b: '3' });
  });
});
