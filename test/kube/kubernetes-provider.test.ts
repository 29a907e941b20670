/**
 * WAKER_PROVIDER=kubernetes end to end: the real Envoy, faas-waker as a process with the shipped RBAC
 * (deploy/kubernetes/kubernetes-provider/rbac.yaml, bound to the test's faas-waker user), a real control
 * plane with kwok as the kubelet. The Kubernetes objects decide readiness; Envoy forwards to a local
 * function process on 127.0.0.1 (pod, node and Service IPs of this cluster are fake and never dialed).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnvoy, type EnvoyProcess } from '../../dev/stack/envoy';
import { startKube, type KubeControlPlane } from '../../dev/stack/kube';
import { startDemoFunction, startWaker, wakerMetric, type DemoFunction, type WakerProcess } from '../../dev/stack/processes';
import { agent, get, waitUntil } from '../e2e/http';
import { createFunction as createKubeFunction, grantShippedRole } from '../../dev/stack/kube-objects';

jest.setTimeout(180_000);

const NS = 'fns';
const DENIED_NS = 'denied';
const WAIT_MS = 60_000;

let kube: KubeControlPlane;
let fnProcess: DemoFunction;
let waker: WakerProcess;
let envoy: EnvoyProcess;
const url = (path: string): string => `http://127.0.0.1:${envoy.port}${path}`;

beforeAll(async () => {
  kube = await startKube();
  for (const name of [NS, DENIED_NS])
    expect(
      (await kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } })).status,
    ).toBe(201);
  await grantShippedRole(kube, NS);
  fnProcess = await startDemoFunction('local-function');
  const fnPort = fnProcess.port;
  waker = await startWaker({
    WAKER_PROVIDER: 'kubernetes',
    WAKER_KUBECONFIG: kube.waker.kubeconfig,
    WAKER_NAMESPACES: NS,
    WAKER_DEFAULT_NAMESPACE: NS,
    // WAKER_READY_TTL unset: the Kubernetes default (1 h), so only the watch takes a "ready" away here.
    WAKER_HOLD_TIMEOUT: '30s',
    WAKER_LOG_LEVEL: 'debug',
  });
  envoy = await startEnvoy({ grpcPort: waker.grpcPort, gatewayPort: fnPort });
  await waitUntil(async () => (await waker.admin('/readyz')).status === 200, WAIT_MS, 'faas-waker ready (informers synced)');
}, 240_000);

afterAll(async () => {
  await envoy?.stop();
  await waker?.stop('SIGKILL');
  await fnProcess?.stop('SIGTERM', 5_000);
  await agent.close();
  await kube?.stop();
}, 60_000);

/** A function Deployment (label faas_function=NAME unless `plain`) at 0 replicas, with its Service. */
const createFunction = (name: string, readyDelay: string, options: { plain?: boolean; replicas?: number } = {}): Promise<void> =>
  createKubeFunction(kube, NS, name, { readyDelay, ...options });

async function replicas(name: string): Promise<number> {
  const res = await kube.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/${name}`);
  return (res.body as { spec?: { replicas?: number } }).spec?.replicas ?? -1;
}

const metric = (name: string): Promise<number> => wakerMetric(waker, name);

/** The headers the function received (it echoes them). */
const seen = (text: string): Record<string, string> => (JSON.parse(text) as { headers: Record<string, string> }).headers;

const statusReads = (): Promise<number> =>
  Promise.all(['2xx', '4xx', '5xx', 'error'].map((s) => metric(`faas_waker_provider_requests_total{call="status",status="${s}"}`))).then(
    (v) => v.reduce((a, b) => a + b, 0),
  );
const scalePatches = (): Promise<number> => metric('faas_waker_provider_requests_total{call="scale",status="2xx"}');

test('a burst held on a Deployment at zero: one scale patch, released when its EndpointSlice turns ready, no status read', async () => {
  await createFunction('hello', '1500ms');
  const [readsBefore, patchesBefore] = [await statusReads(), await scalePatches()];
  const replies = await Promise.all(Array.from({ length: 100 }, () => get(url('/function/hello'))));
  expect(replies.map((r) => r.status)).toEqual(Array(100).fill(200));
  expect(replies.every((r) => seen(r.text)['x-faas-waker-cold-start'] === 'true')).toBe(true);
  expect(await replicas('hello')).toBe(1);
  expect([(await scalePatches()) - patchesBefore, (await statusReads()) - readsBefore]).toEqual([1, 0]);
  // Warm right after: no API call at all.
  expect((await get(url('/function/hello'))).headers['x-faas-waker-cold-start-ms']).toBeUndefined();
});

test('a scale to zero made with the API is seen at once (the watch, not the 1 h TTL), and the next request wakes it again', async () => {
  expect((await get(url('/function/hello'))).status).toBe(200);
  expect(((await (await waker.admin('/status')).json()) as { cache: { ready: number } }).cache.ready).toBeGreaterThan(0);
  const patch = await kube.request('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/hello/scale`, {
    body: { spec: { replicas: 0 } },
    contentType: 'application/merge-patch+json',
  });
  expect(patch.status).toBe(200);
  await waitUntil(
    async () => ((await (await waker.admin('/status')).json()) as { cache: { ready: number } }).cache.ready === 0,
    WAIT_MS,
    'the ready entry dropped by the watch',
  );
  const patchesBefore = await scalePatches();
  const again = await get(url('/function/hello'));
  // The wake's own lines say why, if this ever fails (a 502 was once seen under a loaded suite).
  if (again.status !== 200) console.log(waker.logs().filter((l) => l.fn === `hello.${NS}` || l.event === 'kubernetes.forbidden'));
  expect(again.status).toBe(200);
  expect(seen(again.text)['x-faas-waker-cold-start']).toBe('true');
  expect((await scalePatches()) - patchesBefore).toBe(1);
});

