import fc from 'fast-check';
import { coldAction } from '../../src/policy/cold-action';
import { NO_POLICY, POLICY_KEYS, type FunctionPolicy } from '../../src/policy/policy';
import { isNoWakePath, MAX_NO_WAKE_PATHS, MAX_POLICY_PATH_LENGTH, policyFrom, type PolicyProblem } from '../../src/policy/policy-parse';

const LIMITS = { maxHoldTimeoutMs: 119_000 };

function parse(
  labels: Record<string, string> | undefined,
  annotations?: Record<string, string>,
): { policy: FunctionPolicy; problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  const policy = policyFrom(labels, annotations, LIMITS, (p) => problems.push(p));
  return { policy, problems };
}

describe('policyFrom', () => {
  test('no keys: the shared empty policy, nothing reported', () => {
    expect(parse(undefined, undefined)).toEqual({ policy: NO_POLICY, problems: [] });
    expect(parse({ faas_function: 'x', 'com.openfaas.scale.min': '2' }, {}).policy).toBe(NO_POLICY);
  });

  test('every key, from labels', () => {
    const { policy, problems } = parse({
      [POLICY_KEYS.holdTimeout]: '90s',
      [POLICY_KEYS.readyPath]: '/ready',
      [POLICY_KEYS.waitingPage]: 'off',
      [POLICY_KEYS.noWakePaths]: '/healthz, /metrics,,/robots.txt',
    });
    expect(problems).toEqual([]);
    expect(policy).toEqual({
      holdTimeoutMs: 90_000,
      readyPath: '/ready',
      waitingPage: false,
      noWakePaths: ['/healthz', '/metrics', '/robots.txt'],
    });
  });

  test('annotations win over labels, key by key', () => {
    const { policy } = parse({ [POLICY_KEYS.holdTimeout]: '5s', [POLICY_KEYS.waitingPage]: 'on' }, { [POLICY_KEYS.holdTimeout]: '7s' });
    expect(policy.holdTimeoutMs).toBe(7000);
    expect(policy.waitingPage).toBe(true);
  });

  test.each([
    ['on', true],
    ['ON', true],
    [' true ', true],
    ['off', false],
    ['False', false],
  ])('waiting-page %j -> %s', (value, expected) => {
    expect(parse({ [POLICY_KEYS.waitingPage]: value }).policy.waitingPage).toBe(expected);
  });

  test("the OpenFaaS ready path is read; faas-waker's own key wins when both are set", () => {
    expect(parse({ [POLICY_KEYS.readyPathOpenFaaS]: '/_/ready' }).policy.readyPath).toBe('/_/ready');
    expect(parse({ [POLICY_KEYS.readyPathOpenFaaS]: '/a' }, { [POLICY_KEYS.readyPath]: '/b' }).policy.readyPath).toBe('/b');
  });

  test('a hold above the Envoy ceiling is clamped and reported', () => {
    const { policy, problems } = parse({ [POLICY_KEYS.holdTimeout]: '10m' });
    expect(policy.holdTimeoutMs).toBe(LIMITS.maxHoldTimeoutMs);
    expect(problems.map((p) => [p.key, p.value])).toEqual([[POLICY_KEYS.holdTimeout, '10m']]);
    expect(problems[0]?.problem).toContain('clamped to 119000ms');
  });

  test.each([
    [POLICY_KEYS.holdTimeout, '30'],
    [POLICY_KEYS.holdTimeout, '0s'],
    [POLICY_KEYS.holdTimeout, '-1s'],
    [POLICY_KEYS.holdTimeout, 'soon'],
    [POLICY_KEYS.readyPath, 'ready'],
    [POLICY_KEYS.readyPath, '/a b'],
    [POLICY_KEYS.readyPath, '/a?b=1'],
    [POLICY_KEYS.readyPathOpenFaaS, 'http://evil/'],
    [POLICY_KEYS.waitingPage, 'maybe'],
    [POLICY_KEYS.waitingPage, ''],
  ])('%s=%j is ignored (and reported), never fatal', (key, value) => {
    const { policy, problems } = parse({ [key]: value });
    expect(policy).toEqual(NO_POLICY);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ key, value });
  });

  test('a bad no-wake prefix is dropped alone; the good ones apply', () => {
    const { policy, problems } = parse({ [POLICY_KEYS.noWakePaths]: '/ok,nope,/also ok,/fine' });
    expect(policy.noWakePaths).toEqual(['/ok', '/fine']);
    expect(problems).toHaveLength(2);
  });

  test('labels named like Object.prototype members are only labels', () => {
    const labels = JSON.parse('{"__proto__": {"faas-waker/hold-timeout": "1s"}, "constructor": "x"}') as Record<string, string>;
    expect(parse(labels).policy).toEqual(NO_POLICY);
  });
});

