/**
 * The informer and Kubernetes client against a real control plane (dev/stack/kube.ts): Deployments in two
 * namespaces seen through create / scale / kwok readiness / delete in order; EndpointSlices turning ready;
 * an API server restart in the middle of a watch without a lost event; RBAC denial reported in one clear
 * line and recovered from by itself once a Role is granted. Connections go to 127.0.0.1 only: pod, node and
 * Service IPs of this cluster are fake.
 */
import { readFileSync } from 'node:fs';
import { systemClock, type Clock } from '../../src/clock';
import { createLogger, type Logger } from '../../src/logging';
import { createInformer, type ChangeType, type Informer } from '../../src/provider/kubernetes/informer';
import { createKubeClient, type KubeClient, type KubeObject } from '../../src/provider/kubernetes/kube-client';
import { loadKubeConnection } from '../../src/provider/kubernetes/kube-config';
import { functionObjects, startKube, type KubeControlPlane, type KubeUser } from '../../dev/stack/kube';

jest.setTimeout(120_000);

const NS_A = 'informer-a';
const NS_B = 'informer-b';
/** Safety net for every wait: far above what a loaded machine needs, never a latency assertion. */
const WAIT_MS = 45_000;

interface Deployment extends KubeObject {
  readonly spec?: { readonly replicas?: number };
  readonly status?: { readonly availableReplicas?: number };
}
interface EndpointSlice extends KubeObject {
  readonly endpoints?: readonly { readonly addresses: readonly string[]; readonly conditions?: { readonly ready?: boolean } }[] | null;
}
interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly event?: string;
  readonly verb?: string;
  readonly namespace?: string;
}

let kube: KubeControlPlane;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  kube = await startKube();
  for (const ns of [NS_A, NS_B]) {
    const res = await kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    expect([res.status, res.text]).toEqual([201, expect.any(String)]);
  }
}, 180_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await kube?.stop();
}, 60_000);

function clientFor(user: KubeUser): KubeClient {
  // Through the kubeconfig, so the CA and token plumbing is what production uses.
  const connection = loadKubeConnection({ kubeconfig: user.kubeconfig, env: {}, readFile: (p) => readFileSync(p, 'utf8') });
  expect(connection.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  const client = createKubeClient(connection, { timeoutMs: 10_000, watchTimeoutSeconds: 60 });
  cleanups.push(() => client.close());
  return client;
}

function capturedLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { logger: createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) }), lines };
}

interface Recorded<T> {
  readonly type: ChangeType;
  readonly object: T;
  readonly at: number;
}

function informerOf<T extends KubeObject>(
  client: KubeClient,
  logger: Logger,
  opts: {
    basePath: string;
    plural: string;
    namespaces: string[];
    labelSelector?: string;
    backoff?: { minMs: number; maxMs: number };
    clock?: Clock;
  },
): { informer: Informer<T>; changes: Recorded<T>[] } {
  const informer = createInformer<T>({
    client,
    clock: opts.clock ?? systemClock,
    logger,
    backoff: opts.backoff ?? { minMs: 100, maxMs: 2_000 },
    ...opts,
  });
  const changes: Recorded<T>[] = [];
  informer.onChange((type, object) => changes.push({ type, object, at: performance.now() }));
  cleanups.push(() => informer.stop());
  informer.start();
  return { informer, changes };
}

/** Resolves once `check` holds (checked every 20 ms); the bound is only a safety net. */
async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function createDeployment(ns: string, name: string, readyDelay?: string): Promise<void> {
  const res = await kube.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
    body: functionObjects(ns, name, readyDelay === undefined ? {} : { readyDelay }).deployment,
  });
  expect([res.status, res.text]).toEqual([201, expect.any(String)]);
}

async function createService(ns: string, name: string): Promise<void> {
  const res = await kube.request('POST', `/api/v1/namespaces/${ns}/services`, { body: functionObjects(ns, name).service });
  expect([res.status, res.text]).toEqual([201, expect.any(String)]);
}

