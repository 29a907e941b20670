import {
  activeHere,
  activityWriteDue,
  decideIdle,
  idleDurationMs,
  minIdleMs,
  parseGoDuration,
  type IdleInput,
} from '../../src/idle/idle-policy';

describe('parseGoDuration: Go time.ParseDuration strings, in ms', () => {
  test.each<[string, number | undefined]>([
    ['5m', 300_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['2h45m30.5s', 9_930_500],
    ['1500us', 1.5],
    ['+10s', 10_000],
    [' 3s ', 3_000],
    ['.5s', 500],
    ['10', undefined], // Go wants a unit
    ['5 m', undefined],
    ['5d', undefined],
    ['-5m', undefined],
    ['0s', undefined],
    ['', undefined],
    ['m', undefined],
    ['1h30', undefined],
  ])('%j -> %p', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });
});

describe('idleDurationMs: the label, else WAKER_IDLE_TIMEOUT, never below the minimum', () => {
  const min = minIdleMs(5_000);
  test.each<[string | undefined, number, string | undefined]>([
    [undefined, 900_000, undefined],
    ['5m', 300_000, undefined],
    ['soon', 900_000, 'invalid'],
    ['-1m', 900_000, 'invalid'],
    ['1s', 20_000, 'clamped'],
    ['20s', 20_000, undefined],
  ])('%j -> %p ms (%p)', (label, ms, problem) => {
    expect(idleDurationMs(label, 900_000, min)).toEqual(problem === undefined ? { ms } : { ms, problem });
  });

  test('the minimum is 4 write intervals, and at least 1 s', () => {
    expect([minIdleMs(5_000), minIdleMs(500), minIdleMs(100)]).toEqual([20_000, 2_000, 1_000]);
  });

  test('a default below the minimum is raised too', () => {
    expect(idleDurationMs(undefined, 500, 2_000)).toEqual({ ms: 2_000, problem: 'clamped' });
  });
});

describe('decideIdle with exact times', () => {
  // Idle 60 s, slack 5 s; last request here ended at t=10 s; shared record first seen here at t=12 s.
  const base: IdleInput = {
    nowMs: 0,
    idleMs: 60_000,
    slackMs: 5_000,
    replicas: 1,
    inFlight: 0,
    held: 0,
    lastActiveMs: 10_000,
    sharedSeenAtMs: 12_000,
    foreignIntent: false,
  };
  const at = (nowMs: number, more: Partial<IdleInput> = {}) => decideIdle({ ...base, nowMs, ...more });

  test('not before the shared record is idle + slack old, idle exactly then', () => {
    expect(at(76_999)).toEqual({ kind: 'wait', untilMs: 77_000 });
    expect(at(77_000)).toEqual({ kind: 'idle', idleForMs: 65_000 });
  });

  test('own activity later than the shared record decides, without slack (it is our own clock)', () => {
    expect(at(89_999, { lastActiveMs: 30_000 })).toEqual({ kind: 'wait', untilMs: 90_000 });
    expect(at(90_000, { lastActiveMs: 30_000 })).toEqual({ kind: 'idle', idleForMs: 60_000 });
  });

  test('a replica that never served the function waits on the shared record alone', () => {
    expect(at(76_999, { lastActiveMs: undefined })).toMatchObject({ kind: 'wait' });
    expect(at(77_000, { lastActiveMs: undefined })).toEqual({ kind: 'idle', idleForMs: 65_000 });
  });

  test('an open request keeps it up however old everything else is', () => {
    expect(at(10_000_000, { inFlight: 1 })).toEqual({ kind: 'busy', reason: 'in-flight' });
  });

  test('a held request (a wake in progress here) keeps it up', () => {
    expect(at(10_000_000, { held: 2 })).toEqual({ kind: 'busy', reason: 'held' });
  });

  test('another replica deciding: stand back', () => {
    expect(at(10_000_000, { foreignIntent: true })).toEqual({ kind: 'busy', reason: 'intent' });
  });

  test('already at zero: nothing to do', () => {
    expect(at(10_000_000, { replicas: 0 })).toEqual({ kind: 'at-zero' });
  });
});

describe('activeHere: whether to object to another replica scale-down', () => {
  const input = { nowMs: 100_000, idleMs: 60_000, inFlight: 0, held: 0, lastActiveMs: 40_001 };
  test.each<[string, Partial<typeof input>, boolean]>([
    ['active within the idle time', {}, true],
    ['last active exactly an idle time ago', { lastActiveMs: 40_000 }, false],
    ['never served', { lastActiveMs: undefined }, false],
    ['a request open', { lastActiveMs: 0, inFlight: 1 }, true],
    ['a request held', { lastActiveMs: 0, held: 1 }, true],
  ])('%s -> %p', (_label, more, expected) => {
    expect(activeHere({ ...input, ...more })).toBe(expected);
  });
});

describe('activityWriteDue: at most one write per interval, only for a record an interval old', () => {
  test.each<[number, number, number, boolean]>([
    [10_000, 5_000, Number.NEGATIVE_INFINITY, true],
    [9_999, 5_000, Number.NEGATIVE_INFINITY, false],
    [10_000, 0, 5_001, false],
    [10_001, 0, 5_001, true],
  ])('now %p, record seen %p, own last write %p -> %p', (now, seen, wrote, expected) => {
    expect(activityWriteDue(now, seen, wrote, 5_000)).toBe(expected);
  });
});
