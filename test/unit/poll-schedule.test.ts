import { learnStartup, nextPollDelayMs, type PollInput, type StartupEstimate } from '../../src/waker/poll-schedule';

const BASE: PollInput = { attempt: 0, elapsedMs: 0, remainingMs: 60_000, minMs: 25, maxMs: 1000, estimate: undefined, random: 0.5 };

function delay(overrides: Partial<PollInput>): number {
  return nextPollDelayMs({ ...BASE, ...overrides });
}

describe('without an estimate: geometric backoff', () => {
  test('exact sequence with random = 0.5 (no jitter), capped at maxMs', () => {
    const seq = Array.from({ length: 13 }, (_, attempt) => delay({ attempt }));
    expect(seq).toEqual([25, 38, 56, 84, 127, 190, 285, 427, 641, 961, 1000, 1000, 1000]);
  });

  test.each([
    [0, 100, 100],
    [3, 100, 338],
    [20, 100, 2000],
  ])('attempt %d, min %d -> %d (max 2000)', (attempt, minMs, expected) => {
    expect(delay({ attempt, minMs, maxMs: 2000 })).toBe(expected);
  });

  test.each([
    [0, 60_000, 25],
    [12, 999, 999],
    [12, 10, 10],
    [0, 1, 1],
    [0, 0, 0],
    [0, -5, 0],
  ])('attempt %d with %d ms left -> %d (never past the deadline)', (attempt, remainingMs, expected) => {
    expect(delay({ attempt, remainingMs })).toBe(expected);
  });

  test.each([
    [0, 0, 90],
    [0, 0.999_999, 110],
    [20, 0, 900],
    [20, 0.999_999, 1100],
  ])('jitter: attempt %d, random %d -> %d (min 100, max 1000)', (attempt, random, expected) => {
    expect(delay({ attempt, random, minMs: 100 })).toBe(expected);
  });

  test('jitter stays within ±10 % for every random in [0, 1)', () => {
    for (let i = 0; i < 100; i++) {
      const d = delay({ attempt: 4, minMs: 100, maxMs: 10_000, random: i / 100 });
      expect(d).toBeGreaterThanOrEqual(Math.round(506.25 * 0.9));
      expect(d).toBeLessThanOrEqual(Math.round(506.25 * 1.1));
    }
  });
});

describe('with an estimate', () => {
  // mean 1000, dev 100, min 25 -> margin 200 -> dense window [800, 1200].
  const estimate: StartupEstimate = { meanMs: 1000, devMs: 100 };

  test.each([
    [0, 800],
    [500, 300],
    [775, 25],
    [790, 25],
  ])('before the window: elapsed %d -> sleeps %d (to the window start, at least min)', (elapsedMs, expected) => {
    expect(delay({ estimate, elapsedMs, attempt: 3 })).toBe(expected);
  });

  test.each([800, 900, 1000, 1199, 1200])('inside the window: elapsed %d -> min interval', (elapsedMs) => {
    expect(delay({ estimate, elapsedMs, attempt: 7 })).toBe(25);
  });

  test.each([
    [1201, 38],
    [1400, 38],
    [1401, 56],
    [1600, 56],
    [1601, 84],
    [5000, 1000],
  ])('after the window: elapsed %d -> backs off to %d', (elapsedMs, expected) => {
    expect(delay({ estimate, elapsedMs })).toBe(expected);
  });

  test('the margin is at least 2 x min even with no deviation', () => {
    const tight = { meanMs: 1000, devMs: 0 };
    expect([delay({ estimate: tight, elapsedMs: 0 }), delay({ estimate: tight, elapsedMs: 950 }), delay({ estimate: tight, elapsedMs: 1051 })]).toEqual([950, 25, 38]);
  });

  test('still capped by remainingMs', () => {
    expect(delay({ estimate, elapsedMs: 0, remainingMs: 300 })).toBe(300);
  });

  test('jitter on the long sleep to the window start is capped at ±minMs', () => {
    expect([delay({ estimate, random: 0 }), delay({ estimate, random: 0.999_999 })]).toEqual([775, 825]);
  });
});

