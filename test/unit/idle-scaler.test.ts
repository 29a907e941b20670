import { INTENT_ANNOTATION } from '../../src/idle/coordination';
import type { ScaleDownResult } from '../../src/idle/idle-observer';
import { DENIED_BACKOFF_MS } from '../../src/idle/activity-recorder';
import { IdleScaler } from '../../src/idle/idle-scaler';
import { createLogger } from '../../src/logging';
import { functionRef } from '../../src/routing/function-ref';
import { FakeClock } from '../fakes/fake-clock';
import { FakeDeploymentApi, type FakeInformer } from '../fakes/fake-deployment-api';

const INTERVAL = 1_000; // write interval; the fence is 2 s, the tick 500 ms
const ZERO = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '10s' };

interface Replica {
  readonly id: string;
  readonly scaler: IdleScaler;
  readonly informer: FakeInformer;
  readonly held: Map<string, number>;
  readonly results: ScaleDownResult[];
  watching: boolean;
}

interface LogLine {
  readonly level: string;
  readonly event?: string;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

let clock: FakeClock;
let api: FakeDeploymentApi;
let logs: LogLine[];
let replicas: Replica[];
let inFlight: number;

beforeEach(() => {
  clock = new FakeClock(1_000_000);
  api = new FakeDeploymentApi();
  logs = [];
  replicas = [];
  inFlight = 0;
});

afterEach(async () => {
  for (const r of replicas) await r.scaler.stop();
  // Every timer released: nothing sleeps on the clock any more.
  expect(clock.pendingSleepers).toBe(0);
});

function replica(id: string): Replica {
  const informer = api.informer();
  const held = new Map<string, number>();
  const results: ScaleDownResult[] = [];
  const r: Replica = {
    id,
    informer,
    held,
    results,
    watching: true,
    scaler: new IdleScaler({
      deployments: informer,
      writer: api.writer(id),
      clock,
      logger: createLogger('debug', { write: (line: string) => void logs.push({ ...(JSON.parse(line) as LogLine), replica: id }) }),
      replicaId: id,
      writeIntervalMs: INTERVAL,
      writeTimeoutMs: 1_000,
      defaultIdleMs: 60_000,
      held: () => held,
      isWatching: () => r.watching,
      observer: { scaleDown: (result) => results.push(result), inFlightChanged: (d) => (inFlight += d) },
    }),
  };
  r.scaler.start();
  replicas.push(r);
  return r;
}

const t0 = 1_000_000;
const at = (ms: number): Promise<void> => clock.advanceTo(t0 + ms);

test('scaled to zero once idle for its zero-duration after the last request ended, and not before', async () => {
  const fn = api.create('hello', ZERO);
  const a = replica('a');
  await at(1_000);
  const request = a.scaler.started(fn);
  expect(request).toBeDefined();
  expect(request?.confirmed).toBeUndefined(); // no intent anywhere: no waiting on the warm path
  await at(3_000);
  request?.end();
  expect(inFlight).toBe(0);
  // Idle 10 s from the end (3 s), and the shared record (last renewed at 3 s while the request was
  // open) idle 10 s + one interval of slack: due at 14 s; then the fence of 2 intervals.
  expect(api.count('activity', 'a')).toBe(3);
  await at(13_999);
  expect(api.count('intent')).toBe(0);
  await at(14_000);
  expect(api.count('intent', 'a')).toBe(1);
  expect(api.replicas('hello')).toBe(1);
  await at(15_999);
  expect(api.replicas('hello')).toBe(1);
  await at(16_000);
  expect(api.replicas('hello')).toBe(0);
  expect(a.results).toEqual(['scaled']);
  const line = logs.find((l) => l.event === 'idle.scaled_down');
  expect(line).toMatchObject({ fn: 'hello.fns', replica: 'a', idleTimeoutMs: 10_000 });
  expect(Number(line?.idleMs)).toBeGreaterThanOrEqual(10_000);
  expect(api.annotation('hello', INTENT_ANNOTATION)).toBeUndefined(); // cleared by the scale write itself
});

test('a status write by the Deployment controller during the fence does not stop the scale-down (only activity does)', async () => {
  api.create('status', ZERO);
  const a = replica('a');
  api.afterApply = (w) => (w.kind === 'intent' ? api.touchStatus('status') : undefined);
  await at(11_000 + 2 * INTERVAL + 500);
  expect(api.replicas('status')).toBe(0);
  expect(a.results).toEqual(['scaled']);
});

test('a request open far past the idle time keeps it up (renewed once per interval); the idle time counts from its end', async () => {
  const fn = api.create('slow', ZERO);
  const a = replica('a');
  await at(1_000);
  const request = a.scaler.started(fn);
  await at(61_000);
  expect(api.replicas('slow')).toBe(1);
  expect(api.count('intent')).toBe(0);
  // One write at the start, then about one per interval: never more than one per interval.
  const writes = api.count('activity', 'a');
  expect(writes).toBeGreaterThanOrEqual(55);
  expect(writes).toBeLessThanOrEqual(61);
  request?.end();
  await at(61_000 + 9_999);
  expect(api.count('intent')).toBe(0);
  await at(61_000 + 10_000 + INTERVAL + 2_000 + 500);
  expect(api.replicas('slow')).toBe(0);
});

test('a function without com.openfaas.scale.zero=true is not tracked: no write, no scale-down, ever', async () => {
  const fn = api.create('plain', {});
  const control = api.create('control', ZERO);
  const a = replica('a');
  expect(a.scaler.started(fn)).toBeUndefined();
  expect(a.scaler.started(functionRef('nobody', 'fns'))).toBeUndefined();
  a.scaler.started(control)?.end();
  // The positive control is the clock: once it went to zero, "plain" had every chance to.
  await at(20_000);
  expect(api.replicas('control')).toBe(0);
  expect(api.replicas('plain')).toBe(1);
  expect(api.applied.filter((w) => w.kind !== 'activity' || w.replica !== 'a').map((w) => w.kind)).toEqual(['intent', 'scaleToZero']);
});

test('requests held here (a wake in progress) keep it up', async () => {
  const fn = api.create('waking', ZERO);
  const a = replica('a');
  a.held.set(fn.key, 1);
  await at(30_000);
  expect(api.replicas('waking')).toBe(1);
  expect(api.count('activity', 'a')).toBeGreaterThan(10); // held requests count as activity for the others too
  a.held.delete(fn.key);
  await at(30_000 + 10_000 + INTERVAL + 2_000 + 1_000);
  expect(api.replicas('waking')).toBe(0);
});

test('two replicas, traffic through one: the other never scales it down while traffic flows; it goes to zero once traffic stops', async () => {
  const fn = api.create('shared', ZERO);
  const a = replica('a');
  const b = replica('b');
  for (let s = 1; s <= 60; s += 3) {
    await at(s * 1_000);
    a.scaler.started(fn)?.end();
  }
  expect(api.replicas('shared')).toBe(1);
  expect(api.count('intent')).toBe(0); // b saw a's renewals: never even an intent
  await at(58_000 + 10_000 + INTERVAL + 2_000 + 1_000);
  expect(api.replicas('shared')).toBe(0);
  expect([...a.results, ...b.results]).toContain('scaled');
});

test('a replica that never sees the intent still stops it: its open request renews activity inside the fence (409)', async () => {
  const fn = api.create('race', ZERO);
  const a = replica('a');
  const b = replica('b');
  // a's renewals fail for a while (an API blip on a's side), so b finds the record idle and intends;
  // a's informer lags, so a never sees that intent.
  api.refuse.set('activity', 'error');
  a.informer.lagging = true;
  await at(1_000);
  const request = a.scaler.started(fn);
  await at(10_999);
  expect(api.count('intent')).toBe(0);
  api.afterApply = (w) => (w.kind === 'intent' ? api.refuse.delete('activity') : undefined);
  await at(11_000);
  expect(api.count('intent', 'b')).toBe(1);
  await at(11_000 + 2 * INTERVAL + 500);
  expect(api.count('activity', 'a')).toBeGreaterThanOrEqual(1); // a's next renewal, inside the fence
  expect(api.replicas('race')).toBe(1);
  expect(b.results).toEqual(['conflict']);
  request?.end();
});

test('an intent seen by a replica with requests held: it objects at once (activity write, which clears the intent)', async () => {
  const fn = api.create('object', ZERO);
  const a = replica('a');
  const b = replica('b');
  api.refuse.set('activity', 'error'); // a's renewals for its held request fail until b intends
  a.held.set(fn.key, 1);
  let objectedAt: number | undefined;
  api.afterApply = (w) => {
    if (w.kind === 'intent') api.refuse.delete('activity');
    if (w.kind === 'activity' && w.result === 'ok') objectedAt ??= clock.now();
  };
  await at(11_000);
  expect(api.count('intent', 'b')).toBe(1);
  // The objection follows the intent event at once, not a's next tick.
  expect(objectedAt).toBe(t0 + 11_000);
  expect(api.annotation('object', INTENT_ANNOTATION)).toBeUndefined();
  expect(logs.some((l) => l.event === 'idle.objection' && l.replica === 'a')).toBe(true);
  await at(11_000 + 2 * INTERVAL + 500);
  expect(api.replicas('object')).toBe(1);
  expect(b.results).toEqual(['conflict']);
});

describe('a request arriving while a scale-down is decided is never lost (confirmed)', () => {
  /** Both replicas find it idle at 11 s (first seen at 0 s, 10 s + 1 interval); the first intent wins. */
  async function intent(): Promise<{ fn: ReturnType<FakeDeploymentApi['create']>; other: Replica; owner: Replica }> {
    const fn = api.create('racy', ZERO);
    const a = replica('a');
    const b = replica('b');
    await at(11_000);
    const value = api.annotation('racy', INTENT_ANNOTATION);
    expect(value).toMatch(/^[ab]@/);
    return value?.startsWith('a@') === true ? { fn, owner: a, other: b } : { fn, owner: b, other: a };
  }

  test('our activity write lands first: confirmed true, the scale write gets 409, replicas stay', async () => {
    const { fn, owner, other } = await intent();
    const request = other.scaler.started(fn);
    expect(request?.confirmed).toBeDefined();
    await expect(request?.confirmed).resolves.toBe(true);
    await at(11_000 + 2 * INTERVAL + 500);
    expect(api.replicas('racy')).toBe(1);
    expect(owner.results).toEqual(['conflict']);
    request?.end();
  });

  test('the scale write lands first: confirmed false (the handler then holds the request and wakes the function)', async () => {
    const { fn, owner, other } = await intent();
    api.pause();
    const request = other.scaler.started(fn);
    let answer: boolean | undefined;
    void request?.confirmed?.then((ok) => (answer = ok));
    await at(11_000 + 2 * INTERVAL); // the owner's fence is over: its scale write waits behind ours
    expect(answer).toBeUndefined(); // no answer before our write landed
    api.release(true); // the API server applies the scale write first
    await clock.flush();
    expect(api.applied.slice(-2).map((w) => [w.kind, w.result])).toEqual([
      ['scaleToZero', 'ok'],
      ['activity', 'ok'],
    ]);
    expect(answer).toBe(false);
    expect(owner.results).toEqual(['scaled']);
    request?.end();
  });

  test('the owner itself gets a request during its fence: it confirms too, and its own scale write fails', async () => {
    const { fn, owner } = await intent();
    const request = owner.scaler.started(fn);
    await expect(request?.confirmed).resolves.toBe(true);
    await at(11_000 + 2 * INTERVAL + 500);
    expect(api.replicas('racy')).toBe(1);
    expect(owner.results).toEqual(['aborted']);
    request?.end();
  });
});

test('while the deployments watch is down every start is confirmed (an intent could be unseen)', async () => {
  const fn = api.create('blind', ZERO);
  const a = replica('a');
  a.watching = false;
  const requests = [a.scaler.started(fn), a.scaler.started(fn), a.scaler.started(fn)];
  expect(requests.every((r) => r?.confirmed !== undefined)).toBe(true);
  await expect(Promise.all(requests.map((r) => r?.confirmed ?? Promise.resolve(undefined)))).resolves.toEqual([true, true, true]);
  // Batched: one write in flight, one more for everyone who came during it.
  expect(api.count('activity', 'a')).toBe(2);
  for (const r of requests) r?.end();
});

test('a confirmation whose write fails while the watch is live answers false: the waker checks the function first', async () => {
  const fn = api.create('flaky', ZERO);
  const a = replica('a');
  await at(11_000); // a's own intent is live: a request now needs a confirmation
  api.refuse.set('activity', 'error');
  const request = a.scaler.started(fn);
  await expect(request?.confirmed).resolves.toBe(false);
  expect(logs.some((l) => l.event === 'idle.activity_write_failed')).toBe(true);
  request?.end();
});

test('the API server unreachable (watch down, writes failing): requests go on, at most one write per interval tries', async () => {
  const fn = api.create('outage', ZERO);
  const a = replica('a');
  a.watching = false;
  api.refuse.set('activity', 'error');
  await at(1_000);
  // The first one pays for one failed write (and then goes on: waiting could not help)...
  await expect(a.scaler.started(fn)?.confirmed).resolves.toBe(true);
  // ...the next ones within the interval do not wait at all.
  const later = Array.from({ length: 10 }, () => a.scaler.started(fn));
  await expect(Promise.all(later.map((r) => r?.confirmed ?? Promise.resolve(undefined)))).resolves.toEqual(Array(10).fill(true));
  expect(api.count('activity', 'a', 'error')).toBe(1);
  for (const r of later) r?.end();
});

test('an RBAC denial: one error line, writes pause instead of retrying per request, confirmations let requests on', async () => {
  api.refuse.set('activity', 'denied');
  api.refuse.set('intent', 'denied');
  const fn = api.create('locked', ZERO);
  const a = replica('a');
  await at(1_000);
  a.scaler.started(fn)?.end();
  await at(1_100);
  for (let i = 0; i < 20; i++) a.scaler.started(fn)?.end();
  await at(30_000);
  expect(api.count('activity', 'a', 'denied')).toBe(1);
  const denied = logs.filter((l) => l.event === 'idle.rbac_denied');
  expect(denied.filter((l) => l.level === 'error')).toHaveLength(1);
  expect(String(denied[0]?.msg)).toMatch(/RBAC denied.*patch.*deployments/);
  a.watching = false;
  // Nobody with this RBAC can scale it down: no write, no wait, no hold loop.
  await expect(a.scaler.started(fn)?.confirmed).resolves.toBe(true);
  await at(1_000 + DENIED_BACKOFF_MS + 30_000);
  expect(api.count('intent', 'a', 'denied')).toBeLessThanOrEqual(2);
  expect(api.replicas('locked')).toBe(1);
});

test('the zero-duration label: invalid falls back to WAKER_IDLE_TIMEOUT (logged once), too short is clamped', async () => {
  const bad = api.create('bad', { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': 'soon' });
  const short = api.create('short', { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1s' });
  const a = replica('a');
  a.scaler.started(bad)?.end();
  a.scaler.started(short)?.end();
  api.patchReplicas('bad', 2); // another event for the same label: still one line
  await at(4_000 + INTERVAL + 2_000 + 500); // clamped to 4 intervals
  expect(api.replicas('short')).toBe(0);
  expect(api.replicas('bad')).toBe(2);
  await at(60_000 + INTERVAL + 2_000 + 500);
  expect(api.replicas('bad')).toBe(0);
  const lines = logs.filter((l) => l.event === 'idle.duration_label');
  expect(lines.map((l) => [l.fn, l.problem])).toEqual([
    ['bad.fns', 'invalid'],
    ['short.fns', 'clamped'],
  ]);
});
