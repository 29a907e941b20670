import type { Clock } from '../../src/clock';
import { createLogger } from '../../src/logging';
import { backoffDelayMs, createInformer, type ChangeType, type Informer } from '../../src/provider/kubernetes/informer';
import { KubeUnavailableError, type KubeObject } from '../../src/provider/kubernetes/kube-client';
import { FakeClock } from '../fakes/fake-clock';
import { FakeKubeClient, listPage, object, statusAnswer } from '../fakes/fake-kube-client';

/** A FakeClock that also records every sleep it was asked for, so backoff delays can be read exactly. */
class RecordingClock extends FakeClock implements Clock {
  readonly sleeps: number[] = [];
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return super.sleep(ms, signal);
  }
}

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly event?: string;
  readonly [key: string]: unknown;
}

interface Harness {
  readonly client: FakeKubeClient;
  readonly clock: RecordingClock;
  readonly informer: Informer<KubeObject>;
  readonly changes: string[];
  readonly logs: LogLine[];
}

const BACKOFF = { minMs: 100, maxMs: 1_000 };
const informers: Informer<KubeObject>[] = [];

function harness(namespaces: string[] = ['ns1'], labelSelector?: string): Harness {
  const client = new FakeKubeClient();
  const clock = new RecordingClock(1_000_000);
  const logs: LogLine[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const informer = createInformer<KubeObject>({
    client,
    basePath: '/apis/apps/v1',
    plural: 'deployments',
    namespaces,
    ...(labelSelector === undefined ? {} : { labelSelector }),
    clock,
    logger,
    backoff: BACKOFF,
    random: () => 0.5,
  });
  informers.push(informer);
  const changes: string[] = [];
  informer.onChange((type: ChangeType, obj, previous) => {
    const rv = (o: KubeObject | undefined): string => o?.metadata?.resourceVersion ?? '-';
    changes.push(
      `${type} ${obj.metadata?.namespace}/${obj.metadata?.name} ${rv(obj)}${previous === undefined ? '' : ` (was ${rv(previous)})`}`,
    );
  });
  return { client, clock, informer, changes, logs };
}

afterEach(async () => {
  await Promise.all(informers.splice(0).map((i) => i.stop()));
});

const names = (items: readonly KubeObject[]): string[] => items.map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`).sort();

test('lists every page into the store, syncs, then watches from the list resourceVersion and applies events in order', async () => {
  const h = harness(['ns1'], 'faas_function');
  h.client.answer('/namespaces/ns1/deployments?labelSelector=faas_function&limit=500', listPage([object('ns1', 'a', '10')], '15', 'tok 1'));
  h.client.answer('continue=tok%201', listPage([object('ns1', 'b', '11')], '20'));
  h.informer.start();
  await h.informer.synced;
  expect(h.informer.isSynced()).toBe(true);
  expect(h.client.requests.map((r) => r.path)).toEqual([
    '/apis/apps/v1/namespaces/ns1/deployments?labelSelector=faas_function&limit=500',
    '/apis/apps/v1/namespaces/ns1/deployments?labelSelector=faas_function&limit=500&continue=tok%201',
  ]);
  expect(names(h.informer.list())).toEqual(['ns1/a', 'ns1/b']);
  expect(h.changes).toEqual(['added ns1/a 10', 'added ns1/b 11']);

  await h.client.waitForWatches(1);
  const watch = h.client.lastWatch();
  expect([watch.path, watch.resourceVersion]).toEqual(['/apis/apps/v1/namespaces/ns1/deployments?labelSelector=faas_function', '20']);
  expect(h.informer.isWatching()).toBe(true);

  // The store is already updated when the listener runs.
  const seenInListener: (string | undefined)[] = [];
  h.informer.onChange((_t, obj) => seenInListener.push(h.informer.get('ns1', obj.metadata?.name ?? '')?.metadata?.resourceVersion));
  watch.emit('ADDED', object('ns1', 'c', '21'));
  watch.emit('MODIFIED', object('ns1', 'a', '22'));
  watch.emit('DELETED', object('ns1', 'b', '23'));
  expect(h.changes.slice(2)).toEqual(['added ns1/c 21', 'modified ns1/a 22 (was 10)', 'deleted ns1/b 23 (was 11)']);
  expect(seenInListener).toEqual(['21', '22', undefined]);
  expect(names(h.informer.list('ns1'))).toEqual(['ns1/a', 'ns1/c']);
  expect(h.informer.get('ns1', 'b')).toBeUndefined();
  expect(h.informer.list('other')).toEqual([]);
});

test('a bookmark moves the resourceVersion; a closed watch re-watches from the last one seen, without relisting', async () => {
  const h = harness();
  h.client.answer('/deployments?', listPage([object('ns1', 'a', '5')], '5'));
  h.informer.start();
  await h.client.waitForWatches(1);
  const first = h.client.lastWatch();
  first.emit('MODIFIED', object('ns1', 'a', '7'));
  first.emit('BOOKMARK', { kind: 'Deployment', metadata: { resourceVersion: '9' } });
  expect(h.changes).toEqual(['added ns1/a 5', 'modified ns1/a 7 (was 5)']);
  first.end({ reason: 'closed' });
  await h.client.waitForWatches(2);
  expect(h.client.lastWatch().resourceVersion).toBe('9');
  expect(h.client.requests).toHaveLength(1);
  expect(h.clock.sleeps).toEqual([]);
});

test('a watch the server closes at once with nothing delivered is retried after a backoff, not in a loop', async () => {
  const h = harness();
  h.client.answer('/deployments?', listPage([], '5'));
  h.informer.start();
  await h.client.waitForWatches(1);
  h.client.lastWatch().end({ reason: 'closed' });
  await h.clock.flush();
  expect(h.client.watches).toHaveLength(1);
  expect(h.clock.sleeps).toEqual([100]);
  await h.clock.advance(100);
  await h.client.waitForWatches(2);
  expect(h.client.lastWatch().resourceVersion).toBe('5');
});

test('410 Gone relists and emits only the differences: modified, added, and deleted for what vanished meanwhile', async () => {
  const h = harness();
  h.client.answer('/deployments?', listPage([object('ns1', 'keep', '1'), object('ns1', 'change', '2'), object('ns1', 'vanish', '3')], '3'));
  h.informer.start();
  await h.client.waitForWatches(1);
  h.client.lastWatch().emit('BOOKMARK', { metadata: { resourceVersion: '4' } });
  h.changes.length = 0;
  h.client.answer('/deployments?', listPage([object('ns1', 'keep', '1'), object('ns1', 'change', '8'), object('ns1', 'new', '9')], '10'));
  h.client.lastWatch().end({ reason: 'gone' });
  await h.client.waitForWatches(2);
  expect(h.changes).toEqual(['modified ns1/change 8 (was 2)', 'added ns1/new 9', 'deleted ns1/vanish 3 (was 3)']);
  expect(names(h.informer.list())).toEqual(['ns1/change', 'ns1/keep', 'ns1/new']);
  expect(h.client.lastWatch().resourceVersion).toBe('10');
  expect(h.clock.sleeps).toEqual([]);
  expect(h.logs.some((l) => l.event === 'kube.informer.relist')).toBe(true);
});

test('network failures back off exponentially with jitter (exact with a fixed random), keep the store, and re-watch from the last resourceVersion', async () => {
  const h = harness();
  h.client.answer('/deployments?', listPage([object('ns1', 'a', '4')], '4'));
  h.informer.start();
  await h.client.waitForWatches(1);
  h.client.lastWatch().fail(new KubeUnavailableError('ECONNRESET'));
  for (let i = 2; i <= 6; i++) {
    await h.clock.flush();
    expect(h.informer.isWatching()).toBe(false);
    await h.clock.advance(h.clock.sleeps.at(-1) ?? 0);
    await h.client.waitForWatches(i);
    // Accepted and dropped at once: that is no recovery, the streak (and the backoff) goes on.
    h.client.lastWatch().fail(new KubeUnavailableError('ECONNREFUSED'));
  }
  await h.clock.flush();
  expect(h.clock.sleeps).toEqual([100, 150, 300, 600, 750, 750]);
  expect(h.informer.get('ns1', 'a')?.metadata?.resourceVersion).toBe('4');
  expect(h.client.watches.map((w) => w.resourceVersion)).toEqual(['4', '4', '4', '4', '4', '4']);
  expect(h.client.requests).toHaveLength(1);
  expect(h.logs.filter((l) => l.level === 'warn')).toHaveLength(1);

  // A watch that delivers ends the streak: the backoff starts at min again, and a new streak logs again.
  await h.clock.advance(750);
  await h.client.waitForWatches(7);
  h.client.lastWatch().emit('MODIFIED', object('ns1', 'a', '6'));
  expect(h.informer.isWatching()).toBe(true);
  h.client.lastWatch().fail(new KubeUnavailableError('ECONNRESET'));
  await h.clock.flush();
  expect(h.clock.sleeps.at(-1)).toBe(100);
  await h.clock.advance(100);
  await h.client.waitForWatches(8);
  expect(h.client.lastWatch().resourceVersion).toBe('6');
  expect(h.logs.filter((l) => l.event === 'kube.informer.recovered')).toHaveLength(1);
  expect(h.logs.filter((l) => l.level === 'warn')).toHaveLength(2);
});

test('410 Gone right after a relist backs off instead of relisting in a loop', async () => {
  const h = harness();
  h.client.answer('/deployments?', listPage([], '1'), listPage([], '2'));
  h.informer.start();
  await h.client.waitForWatches(1);
  h.client.lastWatch().end({ reason: 'gone' });
  await h.clock.flush();
  expect(h.client.requests).toHaveLength(1);
  expect(h.clock.sleeps).toEqual([100]);
  await h.clock.advance(100);
  await h.client.waitForWatches(2);
  expect(h.client.lastWatch().resourceVersion).toBe('2');
});

test.each([
  [0, 100],
  [1, 150],
  [2, 300],
  [3, 600],
  [4, 750],
  [40, 750],
])('backoffDelayMs(attempt %i) with random 0.5 is %i ms', (attempt, ms) => {
  expect(backoffDelayMs(attempt, BACKOFF, () => 0.5)).toBe(ms);
});

test('backoffDelayMs stays within min..max for any random', () => {
  for (const r of [0, 0.3, 0.999])
    for (let a = 0; a < 10; a++) {
      const ms = backoffDelayMs(a, BACKOFF, () => r);
      expect(ms).toBeGreaterThanOrEqual(BACKOFF.minMs);
      expect(ms).toBeLessThanOrEqual(BACKOFF.maxMs);
    }
});

test('403 logs one clear line per failure streak, keeps retrying with backoff, and recovers by itself', async () => {
  const h = harness();
  const denied = statusAnswer(
    403,
    'deployments.apps is forbidden: User "system:serviceaccount:x:faas-waker" cannot list resource "deployments" in API group "apps" in the namespace "ns1"',
  );
  h.client.answer('/deployments?', denied, denied, denied, listPage([object('ns1', 'a', '1')], '2'));
  h.informer.start();
  await h.clock.flush();
  for (const delay of [100, 150, 300]) {
    expect(h.clock.sleeps.at(-1)).toBe(delay);
    await h.clock.advance(delay);
  }
  await h.informer.synced;
  await h.client.waitForWatches(1);
  const errors = h.logs.filter((l) => l.level === 'error');
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ event: 'kube.rbac_denied', verb: 'list', namespace: 'ns1', resource: 'deployments.apps', status: 403 });
  expect(errors[0]?.msg).toMatch(
    /cannot list deployments\.apps in namespace ns1; the ServiceAccount needs a Role and RoleBinding granting get, list, watch on deployments\.apps in ns1/,
  );
  expect(h.logs.filter((l) => l.event === 'kube.informer.recovered')).toHaveLength(1);

  // A new streak (now on watch) gets its own line.
  h.client.lastWatch().end({ reason: 'error', status: 403, message: 'cannot watch' });
  await h.clock.advance(100);
  await h.client.waitForWatches(2);
  const rbac = h.logs.filter((l) => l.event === 'kube.rbac_denied');
  expect(rbac.map((l) => l.verb)).toEqual(['list', 'watch']);
});

test('isWatching is true only while every namespace has a connected watch', async () => {
  const h = harness(['ns1', 'ns2']);
  h.client.answer('/namespaces/ns1/', listPage([], '1'));
  h.client.answer('/namespaces/ns2/', listPage([object('ns2', 'x', '2')], '2'));
  h.client.autoConnect = false;
  h.informer.start();
  await h.informer.synced;
  await h.client.waitForWatches(2);
  expect(h.informer.isWatching()).toBe(false);
  h.client.lastWatch('/ns1/').connect();
  expect(h.informer.isWatching()).toBe(false);
  h.client.lastWatch('/ns2/').connect();
  expect(h.informer.isWatching()).toBe(true);
  expect(names(h.informer.list())).toEqual(['ns2/x']);
  expect(h.informer.get('ns2', 'x')).toBeDefined();
  expect(h.informer.get('ns1', 'x')).toBeUndefined();
  h.client.lastWatch('/ns2/').fail(new KubeUnavailableError('ECONNRESET'));
  await h.clock.flush();
  expect(h.informer.isWatching()).toBe(false);
});

test('a throwing listener is logged and does not stop other listeners or the informer; unsubscribe works', async () => {
  const h = harness();
  h.client.answer('/deployments?', listPage([], '1'));
  const unsubscribe = h.informer.onChange(() => {
    throw new Error('listener bug');
  });
  const seen: string[] = [];
  const off = h.informer.onChange((t, o) => seen.push(`${t} ${o.metadata?.name}`));
  h.informer.start();
  await h.client.waitForWatches(1);
  h.client.lastWatch().emit('ADDED', object('ns1', 'a', '2'));
  h.client.lastWatch().emit('ADDED', object('ns1', 'b', '3'));
  expect(seen).toEqual(['added a', 'added b']);
  expect(h.logs.filter((l) => l.event === 'kube.informer.listener_failed')).toHaveLength(2);
  unsubscribe();
  off();
  h.client.lastWatch().emit('ADDED', object('ns1', 'c', '4'));
  expect(seen).toEqual(['added a', 'added b']);
  expect(h.informer.isWatching()).toBe(true);
});

test('stop() aborts the watch and leaves no pending sleeper; synced rejects when stopped before sync', async () => {
  const h = harness();
  h.client.answer('/deployments?', new KubeUnavailableError('ECONNREFUSED'));
  h.informer.start();
  await h.clock.flush();
  expect(h.clock.pendingSleepers).toBe(1);
  await h.informer.stop();
  expect(h.clock.pendingSleepers).toBe(0);
  await expect(h.informer.synced).rejects.toThrow('stopped before it synced');
  expect(h.informer.isWatching()).toBe(false);

  const w = harness();
  w.client.answer('/deployments?', listPage([], '1'));
  w.informer.start();
  await w.client.waitForWatches(1);
  await w.informer.stop();
  expect(w.client.lastWatch().done).toBe(true);
  expect(w.client.lastWatch().signal.aborted).toBe(true);
  expect(w.clock.pendingSleepers).toBe(0);
  expect(w.informer.isWatching()).toBe(false);
  expect(w.client.watches).toHaveLength(1);
  await expect(w.informer.synced).resolves.toBeUndefined();
});

test('a malformed list answer is a failure with backoff, not an empty store', async () => {
  const h = harness();
  h.client.answer(
    '/deployments?',
    { status: 200, body: { items: [{ metadata: {} }], metadata: { resourceVersion: '1' } } },
    listPage([object('ns1', 'a', '1')], '1'),
  );
  h.informer.start();
  await h.clock.flush();
  expect(h.informer.isSynced()).toBe(false);
  expect(h.logs.some((l) => l.level === 'warn' && l.msg.includes('item without metadata.name'))).toBe(true);
  await h.clock.advance(100);
  await h.informer.synced;
  expect(names(h.informer.list())).toEqual(['ns1/a']);
});