describe('learnStartup (precision-weighted average)', () => {
  test.each([
    [undefined, 1000, 50, { meanMs: 1000, devMs: 50 }],
    [{ meanMs: 1000, devMs: 100 }, 2000, 10, { meanMs: 1900, devMs: 100 }],
    [{ meanMs: 1000, devMs: 100 }, 1000, 10, { meanMs: 1000, devMs: 10 }],
    [{ meanMs: 1000, devMs: 100 }, 1200, 300, { meanMs: 1060, devMs: 300 }],
    [{ meanMs: 1000, devMs: 100 }, 1000, 0, { meanMs: 1000, devMs: 10 }],
  ])('%j + %d ms (±%d) -> %j', (previous, observed, uncertainty, expected) => {
    const next = learnStartup(previous, observed, uncertainty);
    expect(next.meanMs).toBeCloseTo(expected.meanMs, 9);
    expect(next.devMs).toBeCloseTo(expected.devMs, 9);
  });

  test('a precise observation after a vague one moves the estimate most of the way', () => {
    const vague = learnStartup(undefined, 3417, 617);
    const next = learnStartup(vague, 2984, 77);
    expect(next.meanMs).toBeGreaterThan(2984);
    expect(next.meanMs).toBeLessThan(3035);
    expect(next.devMs).toBeLessThan(120);
  });
});

describe('inside the window the gap follows the uncertainty', () => {
  test.each([
    [{ meanMs: 3000, devMs: 600 }, 150],
    [{ meanMs: 3000, devMs: 100 }, 25],
    [{ meanMs: 3000, devMs: 8000 }, 1000],
  ])('%j -> %d ms', (estimate, expected) => {
    expect(nextPollDelayMs({ attempt: 3, elapsedMs: 3000, remainingMs: 60_000, minMs: 25, maxMs: 1000, estimate, random: 0.5 })).toBe(expected);
  });
});

/** Deterministic uniform [0, 1): a small LCG, so the property check is reproducible. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Polls until the first one at or after `readyAtMs`; returns how many polls and when it noticed. */
function simulate(readyAtMs: number, next: (attempt: number, elapsedMs: number) => number): { polls: number; detectedAtMs: number } {
  let t = 0;
  for (let attempt = 0; attempt < 10_000; attempt++) {
    t += Math.max(1, next(attempt, t));
    if (t >= readyAtMs) return { polls: attempt + 1, detectedAtMs: t };
  }
  throw new Error('never detected');
}

describe('property: a learned estimate beats fixed 100 ms polling', () => {
  const minMs = 25;
  const cases: [number, string, () => number][] = [];
  for (const readyAtMs of [1000, 1700, 3000, 10_000, 45_000]) {
    cases.push([readyAtMs, 'random 0', () => 0], [readyAtMs, 'random 0.5', () => 0.5], [readyAtMs, 'random ~1', () => 0.999_999]);
    for (const seed of [1, 42, 4242]) cases.push([readyAtMs, `lcg seed ${seed}`, lcg(seed)]);
  }

  test.each(cases)('ready at %d ms, %s', (readyAtMs, _label, random) => {
    let estimate: StartupEstimate | undefined;
    // three earlier wakes, each observed within half a 25 ms poll gap
    for (let i = 0; i < 3; i++) estimate = learnStartup(estimate, readyAtMs, 12.5);
    const ours = simulate(readyAtMs, (attempt, elapsedMs) =>
      nextPollDelayMs({ attempt, elapsedMs, remainingMs: 120_000 - elapsedMs, minMs, maxMs: 1000, estimate, random: random() }),
    );
    const fixed = simulate(readyAtMs, () => 100);
    expect(ours.polls).toBeLessThan(fixed.polls);
    expect(ours.detectedAtMs - readyAtMs).toBeLessThanOrEqual(minMs * 1.1);
  });
});
