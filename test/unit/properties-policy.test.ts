/**
 * Hostile-input properties of policyFrom (policy-parse.ts): labels and annotations are written by
 * whoever deploys a function, so any value must give a policy within bounds, never a throw, and
 * every value not taken as written must be reported (it is logged once per function).
 */
import fc from 'fast-check';
import {
  MAX_NO_WAKE_PATHS,
  MAX_POLICY_PATH_LENGTH,
  policyFrom,
  type PolicyLimits,
  type PolicyProblem,
} from '../../src/policy/policy-parse';
import { POLICY_KEYS, type FunctionPolicy } from '../../src/policy/policy';

const RUNS = { numRuns: 500 };
const KEYS = Object.values(POLICY_KEYS);

/** A path as the policy may hold it: '/' first, then printable ASCII only, no space, query or fragment. */
const isCleanPath = (p: string): boolean =>
  p.startsWith('/') &&
  p.length <= MAX_POLICY_PATH_LENGTH &&
  [...p].every((c) => c.charCodeAt(0) > 0x20 && c.charCodeAt(0) < 0x7f && c !== '?' && c !== '#');

const hostileValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'on',
    'OFF',
    ' On ',
    'yes',
    '1',
    '0ms',
    '0.4ms',
    '1ms',
    '2s',
    '1.5s',
    '-1s',
    '1e3ms',
    'Infinity',
    'NaN',
    `${'9'.repeat(400)}h`,
    '99999999999h',
    '10 s',
    '/healthz',
    '/',
    '//evil',
    '/a?b',
    '/a#b',
    '/a b',
    'healthz',
    '/h,/metrics, /ping ,,',
    ',',
    '/\u00e9',
    '/%2e%2e/',
    '/\r\n',
    '\0',
    '__proto__',
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc
    .array(fc.constantFrom('/a', '/b', ' /c', '', 'x', '/?', '/a', '/' + 'p'.repeat(300)), { maxLength: 40 })
    .map((parts) => parts.join(',')),
  fc.tuple(fc.double({ min: 0, max: 1e12, noNaN: true }), fc.constantFrom('ms', 's', 'm', 'h', '')).map(([n, unit]) => `${n}${unit}`),
);

const hostileKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KEYS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'faas-waker/Hold-Timeout',
      'com.openfaas.scale.min',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

/** Built with defineProperty, so a `__proto__` key is an own property, as JSON.parse would make it. */
const hostileMap: fc.Arbitrary<Record<string, string> | undefined> = fc.option(
  fc.array(fc.tuple(hostileKey, hostileValue), { maxLength: 8 }).map((entries) => {
    const map: Record<string, string> = {};
    for (const [k, v] of entries) Object.defineProperty(map, k, { value: v, enumerable: true, writable: true, configurable: true });
    return map;
  }),
  { nil: undefined },
);

const limits: fc.Arbitrary<PolicyLimits> = fc.oneof(
  fc.integer({ min: 1, max: 3_600_000 }).map((maxHoldTimeoutMs) => ({ maxHoldTimeoutMs })),
  fc.double({ min: 0, max: 1e7, noNaN: true }).map((maxHoldTimeoutMs) => ({ maxHoldTimeoutMs })),
);

function parse(labels: Record<string, string> | undefined, annotations: Record<string, string> | undefined, lim: PolicyLimits) {
  const problems: PolicyProblem[] = [];
  const policy = policyFrom(labels, annotations, lim, (p) => problems.push(p));
  return { policy, problems };
}

function expectWithinBounds(policy: FunctionPolicy, lim: PolicyLimits): void {
  expect(Object.isFrozen(policy)).toBe(true);
  if (policy.holdTimeoutMs !== undefined) {
    expect(Number.isFinite(policy.holdTimeoutMs)).toBe(true);
    expect(policy.holdTimeoutMs).toBeGreaterThanOrEqual(1);
    expect(policy.holdTimeoutMs).toBeLessThanOrEqual(Math.max(1, Math.floor(lim.maxHoldTimeoutMs)));
  }
  if (policy.readyPath !== undefined) expect(isCleanPath(policy.readyPath)).toBe(true);
  expect(policy.waitingPage === undefined || typeof policy.waitingPage === 'boolean').toBe(true);
  expect(policy.noWakePaths.length).toBeLessThanOrEqual(MAX_NO_WAKE_PATHS);
  expect(new Set(policy.noWakePaths).size).toBe(policy.noWakePaths.length);
  for (const p of policy.noWakePaths) expect(isCleanPath(p)).toBe(true);
}