describe('isNoWakePath and coldAction', () => {
  const policy = (p: Partial<FunctionPolicy>): FunctionPolicy => ({ ...NO_POLICY, ...p });

  test.each([
    ['/healthz', ['/healthz'], true],
    ['/healthz/live', ['/healthz'], true],
    ['/health', ['/healthz'], false],
    ['/', ['/healthz'], false],
    ['/robots.txt', ['/healthz', '/robots.txt'], true],
  ])('%s with %j -> %s', (path, prefixes, expected) => {
    expect(isNoWakePath(path, prefixes)).toBe(expected);
  });

  test.each<[string, Partial<FunctionPolicy>, { functionPath: string; browser: boolean }, boolean, string]>([
    ['plain request: held', {}, { functionPath: '/', browser: false }, true, 'hold'],
    ['browser, default on', {}, { functionPath: '/', browser: true }, true, 'waiting-page'],
    ['browser, default off', {}, { functionPath: '/', browser: true }, false, 'hold'],
    ['browser, policy on beats default off', { waitingPage: true }, { functionPath: '/', browser: true }, false, 'waiting-page'],
    ['browser, policy off beats default on', { waitingPage: false }, { functionPath: '/', browser: true }, true, 'hold'],
    ['no-wake path', { noWakePaths: ['/healthz'] }, { functionPath: '/healthz', browser: false }, true, 'no-wake'],
    ['no-wake wins over the waiting page', { noWakePaths: ['/'] }, { functionPath: '/x', browser: true }, true, 'no-wake'],
    ['other path of a no-wake function', { noWakePaths: ['/healthz'] }, { functionPath: '/api', browser: false }, true, 'hold'],
  ])('%s', (_name, p, request, byDefault, expected) => {
    expect(coldAction(policy(p), request, byDefault)).toBe(expected);
  });
});

describe('policyFrom properties (hostile input)', () => {
  const keys = fc.constantFrom(...Object.values(POLICY_KEYS), 'com.openfaas.scale.min', '__proto__', 'constructor', 'x');
  const hostile = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(
      '1ms',
      '0ms',
      '1e9s',
      '99999999999h',
      '2.5s',
      ' 3s ',
      'NaN',
      'Infinity',
      '/',
      '/a,/b',
      ',,,',
      'on',
      'off',
      '/\u0000',
      '/%2e%2e',
    ),
    fc.array(fc.constantFrom('/', 'a', ',', ' ', '?', '#', '%', '\u00e9'), { maxLength: 600 }).map((a) => a.join('')),
  );
  const map = fc.dictionary(keys, hostile, { maxKeys: 8 });

  test('never throws, stays within bounds, and reports instead of failing', () => {
    fc.assert(
      fc.property(
        fc.option(map, { nil: undefined }),
        fc.option(map, { nil: undefined }),
        fc.integer({ min: 1, max: 3_600_000 }),
        (labels, annotations, max) => {
          const problems: PolicyProblem[] = [];
          const policy = policyFrom(labels, annotations, { maxHoldTimeoutMs: max }, (p) => problems.push(p));
          if (policy.holdTimeoutMs !== undefined) {
            expect(Number.isInteger(policy.holdTimeoutMs)).toBe(true);
            expect(policy.holdTimeoutMs).toBeGreaterThanOrEqual(1);
            expect(policy.holdTimeoutMs).toBeLessThanOrEqual(max);
          }
          for (const p of [policy.readyPath, ...policy.noWakePaths]) {
            if (p === undefined) continue;
            expect(p.startsWith('/')).toBe(true);
            expect(p.length).toBeLessThanOrEqual(MAX_POLICY_PATH_LENGTH);
            expect(p).toMatch(/^[\x21-\x7e]+$/);
            expect(p).not.toMatch(/[?#]/);
          }
          expect(policy.noWakePaths.length).toBeLessThanOrEqual(MAX_NO_WAKE_PATHS);
          expect([undefined, true, false]).toContain(policy.waitingPage);
          for (const p of problems) expect(p.value.length).toBeLessThanOrEqual(200);
        },
      ),
      { numRuns: 500 },
    );
  });
});
