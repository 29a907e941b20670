import { functionKey, parseAddress, parseSpec, SpecError } from '../../dev/provider/spec';

describe('local provider function specs', () => {
  it.each([
    ['hello:1000', { name: 'hello', namespace: 'openfaas-fn', startDelayMs: 1000, minScale: null }],
    ['slow.staging:3000:2', { name: 'slow', namespace: 'staging', startDelayMs: 3000, minScale: 2 }],
    ['dead:never', { name: 'dead', namespace: 'openfaas-fn', startDelayMs: null, minScale: null }],
    ['fn-0:0:1', { name: 'fn-0', namespace: 'openfaas-fn', startDelayMs: 0, minScale: 1 }],
  ])('parses %s', (text, expected) => {
    expect(parseSpec(text, 'openfaas-fn')).toEqual(expected);
  });

  it.each(['hello', 'hello:1:2:3', 'Hello:1', 'hello:-1', 'hello:1.5', 'hello:soon', 'hello:1:0', 'hello.:1', '.ns:1', 'a_b:1'])(
    'rejects %s',
    (text) => {
      expect(() => parseSpec(text, 'openfaas-fn')).toThrow(SpecError);
    },
  );

  it('parses addresses with and without namespace and builds stats keys', () => {
    expect(parseAddress('hello', 'fn')).toEqual({ name: 'hello', namespace: 'fn' });
    expect(parseAddress('hello.staging', 'fn')).toEqual({ name: 'hello', namespace: 'staging' });
    expect(() => parseAddress('hello.a.b', 'fn')).toThrow(SpecError);
    expect(functionKey({ name: 'hello', namespace: 'staging' })).toBe('hello.staging');
  });
});
