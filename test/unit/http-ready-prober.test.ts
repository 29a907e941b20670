import { MockAgent } from 'undici';
import { ShuttingDownError, WakeTimeoutError } from '../../src/errors';
import { createLogger } from '../../src/logging';
import { functionRef } from '../../src/routing/function-ref';
import {
  buildProbeUrl,
  createHttpReadyProber,
  createUndiciProbeSend,
  probeDelayMs,
  type HttpReadyProberOptions,
  type ProbeSend,
} from '../../src/waker/http-ready-prober';
import type { ReadyProber } from '../../src/waker/ready-probe';
import { FakeClock } from '../fakes/fake-clock';

const T0 = 1_000_000;
const HELLO = functionRef('hello', 'openfaas-fn');
const OTHER = functionRef('other', 'staging');
const GATEWAY = 'http://gateway:8080/function/{name}.{namespace}{path}';

/** What one probe does: answer a status, fail like a refused connection, or hang until aborted. */
type Step = number | 'refused' | 'hang';

interface Sent {
  readonly url: string;
  readonly atMs: number;
  readonly signal: AbortSignal;
}

interface LogLine {
  level: string;
  event?: string;
  fn?: string;
  probes?: number;
  reason?: string;
  last?: string;
  outcome?: string;
}

/** A scripted sender: each URL's probes take the steps in turn (the last one repeats); every call is recorded. */
function scriptedSend(clock: FakeClock, steps: readonly Step[]): { send: ProbeSend; sent: Sent[] } {
  const sent: Sent[] = [];
  const send: ProbeSend = (url, signal) => {
    const before = sent.filter((s) => s.url === url.href).length;
    const step = steps[Math.min(before, steps.length - 1)] ?? 'hang';
    sent.push({ url: url.href, atMs: clock.now(), signal });
    if (typeof step === 'number') return Promise.resolve(step);
    if (step === 'refused') return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    return new Promise<number>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
  };
  return { send, sent };
}

interface Setup {
  readonly clock: FakeClock;
  readonly prober: ReadyProber;
  readonly sent: Sent[];
  readonly logs: LogLine[];
}

