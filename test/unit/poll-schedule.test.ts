import { learnStartup, nextPollDelayMs, type PollInput, type StartupEstimate } from '../../src/waker/poll-schedule';

const BASE: PollInput = { attempt: 0, elapsedMs: 0, remainingMs: 60_000, minMs: 25, maxMs: 1000, estimate: undefined, random: 0.5 };

function delay(overrides: Partial<PollInput>): number {
  return nextPollDelayMs({ ...BASE, ...overrides });
}

/** Poll times (ms after the scale call) the schedule chooses from attempt 0 on, with `random` fixed. */
function pollTimes(n: number, overrides: Partial<PollInput> = {}): number[] {
  const times: number[] = [];
  let t = 0;
  for (let attempt = 0; attempt < n; attempt++) {
    t += Math.max(1, delay({ ...overrides, attempt, elapsedMs: t, remainingMs: 120_000 - t }));
    times.push(t);
  }
  return times;
}

describe('without an estimate: the prior window under the call budget', () => {
  test('nothing in the first 500 ms, every 75 ms until the budget catches up, then every 100 ms', () => {
    expect(pollTimes(22)).toEqual([
      500, 575, 650, 725, 800, 875, 950, 1025, 1100, 1175, 1250, 1325, 1400, 1475, 1550, 1625, 1700, 1800, 1900, 2000, 2100, 2200,
    ]);
  });

  test.each([
    [0, 0, 500],
    [0, 200, 300],
    [0, 499, 1],
    [5, 900, 75],
    [16, 1625, 75],
    [17, 1700, 100], // the budget binds: poll 18 not before 1800 ms
    [19, 2000, 100],
    [250, 29_000, 100], // far behind the budget: the plain 100 ms gap
  ])('attempt %d at %d ms -> %d ms', (attempt, elapsedMs, expected) => {
    expect(delay({ attempt, elapsedMs })).toBe(expected);
  });

  test.each([
    [30_000, 100],
    [32_000, 150],
    [37_000, 225],
    [55_000, 759],
    [61_000, 1000],
    [90_000, 1000],
  ])('a start slower than 30 s backs off: elapsed %d -> %d (max 1000)', (elapsedMs, expected) => {
    expect(delay({ attempt: 300, elapsedMs, remainingMs: 120_000 })).toBe(expected);
  });

  test.each([
    [0, 60_000, 500],
    [0, 499, 499],
    [0, 1, 1],
    [0, 0, 0],
    [0, -5, 0],
  ])('attempt %d with %d ms left -> %d (never past the deadline)', (attempt, remainingMs, expected) => {
    expect(delay({ attempt, remainingMs })).toBe(expected);
  });

  test.each([
    [0, 67.5],
    [0.999_999, 82.4],
  ])('jitter inside the window: random %d -> %d ms (75 ± 10 %)', (random, expected) => {
    expect(delay({ attempt: 3, elapsedMs: 800, random })).toBe(Math.round(expected));
  });

  test('jitter never moves a poll ahead of the budget', () => {
    for (let i = 0; i < 100; i++) expect(delay({ attempt: 16, elapsedMs: 1650, random: i / 100 })).toBeGreaterThanOrEqual(50);
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

  test.each([
    [800, 3, 44], // 9 calls affordable until 1200 ms: 400 ms / 9
    [1000, 8, 50], // 4 left for the last 200 ms
    [1100, 10, 50],
    [1199, 11, 25],
  ])('inside the window: elapsed %d after %d polls -> %d (what the budget still allows, spread evenly)', (elapsedMs, attempt, expected) => {
    expect(delay({ estimate, elapsedMs, attempt })).toBe(expected);
  });

  test('a settled estimate in a narrow window is polled at the minimum interval', () => {
    expect(delay({ estimate: { meanMs: 3000, devMs: 10 }, elapsedMs: 2960, attempt: 1 })).toBe(25);
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
    expect([
      delay({ estimate: tight, elapsedMs: 0 }),
      delay({ estimate: tight, elapsedMs: 950 }),
      delay({ estimate: tight, elapsedMs: 1051 }),
    ]).toEqual([950, 25, 38]);
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
    expect(nextPollDelayMs({ attempt: 3, elapsedMs: 3000, remainingMs: 60_000, minMs: 25, maxMs: 1000, estimate, random: 0.5 })).toBe(
      expected,
    );
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

describe('property: never more status calls than fixed 100 ms polling', () => {
  const estimates: (StartupEstimate | undefined)[] = [
    undefined,
    { meanMs: 1000, devMs: 20 },
    { meanMs: 1000, devMs: 400 },
    { meanMs: 300, devMs: 10 },
    { meanMs: 8000, devMs: 50 },
  ];
  const readyTimes = [1, 99, 100, 101, 250, 499, 501, 730, 1000, 1052, 1399, 2001, 2999, 7777, 31_000, 44_444];
  const cases = readyTimes.flatMap((readyAtMs) => estimates.map((estimate, i) => [readyAtMs, i, estimate] as const));

  test.each(cases)('ready at %d ms, estimate #%d', (readyAtMs, _i, estimate) => {
    for (const seed of [1, 7, 99]) {
      const random = lcg(seed);
      const ours = simulate(readyAtMs, (attempt, elapsedMs) =>
        nextPollDelayMs({ attempt, elapsedMs, remainingMs: 120_000 - elapsedMs, minMs: 25, maxMs: 1000, estimate, random: random() }),
      );
      // Fixed polling checks at 100, 200, ...: it finds readiness at poll ceil(T / 100).
      expect(ours.polls).toBeLessThanOrEqual(Math.max(1, Math.ceil(readyAtMs / 100)));
    }
  });
});