/** What a map says for `key`, annotations first, own properties only. */
function given(
  labels: Record<string, string> | undefined,
  annotations: Record<string, string> | undefined,
  key: string,
): string | undefined {
  for (const map of [annotations, labels]) if (map !== undefined && Object.prototype.hasOwnProperty.call(map, key)) return map[key];
  return undefined;
}

describe('policyFrom properties (hostile labels and annotations)', () => {
  test('never throws; the policy is frozen and within bounds; problems name a policy key and quote at most 200 chars', () => {
    fc.assert(
      fc.property(hostileMap, hostileMap, limits, (labels, annotations, lim) => {
        const { policy, problems } = parse(labels, annotations, lim);
        expectWithinBounds(policy, lim);
        for (const p of problems) {
          expect(KEYS).toContain(p.key);
          expect(p.value.length).toBeLessThanOrEqual(200);
          expect(typeof p.problem).toBe('string');
        }
      }),
      RUNS,
    );
  });

  test('a value that is given but not taken is always reported (never silently ignored)', () => {
    fc.assert(
      fc.property(hostileMap, hostileMap, limits, (labels, annotations, lim) => {
        const { policy, problems } = parse(labels, annotations, lim);
        const reported = new Set(problems.map((p) => p.key));
        if (given(labels, annotations, POLICY_KEYS.holdTimeout) !== undefined && policy.holdTimeoutMs === undefined)
          expect(reported).toContain(POLICY_KEYS.holdTimeout);
        if (given(labels, annotations, POLICY_KEYS.waitingPage) !== undefined && policy.waitingPage === undefined)
          expect(reported).toContain(POLICY_KEYS.waitingPage);
        const ready = given(labels, annotations, POLICY_KEYS.readyPath) ?? given(labels, annotations, POLICY_KEYS.readyPathOpenFaaS);
        if (ready !== undefined && policy.readyPath === undefined)
          expect(reported.has(POLICY_KEYS.readyPath) || reported.has(POLICY_KEYS.readyPathOpenFaaS)).toBe(true);
        const noWake = given(labels, annotations, POLICY_KEYS.noWakePaths);
        if (noWake !== undefined && noWake.split(',').some((p) => p.trim() !== '' && !policy.noWakePaths.includes(p.trim())))
          expect(reported).toContain(POLICY_KEYS.noWakePaths);
      }),
      RUNS,
    );
  });

  test('pure: the same input gives the same policy and problems, and Object.prototype is untouched', () => {
    fc.assert(
      fc.property(hostileMap, hostileMap, limits, (labels, annotations, lim) => {
        const before = Object.getOwnPropertyNames(Object.prototype).sort();
        expect(parse(labels, annotations, lim)).toEqual(parse(labels, annotations, lim));
        expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
        expect(({} as Record<string, unknown>)['faas-waker/hold-timeout']).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  test('valid durations within the limit are taken exactly, and larger ones are clamped to it (and reported)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.constantFrom('ms', 's'),
        (n, max, unit) => {
          const ms = unit === 's' ? n * 1000 : n;
          const { policy, problems } = parse(undefined, { [POLICY_KEYS.holdTimeout]: `${n}${unit}` }, { maxHoldTimeoutMs: max });
          expect(policy.holdTimeoutMs).toBe(Math.min(ms, max));
          expect(problems.length).toBe(ms > max ? 1 : 0);
        },
      ),
      RUNS,
    );
  });

  test('annotations win over labels, key by key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }), fc.boolean(), (a, b, page) => {
        const labels = { [POLICY_KEYS.holdTimeout]: `${a}ms`, [POLICY_KEYS.waitingPage]: page ? 'on' : 'off' };
        const annotations = { [POLICY_KEYS.holdTimeout]: `${b}ms` };
        const { policy } = parse(labels, annotations, { maxHoldTimeoutMs: 10_000 });
        expect([policy.holdTimeoutMs, policy.waitingPage]).toEqual([b, page]);
      }),
      RUNS,
    );
  });

  test('clean path prefixes survive as given (trimmed, deduplicated, in order, at most the maximum)', () => {
    const segment = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.~'), minLength: 0, maxLength: 12 });
    fc.assert(
      fc.property(
        fc.array(
          segment.map((s) => `/${s}`),
          { maxLength: 40 },
        ),
        fc.constantFrom('', ' ', '  '),
        (paths, pad) => {
          const { policy } = parse({ [POLICY_KEYS.noWakePaths]: paths.map((p) => `${pad}${p}${pad}`).join(',') }, undefined, {
            maxHoldTimeoutMs: 1,
          });
          expect(policy.noWakePaths).toEqual([...new Set(paths)].slice(0, MAX_NO_WAKE_PATHS));
        },
      ),
      RUNS,
    );
  });
});