function setup(steps: readonly Step[], overrides: Partial<HttpReadyProberOptions> = {}): Setup {
  const clock = new FakeClock(T0);
  const { send, sent } = scriptedSend(clock, steps);
  const logs: LogLine[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const prober = createHttpReadyProber({ urlTemplate: GATEWAY, clock, logger, timeoutMs: 1_000, send, ...overrides });
  return { clock, prober, sent, logs };
}

/** Settles a promise into a value a test can inspect synchronously after flushing. */
function track(promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error: unknown } {
  const tracked: { state: 'pending' | 'resolved' | 'rejected'; error: unknown } = { state: 'pending', error: undefined };
  promise.then(
    () => {
      tracked.state = 'resolved';
    },
    (err: unknown) => {
      tracked.state = 'rejected';
      tracked.error = err;
    },
  );
  return tracked;
}

const endLines = (logs: LogLine[]): LogLine[] => logs.filter((l) => l.event === 'probe.ready' || l.event === 'probe.stopped');

describe('buildProbeUrl', () => {
  test.each([
    ['gateway, dotted name', GATEWAY, '/_/ready', 'http://gateway:8080/function/hello.openfaas-fn/_/ready'],
    ['gateway, root path', GATEWAY, '/', 'http://gateway:8080/function/hello.openfaas-fn/'],
    ['query kept', GATEWAY, '/health?deep=1', 'http://gateway:8080/function/hello.openfaas-fn/health?deep=1'],
    [
      'Kubernetes Service in the host',
      'http://{name}.{namespace}.svc.cluster.local:8080{path}',
      '/ready',
      'http://hello.openfaas-fn.svc.cluster.local:8080/ready',
    ],
    ['double slash stays a path', 'http://gateway:8080{path}', '//evil.test/x', 'http://gateway:8080//evil.test/x'],
  ])('%s', (_label, template, path, expected) => {
    expect(buildProbeUrl(template, HELLO, path).href).toBe(expected);
  });

  test.each([
    ['a path that moves the host', 'http:{path}gateway.test', '//evil.test/'],
    ['no leading slash', GATEWAY, 'ready'],
    ['dot dot', GATEWAY, '/../../system/functions'],
    ['encoded dot dot', GATEWAY, '/%2e%2E/system/functions'],
    ['single dot', GATEWAY, '/./x'],
  ])('refuses %s', (_label, template, path) => {
    expect(() => buildProbeUrl(template, HELLO, path)).toThrow(/ready probe/);
  });

  test('refuses a function name that is not a DNS label', () => {
    expect(() => buildProbeUrl(GATEWAY, { name: 'evil.test:80', namespace: 'x', key: 'evil' }, '/')).toThrow(/invalid function/);
  });
});

describe('probeDelayMs', () => {
  test.each([
    [1, 25],
    [2, 38],
    [3, 56],
    [4, 84],
    [5, 127],
    [6, 190],
    [7, 250],
    [50, 250],
  ])('after probe %i: %i ms', (attempt, expected) => {
    expect(probeDelayMs(attempt)).toBe(expected);
  });
});

describe('createHttpReadyProber', () => {
  test('a 5xx, 502, refused, 404 then 200 sequence: ready on the fifth probe, at the backoff times', async () => {
    const { clock, prober, sent, logs } = setup([503, 502, 'refused', 404, 200]);
    const result = track(prober.probe(HELLO, '/_/ready', T0 + 10_000, new AbortController().signal));
    await clock.advance(1_000);
    expect(result.state).toBe('resolved');
    expect(sent.map((s) => s.atMs - T0)).toEqual([0, 25, 63, 119, 203]);
    expect(new Set(sent.map((s) => s.url))).toEqual(new Set(['http://gateway:8080/function/hello.openfaas-fn/_/ready']));
    expect(logs.filter((l) => l.event === 'probe.attempt').map((l) => l.outcome)).toEqual(['503', '502', 'ECONNREFUSED', '404', '200']);
    expect(endLines(logs)).toEqual([expect.objectContaining({ level: 'info', event: 'probe.ready', fn: 'hello.openfaas-fn', probes: 5 })]);
  });

  test('stops after ready: no probe, timer or sleeper is left', async () => {
    const { clock, prober, sent } = setup([500, 204]);
    const result = track(prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal));
    await clock.advance(100);
    expect(result.state).toBe('resolved');
    expect(sent).toHaveLength(2);
    await clock.advance(10_000);
    expect(sent).toHaveLength(2);
    expect(clock.pendingSleepers).toBe(0);
  });

  test('single flight: many waiters on one function and path share one loop; another path has its own', async () => {
    const { clock, prober, sent } = setup([503, 503, 200]);
    const signal = new AbortController().signal;
    const same = Array.from({ length: 50 }, () => track(prober.probe(HELLO, '/_/ready', T0 + 10_000, signal)));
    const otherPath = track(prober.probe(HELLO, '/other', T0 + 10_000, signal));
    const otherFn = track(prober.probe(OTHER, '/_/ready', T0 + 10_000, signal));
    await clock.advance(1_000);
    expect(same.every((w) => w.state === 'resolved')).toBe(true);
    expect(otherPath.state).toBe('resolved');
    expect(otherFn.state).toBe('resolved');
    const byUrl = new Map<string, number>();
    for (const s of sent) byUrl.set(s.url, (byUrl.get(s.url) ?? 0) + 1);
    // One loop per function and path, each stopping at its own first 200: 3 probes each, whatever the waiters.
    expect(Object.fromEntries(byUrl)).toEqual({
      'http://gateway:8080/function/hello.openfaas-fn/_/ready': 3,
      'http://gateway:8080/function/hello.openfaas-fn/other': 3,
      'http://gateway:8080/function/other.staging/_/ready': 3,
    });
  });

  test('single flight over time: a waiter that joins late does not restart the loop or its backoff', async () => {
    const { clock, prober, sent } = setup([503, 503, 503, 200]);
    const first = track(prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal));
    await clock.advance(30);
    const late = track(prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal));
    await clock.advance(1_000);
    expect([first.state, late.state]).toEqual(['resolved', 'resolved']);
    expect(sent.map((s) => s.atMs - T0)).toEqual([0, 25, 63, 119]);
  });

  test('a waiter that leaves (signal abort) gets its own reason; the others keep waiting and get the answer', async () => {
    const { clock, prober, sent } = setup([503, 503, 503, 503, 200]);
    const leaving = new AbortController();
    const leaver = track(prober.probe(HELLO, '/', T0 + 10_000, leaving.signal));
    const stayer = track(prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal));
    await clock.advance(30);
    const reason = new Error('client went away');
    leaving.abort(reason);
    await clock.flush();
    expect(leaver.state).toBe('rejected');
    expect(leaver.error).toBe(reason);
    expect(stayer.state).toBe('pending');
    await clock.advance(1_000);
    expect(stayer.state).toBe('resolved');
    expect(sent).toHaveLength(5);
  });

  test('the last waiter leaving stops the loop: the probe in flight is aborted and none follows', async () => {
    const { clock, prober, sent, logs } = setup(['hang']);
    const leaving = new AbortController();
    const result = track(prober.probe(HELLO, '/', T0 + 10_000, leaving.signal));
    await clock.advance(10);
    expect(sent).toHaveLength(1);
    leaving.abort(new Error('gone'));
    await clock.flush();
    expect(result.state).toBe('rejected');
    expect(sent[0]?.signal.aborted).toBe(true);
    await clock.advance(20_000);
    expect(sent).toHaveLength(1);
    expect(clock.pendingSleepers).toBe(0);
    expect(endLines(logs)).toEqual([expect.objectContaining({ event: 'probe.stopped', reason: 'abandoned', probes: 1 })]);
  });

  test('deadline: the waiter gets WakeTimeoutError at its deadline exactly, then the loop stops', async () => {
    const { clock, prober, sent, logs } = setup([503]);
    const result = track(prober.probe(HELLO, '/_/ready', T0 + 500, new AbortController().signal));
    await clock.advance(499);
    expect(result.state).toBe('pending');
    await clock.advance(1);
    expect(result.state).toBe('rejected');
    expect(result.error).toBeInstanceOf(WakeTimeoutError);
    const count = sent.length;
    expect(sent.every((s) => s.atMs < T0 + 500)).toBe(true);
    await clock.advance(20_000);
    expect(sent).toHaveLength(count);
    expect(clock.pendingSleepers).toBe(0);
    expect(endLines(logs)).toEqual([expect.objectContaining({ level: 'warn', event: 'probe.stopped', reason: 'deadline', last: '503' })]);
  });

  test('deadlines are per waiter: an early deadline ends one waiter, the loop goes on for a later one', async () => {
    const { clock, prober } = setup([503, 503, 503, 503, 503, 503, 503, 200]); // ready at 25+38+56+84+127+190+250 = 770 ms
    const early = track(prober.probe(HELLO, '/', T0 + 300, new AbortController().signal));
    const late = track(prober.probe(HELLO, '/', T0 + 5_000, new AbortController().signal));
    await clock.advance(300);
    expect(early.state).toBe('rejected');
    expect(early.error).toBeInstanceOf(WakeTimeoutError);
    expect(late.state).toBe('pending');
    await clock.advance(469);
    expect(late.state).toBe('pending');
    await clock.advance(1);
    expect(late.state).toBe('resolved');
  });

  test('a deadline while a probe hangs is kept exactly, not after the probe timeout', async () => {
    const { clock, prober, sent } = setup(['hang'], { timeoutMs: 5_000 });
    const result = track(prober.probe(HELLO, '/', T0 + 200, new AbortController().signal));
    await clock.advance(200);
    expect(result.state).toBe('rejected');
    expect(result.error).toBeInstanceOf(WakeTimeoutError);
    expect(sent[0]?.signal.aborted).toBe(true);
  });

  test('a probe that hangs past its timeout counts as "not yet": the next one follows', async () => {
    const { clock, prober, sent, logs } = setup(['hang', 200], { timeoutMs: 300 });
    const result = track(prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal));
    await clock.advance(299);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(sent[0]?.signal.aborted).toBe(true);
    await clock.advance(25);
    expect(sent.map((s) => s.atMs - T0)).toEqual([0, 325]);
    expect(result.state).toBe('resolved');
    expect(logs.filter((l) => l.event === 'probe.attempt').map((l) => l.outcome)).toEqual(['timeout', '200']);
  });

  test('nothing is remembered: a probe after a ready loop starts a fresh loop', async () => {
    const { clock, prober, sent } = setup([200]);
    await prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal);
    await clock.advance(50);
    await prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal);
    expect(sent).toHaveLength(2);
  });

  test('an aborted signal, a past deadline or a bad path reject at once, without a probe', async () => {
    const { prober, sent } = setup([200]);
    const aborted = new AbortController();
    aborted.abort(new Error('already gone'));
    await expect(prober.probe(HELLO, '/', T0 + 10_000, aborted.signal)).rejects.toThrow('already gone');
    await expect(prober.probe(HELLO, '/', T0, new AbortController().signal)).rejects.toBeInstanceOf(WakeTimeoutError);
    await expect(prober.probe(HELLO, '/../system/functions', T0 + 10_000, new AbortController().signal)).rejects.toThrow(/invalid path/);
    expect(sent).toHaveLength(0);
  });

  test('close() rejects every waiter with ShuttingDownError, aborts the probe in flight and refuses new ones', async () => {
    const { clock, prober, sent, logs } = setup(['hang']);
    const a = track(prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal));
    const b = track(prober.probe(OTHER, '/', T0 + 10_000, new AbortController().signal));
    await clock.advance(10);
    prober.close();
    await clock.flush();
    expect([a.state, b.state]).toEqual(['rejected', 'rejected']);
    expect(a.error).toBeInstanceOf(ShuttingDownError);
    expect(sent.every((s) => s.signal.aborted)).toBe(true);
    await expect(prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal)).rejects.toBeInstanceOf(ShuttingDownError);
    await clock.advance(20_000);
    expect(sent).toHaveLength(2);
    expect(clock.pendingSleepers).toBe(0);
    expect(endLines(logs).map((l) => l.reason)).toEqual(['closed', 'closed']);
  });
});

