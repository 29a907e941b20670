/**
 * Smoke test of the real control plane (dev/stack/kube.ts, built by scripts/install-kube.mjs): a Deployment
 * scaled 0 -> 1 by a merge patch of its scale subresource turns its Service's EndpointSlice ready (seen
 * through a plain HTTP watch) after kwok's per-pod ready delay, and back to no endpoints at 0; the
 * faas-waker user has no rights until RBAC grants them; the API server restarts cleanly.
 * Nothing here connects to a pod, node or Service IP: they are fake.
 */
import { functionObjects, startKube, type KubeControlPlane, type KubeObject } from '../../dev/stack/kube';

jest.setTimeout(180_000); // a backstop for a loaded machine, never an expectation

/** Bound of every watch: only a safety net (the controllers, the scheduler and kwok share a loaded machine). */
const WATCH_MS = 60_000;

const NS = 'default';

interface Endpoint {
  readonly addresses: readonly string[];
  readonly conditions?: { readonly ready?: boolean };
}
type EndpointSlice = KubeObject & { readonly endpoints?: readonly Endpoint[] | null };
type List = KubeObject & { readonly items: readonly KubeObject[] };

let kube: KubeControlPlane;

beforeAll(async () => {
  const t0 = Date.now();
  kube = await startKube();
  console.log(`control plane ready in ${Date.now() - t0} ms at ${kube.server}`);
}, 120_000);

afterAll(async () => {
  const t0 = Date.now();
  await kube?.stop();
  console.log(`control plane stopped in ${Date.now() - t0} ms`);
}, 30_000);

async function create(path: string, body: KubeObject): Promise<void> {
  const res = await kube.request('POST', path, { body });
  expect([res.status, res.text]).toEqual([201, expect.any(String)]);
}

async function scale(name: string, replicas: number): Promise<void> {
  const res = await kube.request('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/${name}/scale`, {
    body: { spec: { replicas } },
    contentType: 'application/merge-patch+json',
  });
  expect([res.status, res.text]).toEqual([200, expect.any(String)]);
}

const slicesPath = (name: string): string =>
  `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${name}`)}`;
const readyCount = (slice: EndpointSlice): number => (slice.endpoints ?? []).filter((e) => e.conditions?.ready === true).length;
const endpointCount = (slice: EndpointSlice): number => (slice.endpoints ?? []).length;

/**
 * Watches the Service's EndpointSlices from `resourceVersion` until `done` holds for the merged view;
 * resolves with the time it held and the addresses seen. Bounded by `timeoutMs`.
 */
async function watchSlices(
  name: string,
  resourceVersion: string,
  done: (slices: Map<string, EndpointSlice>) => boolean,
  timeoutMs: number,
): Promise<{ at: number; addresses: string[] }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const slices = new Map<string, EndpointSlice>();
  try {
    for await (const event of kube.watch(slicesPath(name), resourceVersion, { signal: abort.signal })) {
      if (event.type === 'ERROR') throw new Error(`watch error: ${JSON.stringify(event.object)}`);
      if (event.type === 'BOOKMARK') continue;
      const key = event.object.metadata?.name ?? '';
      if (event.type === 'DELETED') slices.delete(key);
      else slices.set(key, event.object);
      if (done(slices)) {
        const addresses = [...slices.values()].flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
        return { at: Date.now(), addresses };
      }
    }
    throw new Error('watch ended');
  } catch (err) {
    if (abort.signal.aborted)
      throw new Error(
        `EndpointSlices of ${name}: condition not reached within ${timeoutMs} ms; last: ${JSON.stringify([...slices.values()].map((s) => s.endpoints))}`,
        { cause: err },
      );
    throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

async function listRv(name: string): Promise<string> {
  const res = await kube.request('GET', slicesPath(name));
  expect(res.status).toBe(200);
  const rv = (res.body as List).metadata?.resourceVersion;
  if (rv === undefined) throw new Error('list without resourceVersion');
  return rv;
}

const anyReady = (slices: Map<string, EndpointSlice>): boolean => [...slices.values()].some((s) => readyCount(s) > 0);
const noEndpoints = (slices: Map<string, EndpointSlice>): boolean =>
  slices.size > 0 && [...slices.values()].every((s) => endpointCount(s) === 0);

async function cycle(name: string, readyDelay: string | undefined): Promise<{ upMs: number; downMs: number }> {
  const { deployment, service } = functionObjects(NS, name, readyDelay === undefined ? {} : { readyDelay });
  await create(`/apis/apps/v1/namespaces/${NS}/deployments`, deployment);
  await create(`/api/v1/namespaces/${NS}/services`, service);

  const rv = await listRv(name);
  const t0 = Date.now();
  const ready = watchSlices(name, rv, anyReady, WATCH_MS);
  await scale(name, 1);
  const up = await ready;
  const upMs = up.at - t0;
  // Fake addresses only, from kwok's documentation-range pod CIDR; never loopback, never dialled.
  expect(up.addresses.length).toBe(1);
  expect(up.addresses[0]).toMatch(/^198\.51\.100\./);

  const rv2 = await listRv(name);
  const t1 = Date.now();
  const gone = watchSlices(name, rv2, noEndpoints, WATCH_MS);
  await scale(name, 0);
  const downMs = (await gone).at - t1;
  console.log(
    `${name}: scale 0->1 -> EndpointSlice ready in ${upMs} ms (kwok delay ${readyDelay ?? 'none'}); 1->0 -> no endpoints in ${downMs} ms`,
  );
  return { upMs, downMs };
}

test('the faas-waker user gets 403 before any RBAC is granted', async () => {
  const asWaker = { token: kube.wakerToken };
  const list = await kube.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments`, asWaker);
  expect(list.status).toBe(403);
  expect((list.body as { message?: string }).message).toContain('User "faas-waker" cannot list resource "deployments"');
  const slices = await kube.request('GET', slicesPath('x'), asWaker);
  expect(slices.status).toBe(403);
  const patch = await kube.request('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/x/scale`, {
    ...asWaker,
    body: { spec: { replicas: 1 } },
    contentType: 'application/merge-patch+json',
  });
  expect(patch.status).toBe(403);
  // The admin token is in system:masters.
  expect((await kube.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments`)).status).toBe(200);
});

test('scale 0 -> 1 with a 1500 ms kwok ready delay: the EndpointSlice turns ready after the delay, and empties at 0', async () => {
  const { upMs } = await cycle('delayed', '1500ms');
  // Not before the delay; how long after it depends on the machine's load (cycle() logs it).
  expect(upMs).toBeGreaterThanOrEqual(1_500);
});

test('scale 0 -> 1 without a delay: the EndpointSlice turns ready, and empties at 0', async () => {
  await cycle('instant', undefined);
});

test('restartApiServer keeps ports and data', async () => {
  const { stopMs, startMs } = await kube.restartApiServer();
  console.log(`kube-apiserver restart: stopped in ${stopMs} ms, ready again in ${startMs} ms`);
  const res = await kube.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/delayed`);
  expect(res.status).toBe(200);
  // The controllers reconnect: a scale after the restart still reaches the EndpointSlice.
  const rv = await listRv('delayed');
  const ready = watchSlices('delayed', rv, anyReady, WATCH_MS);
  const t0 = Date.now();
  await scale('delayed', 1);
  const up = await ready;
  console.log(`after the restart: scale 0->1 -> EndpointSlice ready in ${up.at - t0} ms (kwok delay 1500ms)`);
  await scale('delayed', 0);
});