async function scale(ns: string, name: string, replicas: number): Promise<number> {
  const at = performance.now();
  const res = await kube.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/${name}/scale`, {
    body: { spec: { replicas } },
    contentType: 'application/merge-patch+json',
  });
  expect([res.status, res.text]).toEqual([200, expect.any(String)]);
  return at;
}

const of = <T extends KubeObject>(changes: Recorded<T>[], ns: string, name: string): Recorded<T>[] =>
  changes.filter((c) => c.object.metadata?.namespace === ns && c.object.metadata.name === name);
const readyEndpoints = (slice: EndpointSlice | undefined): number =>
  (slice?.endpoints ?? []).filter((e) => e.conditions?.ready === true).length;

test('deployments in two namespaces: create, scale (spec, then kwok availability) and delete arrive in order', async () => {
  const { logger } = capturedLogger();
  const { informer, changes } = informerOf<Deployment>(clientFor(kube.admin), logger, {
    basePath: '/apis/apps/v1',
    plural: 'deployments',
    namespaces: [NS_A, NS_B],
  });
  await informer.synced;
  await until('both watches connected', () => informer.isWatching());

  await createDeployment(NS_A, 'fn-a', '300ms');
  await createDeployment(NS_B, 'fn-b');
  await createDeployment('default', 'not-watched');
  await until('fn-a and fn-b added', () => informer.get(NS_A, 'fn-a') !== undefined && informer.get(NS_B, 'fn-b') !== undefined);

  const patchedAt = await scale(NS_A, 'fn-a', 1);
  const spec = await until('spec.replicas=1 seen', () => of(changes, NS_A, 'fn-a').find((c) => c.object.spec?.replicas === 1));
  const available = await until('availableReplicas=1 seen', () =>
    of(changes, NS_A, 'fn-a').find((c) => (c.object.status?.availableReplicas ?? 0) >= 1),
  );
  expect(informer.get(NS_A, 'fn-a')?.status?.availableReplicas).toBe(1);

  const del = await kube.request('DELETE', `/apis/apps/v1/namespaces/${NS_A}/deployments/fn-a`);
  expect(del.status).toBe(200);
  await until('fn-a deleted', () => of(changes, NS_A, 'fn-a').some((c) => c.type === 'deleted'));
  expect(informer.get(NS_A, 'fn-a')).toBeUndefined();

  const seq = of(changes, NS_A, 'fn-a');
  expect(seq[0]?.type).toBe('added');
  expect(seq.at(-1)?.type).toBe('deleted');
  expect(seq.slice(1, -1).every((c) => c.type === 'modified')).toBe(true);
  expect(seq.indexOf(spec)).toBeLessThan(seq.indexOf(available));
  // The controller still writes fn-b's status (observedGeneration, conditions): modified, never deleted.
  const typesB = of(changes, NS_B, 'fn-b').map((c) => c.type);
  expect(typesB[0]).toBe('added');
  expect(typesB.slice(1).every((t) => t === 'modified')).toBe(true);
  expect(informer.list().some((d) => d.metadata?.name === 'not-watched')).toBe(false);
  expect(informer.list(NS_B).map((d) => d.metadata?.name)).toEqual(['fn-b']);
  console.log(
    `scale patch -> informer: spec.replicas=1 after ${Math.round(spec.at - patchedAt)} ms, availableReplicas=1 after ${Math.round(available.at - patchedAt)} ms (kwok ready delay 300 ms)`,
  );
});

test('an EndpointSlice informer (with and without a label selector) sees conditions.ready flip after a scale', async () => {
  await createDeployment(NS_B, 'fn-slice');
  await createService(NS_B, 'fn-slice');
  const { logger } = capturedLogger();
  const client = clientFor(kube.admin);
  const slices = { basePath: '/apis/discovery.k8s.io/v1', plural: 'endpointslices', namespaces: [NS_B] };
  const selected = informerOf<EndpointSlice>(client, logger, { ...slices, labelSelector: 'kubernetes.io/service-name=fn-slice' });
  const all = informerOf<EndpointSlice>(client, logger, slices);
  await Promise.all([selected.informer.synced, all.informer.synced]);
  await until('slice watches connected', () => selected.informer.isWatching() && all.informer.isWatching());
  const anyReady = (i: Informer<EndpointSlice>): boolean =>
    i.list(NS_B).some((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === 'fn-slice' && readyEndpoints(s) > 0);
  expect(anyReady(selected.informer)).toBe(false);

  const patchedAt = await scale(NS_B, 'fn-slice', 1);
  await until('a ready endpoint (selected)', () => anyReady(selected.informer));
  const readyAt = performance.now();
  await until('a ready endpoint (unselected)', () => anyReady(all.informer));
  expect(selected.informer.list(NS_B).every((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === 'fn-slice')).toBe(true);
  const ready = selected.changes.find((c) => readyEndpoints(c.object) > 0);
  console.log(`scale patch -> EndpointSlice ready in the informer after ${Math.round((ready?.at ?? readyAt) - patchedAt)} ms`);

  await scale(NS_B, 'fn-slice', 0);
  await until('no ready endpoint after scale to 0', () => !anyReady(selected.informer));
});

test('restartApiServer during a watch: isWatching goes false then true, and changes made right after the restart are seen', async () => {
  const { logger, lines } = capturedLogger();
  // Backoff sleeps also wait for this gate: the changes below are made before the informer may re-watch.
  let openGate: () => void = () => undefined;
  let gate = Promise.resolve();
  const clock: Clock = {
    now: () => systemClock.now(),
    sleep: async (ms, signal) => {
      await systemClock.sleep(ms, signal);
      await gate;
    },
  };
  cleanups.push(() => Promise.resolve(openGate()));
  const { informer, changes } = informerOf<Deployment>(clientFor(kube.admin), logger, {
    basePath: '/apis/apps/v1',
    plural: 'deployments',
    namespaces: [NS_A],
    clock,
  });
  await informer.synced;
  await until('watch connected', () => informer.isWatching());
  await createDeployment(NS_A, 'before-restart');
  await until('before-restart seen', () => informer.get(NS_A, 'before-restart'));

  let sawDown = false;
  const sampler = setInterval(() => {
    if (!informer.isWatching()) sawDown = true;
  }, 5);
  gate = new Promise<void>((resolve) => (openGate = resolve));
  const restartStarted = performance.now();
  try {
    await kube.restartApiServer();
  } finally {
    clearInterval(sampler);
  }
  const restartedAt = performance.now();
  expect(sawDown).toBe(true);
  // Made before the informer re-watched: it must still arrive (re-watch from the last resourceVersion, or relist).
  await createDeployment(NS_A, 'after-restart');
  await scale(NS_A, 'before-restart', 2);
  const del = await kube.request('DELETE', `/apis/apps/v1/namespaces/${NS_A}/deployments/before-restart`);
  expect(del.status).toBe(200);
  expect(informer.isWatching()).toBe(false);
  openGate();

  await until('watching again', () => informer.isWatching());
  const upAt = performance.now();
  await until('after-restart seen', () => informer.get(NS_A, 'after-restart'));
  await until('before-restart deleted', () => informer.get(NS_A, 'before-restart') === undefined);
  expect(of(changes, NS_A, 'after-restart')[0]?.type).toBe('added');
  expect(of(changes, NS_A, 'before-restart').at(-1)?.type).toBe('deleted');
  const unavailable = lines.filter((l) => l.event === 'kube.informer.failed' && l.level === 'warn');
  const relisted = lines.some((l) => l.event === 'kube.informer.relist');
  console.log(
    `API server restart took ${Math.round(restartedAt - restartStarted)} ms; watching again ${Math.round(upAt - restartedAt)} ms after it was ready ` +
      `(${relisted ? 'relisted after 410' : 're-watched from the last resourceVersion'}); ` +
      `${unavailable.length} warn line(s): ${unavailable.map((l) => l.msg).join(' | ')}`,
  );
});

test('without RBAC the faas-waker user gets 403, one clear log line, and the informer syncs by itself once a Role is granted', async () => {
  const { logger, lines } = capturedLogger();
  const { informer } = informerOf<Deployment>(clientFor(kube.waker), logger, {
    basePath: '/apis/apps/v1',
    plural: 'deployments',
    namespaces: [NS_A],
    backoff: { minMs: 50, maxMs: 400 },
  });
  const denied = await until('the RBAC line', () => lines.find((l) => l.event === 'kube.rbac_denied'));
  expect(denied).toMatchObject({ level: 'error', verb: 'list', namespace: NS_A });
  expect(denied.msg).toContain(
    `RBAC denied: cannot list deployments.apps in namespace ${NS_A}; the ServiceAccount needs a Role and RoleBinding granting get, list, watch on deployments.apps in ${NS_A}`,
  );
  expect(denied.msg).toContain('User "faas-waker" cannot list resource "deployments"');
  // Retried a few times in the same streak: still only that one line.
  await until('three more denied attempts', () => lines.filter((l) => l.msg.includes('still failing')).length >= 3);
  expect(lines.filter((l) => l.event === 'kube.rbac_denied')).toHaveLength(1);
  expect(informer.isSynced()).toBe(false);
  expect(lines.map((l) => l.msg).join('\n')).not.toContain(kube.wakerToken);
  await createDeployment(NS_A, 'rbac-probe');

  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'faas-waker-read', namespace: NS_A },
    rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch'] }],
  };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'faas-waker-read', namespace: NS_A },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'faas-waker-read' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: kube.waker.name }],
  };
  expect((await kube.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS_A}/roles`, { body: role })).status).toBe(201);
  expect((await kube.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS_A}/rolebindings`, { body: binding })).status).toBe(
    201,
  );
  const grantedAt = performance.now();
  await until('synced', () => informer.isSynced());
  await until('watching with the granted Role', () => informer.isWatching());
  console.log(`RBAC granted -> informer synced and watching after ${Math.round(performance.now() - grantedAt)} ms`);
  expect(lines.some((l) => l.event === 'kube.informer.recovered')).toBe(true);
  expect(informer.get(NS_A, 'rbac-probe')).toBeDefined();
});