describe('createUndiciProbeSend (the default sender)', () => {
  let mock: MockAgent;
  beforeEach(() => {
    mock = new MockAgent();
    mock.disableNetConnect();
  });
  afterEach(() => mock.close());

  test('GETs the path and query on the URL origin and resolves with the status', async () => {
    const pool = mock.get('http://gateway:8080');
    pool.intercept({ path: '/function/hello.openfaas-fn/_/ready?x=1', method: 'GET' }).reply(204, '');
    pool.intercept({ path: '/function/hello.openfaas-fn/_/ready?x=1', method: 'GET' }).reply(503, 'no endpoints');
    const send = createUndiciProbeSend(mock);
    const url = new URL('http://gateway:8080/function/hello.openfaas-fn/_/ready?x=1');
    await expect(send(url, new AbortController().signal)).resolves.toBe(204);
    await expect(send(url, new AbortController().signal)).resolves.toBe(503);
  });

  test('through the prober: non-2xx keeps probing, 2xx releases', async () => {
    const pool = mock.get('http://gateway:8080');
    pool.intercept({ path: '/function/hello.openfaas-fn/', method: 'GET' }).reply(502, 'bad gateway');
    pool.intercept({ path: '/function/hello.openfaas-fn/', method: 'GET' }).reply(200, 'ok');
    const clock = new FakeClock(T0);
    const logger = createLogger('silent');
    const prober = createHttpReadyProber({ urlTemplate: GATEWAY, clock, logger, timeoutMs: 1_000, dispatcher: mock });
    const result = track(prober.probe(HELLO, '/', T0 + 10_000, new AbortController().signal));
    await clock.advance(25);
    await clock.flush();
    expect(result.state).toBe('resolved');
    mock.assertNoPendingInterceptors();
    prober.close();
  });
});
