import { functionRef, isDnsLabel, parseFunctionId } from '../../src/routing/function-ref';
import { functionPathOf, routeRequest, type RouterOptions } from '../../src/routing/router';

const DEFAULTS: RouterOptions = { prefixes: ['/function/', '/async-function/'], defaultNamespace: 'openfaas-fn' };
const LABEL_63 = 'a'.repeat(63);
const LABEL_64 = 'a'.repeat(64);

describe('routeRequest: function paths', () => {
  test.each([
    ['/function/hello', 'hello', 'openfaas-fn'],
    ['/function/hello/', 'hello', 'openfaas-fn'],
    ['/function/hello.staging/x?y=1', 'hello', 'staging'],
    ['/async-function/a', 'a', 'openfaas-fn'],
    ['/async-function/a.b/c/d', 'a', 'b'],
    ['/function/hello?y=1', 'hello', 'openfaas-fn'],
    ['/function/hello?y=/function/other', 'hello', 'openfaas-fn'],
    ['/function/hello#frag', 'hello', 'openfaas-fn'],
    ['/function/hello.staging?x#y', 'hello', 'staging'],
    ['/function/fn-0', 'fn-0', 'openfaas-fn'],
    ['/function/0', '0', 'openfaas-fn'],
    [`/function/${LABEL_63}`, LABEL_63, 'openfaas-fn'],
    [`/function/a.${LABEL_63}`, 'a', LABEL_63],
  ])('%s -> %s.%s', (path, name, namespace) => {
    expect(routeRequest(path, DEFAULTS)).toEqual({ kind: 'function', fn: { name, namespace, key: `${name}.${namespace}` } });
  });
});

describe('routeRequest: paths that pass', () => {
  test.each([
    '/',
    '',
    '/healthz',
    '/functions/x',
    '/function',
    '/function?x=1',
    '/async-function',
    '/system/functions',
    '/Function/hello',
    '//function/hello',
  ])('%j passes', (path) => {
    expect(routeRequest(path, DEFAULTS)).toEqual({ kind: 'pass' });
  });
});

describe('routeRequest: invalid function names (400)', () => {
  test.each([
    ['/function/Hello', 'Hello'],
    ['/function/HELLO/x', 'HELLO'],
    [`/function/${LABEL_64}`, LABEL_64],
    [`/function/a.${LABEL_64}`, `a.${LABEL_64}`],
    ['/function/..', '..'],
    ['/function/../system', '..'],
    ['/function/.', '.'],
    ['/function/a..b', 'a..b'],
    ['/function/a.b.c', 'a.b.c'],
    ['/function/a.', 'a.'],
    ['/function/.ns', '.ns'],
    ['/function/-a', '-a'],
    ['/function/a-', 'a-'],
    ['/function/a.-b', 'a.-b'],
    ['/function/%2e%2e', '%2e%2e'],
    ['/function/%2e%2e/system', '%2e%2e'],
    ['/function/hel%2Flo', 'hel%2Flo'],
    ['/function/hel_lo', 'hel_lo'],
    ['/function/', ''],
    ['/function//x', ''],
    ['/function/?x', ''],
    ['/function/#x', ''],
    ['/async-function/', ''],
    ['/function/héllo', 'héllo'],
    ['/function/h\u00e9llo.ns', 'h\u00e9llo.ns'],
    ['/function/\u4f60\u597d', '\u4f60\u597d'],
    ['/function/hello\u0000', 'hello\u0000'],
  ])('%j is invalid with segment %j', (path, segment) => {
    expect(routeRequest(path, DEFAULTS)).toEqual({ kind: 'invalid', segment });
  });
});

describe('routeRequest: custom prefixes and namespace', () => {
  const custom: RouterOptions = { prefixes: ['/fn/', '/api/v1/run/'], defaultNamespace: 'team-a' };

  test.each([
    ['/fn/hello', { kind: 'function', fn: { name: 'hello', namespace: 'team-a', key: 'hello.team-a' } }],
    ['/api/v1/run/job.batch/x', { kind: 'function', fn: { name: 'job', namespace: 'batch', key: 'job.batch' } }],
    ['/fn/', { kind: 'invalid', segment: '' }],
    ['/api/v1/run/BAD', { kind: 'invalid', segment: 'BAD' }],
    ['/function/hello', { kind: 'pass' }],
    ['/api/v1/hello', { kind: 'pass' }],
    ['/fn', { kind: 'pass' }],
  ])('%s', (path, expected) => {
    expect(routeRequest(path, custom)).toEqual(expected);
  });

  test('no prefixes: everything passes', () => {
    expect(routeRequest('/function/hello', { prefixes: [], defaultNamespace: 'openfaas-fn' })).toEqual({ kind: 'pass' });
  });

  test('the first matching prefix wins', () => {
    const nested: RouterOptions = { prefixes: ['/f/', '/f/x/'], defaultNamespace: 'ns' };
    expect(routeRequest('/f/x/y', nested)).toEqual({ kind: 'function', fn: functionRef('x', 'ns') });
  });
});

describe('function-ref', () => {
  test.each([
    ['hello', true],
    ['a', true],
    ['0a-b9', true],
    [LABEL_63, true],
    [LABEL_64, false],
    ['', false],
    ['-a', false],
    ['a-', false],
    ['A', false],
    ['a.b', false],
    ['a_b', false],
  ])('isDnsLabel(%j) = %s', (value, expected) => {
    expect(isDnsLabel(value)).toBe(expected);
  });

  test.each([
    ['hello', { name: 'hello', namespace: 'dflt', key: 'hello.dflt' }],
    ['hello.ns', { name: 'hello', namespace: 'ns', key: 'hello.ns' }],
    ['hello.', null],
    ['.ns', null],
    ['a.b.c', null],
    ['', null],
  ])('parseFunctionId(%j)', (id, expected) => {
    expect(parseFunctionId(id, 'dflt')).toEqual(expected);
  });

  test('functionRef builds the key as name.namespace', () => {
    expect(functionRef('hello', 'openfaas-fn')).toEqual({ name: 'hello', namespace: 'openfaas-fn', key: 'hello.openfaas-fn' });
  });
});

describe('functionPathOf', () => {
  test.each([
    ['/function/hello', '/'],
    ['/function/hello/', '/'],
    ['/function/hello?x=1', '/'],
    ['/function/hello.staging/healthz', '/healthz'],
    ['/function/hello/healthz?probe=1', '/healthz'],
    ['/function/hello/a/b#frag', '/a/b'],
    ['/async-function/hello/robots.txt', '/robots.txt'],
    ['/elsewhere', '/'],
  ])('%s -> %s', (path, expected) => {
    expect(functionPathOf(path, DEFAULTS)).toBe(expected);
  });
});