test('a Deployment that is not a function is 404 and never written to', async () => {
  await createFunction('plain', '0ms', { plain: true });
  const patchesBefore = await scalePatches();
  const res = await get(url('/function/plain'));
  expect([res.status, res.text]).toEqual([404, 'function not found\n']);
  expect(await replicas('plain')).toBe(0);
  expect(await scalePatches()).toBe(patchesBefore);
  expect((await get(url(`/function/hello.${DENIED_NS}`))).status).toBe(404); // not a watched namespace
});

test('a replica count already above the wake target is never lowered', async () => {
  await createFunction('busy', '0ms', { replicas: 3 });
  await waitUntil(async () => (await get(url('/function/busy'))).status === 200, WAIT_MS, 'busy answering');
  expect(await replicas('busy')).toBe(3);
});

test('a Deployment that never gets ready ends in 504 within the hold budget', async () => {
  await createFunction('never', '1h');
  const res = await get(url('/function/never'));
  expect([res.status, res.text]).toEqual([504, 'function did not become ready in time\n']);
  expect(res.ms).toBeGreaterThanOrEqual(30_000 - 100);
}, 120_000);

test('an API server restart during a hold: every held request is still answered by the function', async () => {
  await createFunction('phoenix', '2000ms');
  const replies = Promise.all(Array.from({ length: 20 }, () => get(url('/function/phoenix'))));
  await waitUntil(
    async () => ((await (await waker.admin('/status')).json()) as { heldTotal: number }).heldTotal === 20,
    WAIT_MS,
    '20 held',
  );
  await kube.restartApiServer();
  const answered = await replies;
  if (answered.some((r) => r.status !== 200)) {
    // What went wrong, for the CI log: the answers and faas-waker's own account.
    process.stderr.write(`${JSON.stringify(answered.map((r) => `${r.status} ${r.text.trim()}`))}\n`);
    process.stderr.write(
      `${JSON.stringify(
        waker
          .logs()
          .filter((l) => l.level !== 'debug' && l.level !== 'info')
          .slice(-20),
      )}\n`,
    );
  }
  expect(answered.map((r) => r.status)).toEqual(Array(20).fill(200));
}, 120_000);

test('RBAC denial: one clear log line, /readyz stays 503, and a wake answers 502 at once instead of hanging', async () => {
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'faas-waker-kube-')), 'admin-token');
  writeFileSync(tokenFile, 'kube-test-token\n', { mode: 0o600 });
  const denied = await startWaker({
    WAKER_ADMIN_TOKEN_FILE: tokenFile,
    WAKER_PROVIDER: 'kubernetes',
    WAKER_KUBECONFIG: kube.waker.kubeconfig,
    WAKER_NAMESPACES: `${NS},${DENIED_NS}`,
    WAKER_DEFAULT_NAMESPACE: NS,
    WAKER_LOG_LEVEL: 'info',
  });
  try {
    await waitUntil(
      () => Promise.resolve(denied.logs().some((l) => l.event === 'kube.rbac_denied' && l.namespace === DENIED_NS)),
      WAIT_MS,
      'the RBAC log line',
    );
    const line = denied.logs().find((l) => l.event === 'kube.rbac_denied');
    expect(String(line?.msg)).toMatch(/RBAC|Role/);
    expect((await denied.admin('/readyz')).status).toBe(503);
    const woke = await denied.admin(`/wake/hello.${DENIED_NS}`, { method: 'POST', headers: { authorization: 'Bearer kube-test-token' } });
    expect(woke.status).toBe(502);
    expect(await woke.json()).toMatchObject({ status: 'failed', error: 'function provider error' });
    await waitUntil(
      () => Promise.resolve(denied.logs().some((l) => l.event === 'kubernetes.forbidden')),
      WAIT_MS,
      'the 403 log line of the wake',
    );
  } finally {
    await denied.stop('SIGKILL');
  }
});
