/**
 * Idle scale-to-zero end to end (issue #8): the real Envoy (allow_mode_override, so a tracked request's
 * ext_proc stream stays open until the request is over), two faas-waker processes as replicas of one
 * another (traffic only through the first), one with WAKER_IDLE_SCALE_DOWN=false on its own namespace,
 * and a real control plane with the shipped RBAC. Short durations: zero-duration 3s, write interval
 * 500ms (fence 1 s). Every "never scaled" check uses a positive control, scaled down in the same window,
 * as its clock. Envoy forwards to a local function process on 127.0.0.1; no fake pod IP is ever dialed.
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { startEnvoy, type EnvoyProcess } from '../../dev/stack/envoy';
import { startKube, type KubeControlPlane } from '../../dev/stack/kube';
import { startDemoFunction, startWaker, wakerMetric, type DemoFunction, type WakerProcess } from '../../dev/stack/processes';
import { INTENT_ANNOTATION, intentValue, kubeDeploymentWriter } from '../../src/idle/coordination';
import { createLogger } from '../../src/logging';
import { createKubeClient } from '../../src/provider/kubernetes/kube-client';
import { loadKubeConnection } from '../../src/provider/kubernetes/kube-config';
import { functionRef } from '../../src/routing/function-ref';
import { agent, get, waitUntil } from '../e2e/http';
import { createFunction as createKubeFunction, grantShippedRole } from '../../dev/stack/kube-objects';

jest.setTimeout(180_000);

const NS = 'idle';
const OFF_NS = 'idle-off';
const WAIT_MS = 60_000;
const IDLE_MS = 3_000;
const ZERO_LABELS = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '3s' };

let kube: KubeControlPlane;
let fnProcess: DemoFunction;
let serving: WakerProcess; // replica "serving": all traffic of NS goes through it
let other: WakerProcess; // replica "other": same namespace, no traffic
let off: WakerProcess; // WAKER_IDLE_SCALE_DOWN=false, namespace OFF_NS
let envoy: EnvoyProcess;
let offEnvoy: EnvoyProcess;
const url = (path: string): string => `http://127.0.0.1:${envoy.port}${path}`;

const idleEnv = (id: string, namespace: string): Record<string, string> => ({
  WAKER_PROVIDER: 'kubernetes',
  WAKER_KUBECONFIG: kube.waker.kubeconfig,
  WAKER_NAMESPACES: namespace,
  WAKER_DEFAULT_NAMESPACE: namespace,
  WAKER_HOLD_TIMEOUT: '30s', // WAKER_READY_TTL: the Kubernetes default (1 h)
  WAKER_ACTIVITY_WRITE_INTERVAL: '500ms',
  WAKER_REPLICA_ID: id,
  WAKER_LOG_LEVEL: 'debug',
});

beforeAll(async () => {
  kube = await startKube();
  for (const name of [NS, OFF_NS]) {
    expect(
      (await kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } })).status,
    ).toBe(201);
    await grantShippedRole(kube, name);
  }
  fnProcess = await startDemoFunction('local-function');
  const fnPort = fnProcess.port;
  [serving, other, off] = await Promise.all([
    startWaker(idleEnv('serving', NS)),
    startWaker(idleEnv('other', NS)),
    startWaker({ ...idleEnv('off', OFF_NS), WAKER_IDLE_SCALE_DOWN: 'false' }),
  ]);
  [envoy, offEnvoy] = await Promise.all([
    startEnvoy({ grpcPort: serving.grpcPort, gatewayPort: fnPort }),
    startEnvoy({ grpcPort: off.grpcPort, gatewayPort: fnPort }),
  ]);
  for (const w of [serving, other, off])
    await waitUntil(async () => (await w.admin('/readyz')).status === 200, WAIT_MS, 'faas-waker ready (informers synced)');
}, 240_000);

afterEach(() => {
  // For the CI log when something failed: what the replicas said about idle scale-down.
  if ((process.env.IDLE_DEBUG ?? '') === '') return;
  for (const w of [serving, other])
    process.stderr.write(
      `${JSON.stringify(
        w
          ?.logs()
          .filter((l) => String(l.event).startsWith('idle.') || l.level === 'warn' || l.level === 'error')
          .slice(-40),
      )}\n`,
    );
});

afterAll(async () => {
  await Promise.all([envoy?.stop(), offEnvoy?.stop()]);
  await Promise.all([serving?.stop('SIGKILL'), other?.stop('SIGKILL'), off?.stop('SIGKILL')]);
  await fnProcess?.stop('SIGTERM', 5_000);
  await agent.close();
  await kube?.stop();
}, 60_000);

/** A function at 0 replicas with its Service; `labels` added to the Deployment (e.g. the scale-zero ones). */
const createFunction = (name: string, labels: Record<string, string>, namespace = NS, replicas = 0): Promise<void> =>
  createKubeFunction(kube, namespace, name, { readyDelay: '200ms', replicas, labels });

interface DeploymentState {
  readonly replicas: number;
  readonly annotations: Record<string, string>;
}

async function deployment(name: string, namespace = NS): Promise<DeploymentState> {
  const res = await kube.request('GET', `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`);
  const body = res.body as { spec?: { replicas?: number }; metadata?: { annotations?: Record<string, string> } };
  return { replicas: body.spec?.replicas ?? -1, annotations: body.metadata?.annotations ?? {} };
}

const replicas = async (name: string, namespace = NS): Promise<number> => (await deployment(name, namespace)).replicas;

const metric = wakerMetric;

const scaledDownLines = (w: WakerProcess, fn: string): Record<string, unknown>[] =>
  w.logs().filter((l) => l.event === 'idle.scaled_down' && l.fn === `${fn}.${NS}`);

/**
 * The `idle.scaled_down` lines of both replicas once at least one is there: the API server shows the
 * Deployment at 0 before the replica that patched it has read the answer and logged it.
 */
async function scaleDownsLogged(fn: string): Promise<Record<string, unknown>[]> {
  const all = (): Record<string, unknown>[] => [...scaledDownLines(serving, fn), ...scaledDownLines(other, fn)];
  await waitUntil(() => Promise.resolve(all().length > 0), WAIT_MS, `the idle.scaled_down line for ${fn}`);
  return all();
}

/** Wakes a function with one request through `base` (an Envoy), until it answers 200. */
async function wake(name: string, base = url('')): Promise<void> {
  const res = await get(`${base}/function/${name}`);
  expect(res.status).toBe(200);
}

/** Wall-clock time (ms) at which `name` is seen at 0 replicas. */
async function untilZero(name: string): Promise<number> {
  await waitUntil(async () => (await replicas(name)) === 0, WAIT_MS, `${name} scaled to zero`);
  return Date.now();
}

/** A POST whose body the test streams: in flight until `finish()`. */
function slowUpload(path: string): { chunk(): void; finish(): Promise<{ status: number; body: string }> } {
  let req: ClientRequest | undefined;
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req = httpRequest(url(path), { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
  return {
    chunk: () => void req?.write(Buffer.alloc(1024, 1)),
    finish: () => {
      req?.end();
      return answer;
    },
  };
}

test('idle after its zero-duration and not before: a slow request in flight past the idle time keeps it up', async () => {
  await createFunction('upload', ZERO_LABELS);
  await createFunction('control-a', ZERO_LABELS);
  await wake('upload');
  await wake('control-a');
  const upload = slowUpload('/function/upload');
  upload.chunk();
  await waitUntil(async () => (await metric(serving, 'faas_waker_requests_in_flight')) === 1, WAIT_MS, 'the upload tracked in flight');
  // Keep the upload going until the control (woken at the same time, no traffic since) went to zero,
  // and then past one more idle time: the upload's function must still be up.
  let chunks = 1;
  const pump = setInterval(() => {
    upload.chunk();
    chunks++;
  }, 250);
  try {
    const controlDown = await untilZero('control-a');
    await waitUntil(() => Promise.resolve(Date.now() - controlDown >= IDLE_MS + 1_500), WAIT_MS, 'one more idle time');
    expect(await replicas('upload')).toBe(1);
  } finally {
    clearInterval(pump);
  }
  const done = await upload.finish();
  const ended = Date.now();
  expect(done.status).toBe(200);
  expect((JSON.parse(done.body) as { bodyBytes: number }).bodyBytes).toBe(chunks * 1024);
  const down = await untilZero('upload');
  // Not before the idle time counted from the request's end (our clock sees the end a little after Envoy).
  expect(down - ended).toBeGreaterThanOrEqual(IDLE_MS - 250);
  const lines = await scaleDownsLogged('upload');
  expect(lines).toHaveLength(1);
  expect(Number(lines[0]?.idleMs)).toBeGreaterThanOrEqual(IDLE_MS);
  expect(lines[0]?.replica).toMatch(/^(serving|other)$/);
  expect(await metric(serving, 'faas_waker_requests_in_flight')).toBe(0);
  // Counted just before each line is logged: with both lines read, both scale-downs are in the metrics.
  expect(await scaleDownsLogged('control-a')).toHaveLength(1);
  const scaled =
    (await metric(serving, 'faas_waker_idle_scale_downs_total{result="scaled"}')) +
    (await metric(other, 'faas_waker_idle_scale_downs_total{result="scaled"}'));
  expect(scaled).toBe(2); // control-a and upload
});

test('a function without com.openfaas.scale.zero=true is never scaled down (its control, woken with it, is)', async () => {
  await createFunction('plain-fn', {});
  await createFunction('control-b', ZERO_LABELS);
  await Promise.all([wake('plain-fn'), wake('control-b')]);
  const controlDown = await untilZero('control-b');
  // The control had the same idle time; give plain-fn one more idle time than the control needed.
  await waitUntil(() => Promise.resolve(Date.now() - controlDown >= IDLE_MS), WAIT_MS, 'one more idle time');
  const plain = await deployment('plain-fn');
  expect(plain.replicas).toBe(1);
  expect(Object.keys(plain.annotations).filter((k) => k.startsWith('faas-waker/'))).toEqual([]);
});

test('two replicas, traffic only through one: the other never scales it down while traffic flows; it goes to zero once traffic stops', async () => {
  await createFunction('steady', ZERO_LABELS);
  await createFunction('control-c', ZERO_LABELS);
  await Promise.all([wake('steady'), wake('control-c')]);
  const answers: { status: number; cold: boolean }[] = [];
  let controlDown: number | undefined;
  // A request every 300 ms until the control went to zero and one more idle time passed after it.
  for (let i = 0; i < 1_000; i++) {
    const res = await get(url('/function/steady'));
    answers.push({ status: res.status, cold: seenCold(res.text) !== undefined });
    controlDown ??= (await replicas('control-c')) === 0 ? Date.now() : undefined;
    if (controlDown !== undefined && Date.now() - controlDown >= IDLE_MS + 1_000) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  expect(controlDown).toBeDefined();
  expect(answers.every((a) => a.status === 200 && !a.cold)).toBe(true);
  expect(scaledDownLines(other, 'steady')).toEqual([]);
  expect(scaledDownLines(serving, 'steady')).toEqual([]);
  expect((await deployment('steady')).annotations['faas-waker/last-activity-by']).toBe('serving');
  const stopped = Date.now();
  const down = await untilZero('steady');
  expect(down - stopped).toBeGreaterThanOrEqual(IDLE_MS - 300 - 250);
  // Either replica may be the one that scaled it; exactly one did.
  expect(await scaleDownsLogged('steady')).toHaveLength(1);
  // And the next request wakes it again through the serving replica, as a cold start.
  const again = await get(url('/function/steady'));
  expect([again.status, seenCold(again.text)]).toEqual([200, 'true']);
});

test('WAKER_IDLE_SCALE_DOWN=false: a labelled function is never scaled down (the other namespace control is)', async () => {
  await createFunction('kept', ZERO_LABELS, OFF_NS);
  await createFunction('control-d', ZERO_LABELS);
  await Promise.all([wake('kept', `http://127.0.0.1:${offEnvoy.port}`), wake('control-d')]);
  const controlDown = await untilZero('control-d');
  await waitUntil(() => Promise.resolve(Date.now() - controlDown >= IDLE_MS), WAIT_MS, 'one more idle time');
  const kept = await deployment('kept', OFF_NS);
  expect(kept.replicas).toBe(1);
  expect(Object.keys(kept.annotations).filter((k) => k.startsWith('faas-waker/'))).toEqual([]);
  expect(off.logs().some((l) => l.event === 'idle.enabled')).toBe(false);
  expect(serving.logs().some((l) => l.event === 'idle.enabled')).toBe(true);
});

test('a request that arrives while a scale-down intent is live waits for its own activity record, is served, and the intent is void', async () => {
  // Up without any request through faas-waker (so no replica objects by itself), idle time 1 h (so
  // nobody scales it down for real).
  await createFunction('contested', { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h' }, NS, 1);
  await waitUntil(
    async () => {
      const res = await kube.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/contested`);
      return (res.body as { status?: { availableReplicas?: number } }).status?.availableReplicas === 1;
    },
    WAIT_MS,
    'contested available',
  );
  // Another replica ("ghost", which never acts on it) announces a scale-down, as the protocol writes it.
  const intent = `ghost@${new Date().toISOString()}`;
  const patch = await kube.request('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/contested`, {
    body: { metadata: { annotations: { 'faas-waker/scale-down': intent } } },
    contentType: 'application/merge-patch+json',
  });
  expect(patch.status).toBe(200);
  await waitUntil(
    () => Promise.resolve(serving.logs().some((l) => l.event === 'idle.intent_seen' && l.fn === `contested.${NS}`)),
    WAIT_MS,
    'serving saw the intent',
  );
  const res = await get(url('/function/contested'));
  expect(res.status).toBe(200);
  // Logged before the CONTINUE, but its pipe and Envoy's answer reach this process in either order.
  await waitUntil(
    () => Promise.resolve(serving.logs().some((l) => l.event === 'idle.confirm' && l.fn === `contested.${NS}` && l.intent === intent)),
    WAIT_MS,
    'the idle.confirm line for contested',
  );
  // Its own activity write landed before it was let through, and deleted the intent with it.
  const after = await deployment('contested');
  expect(after.annotations['faas-waker/scale-down']).toBeUndefined();
  expect(after.annotations['faas-waker/last-activity-by']).toBe('serving');
  expect(after.replicas).toBe(1);
  expect(serving.logs().some((l) => l.event === 'idle.objection' && l.fn === `contested.${NS}`)).toBe(false);
});

test("the protocol's writes as the real API server answers them, with the shipped RBAC: conditions hold and fail as designed", async () => {
  await createFunction('writes', {}, NS, 1); // not a scale-zero function: no replica acts on it meanwhile
  const client = createKubeClient(
    loadKubeConnection({ kubeconfig: kube.waker.kubeconfig, env: {}, readFile: (p) => readFileSync(p, 'utf8') }),
    { timeoutMs: 10_000 },
  );
  try {
    const writer = kubeDeploymentWriter(client, createLogger('silent'));
    const fn = functionRef('writes', NS);
    /**
     * An intent on the Deployment as it is now. The Deployment controller is still writing the status of
     * this new Deployment (each write a new resourceVersion), so a precondition read a moment ago may
     * already be stale: that is a conflict, as designed; read again (a few times at most).
     */
    const intendAt = async (): Promise<Date> => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const current = (await kube.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/writes`)).body as {
          metadata: { resourceVersion: string };
        };
        const at = new Date();
        const result = await writer.intent(fn, 'probe', at, current.metadata.resourceVersion);
        if (result.kind === 'ok') return at;
        expect(result.kind).toBe('conflict');
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the intent never went through');
    };
    const first = await writer.activity(fn, 'probe', new Date());
    if (first.kind !== 'ok') throw new Error(`activity write: ${first.kind}`);
    expect(first.replicas).toBe(1);
    const stale = await writer.intent(fn, 'probe', new Date(), String(Number(first.resourceVersion) - 1));
    expect(stale.kind).toBe('conflict');
    const at = await intendAt();
    expect((await deployment('writes')).annotations[INTENT_ANNOTATION]).toBe(intentValue('probe', at));
    // Someone else's intent, or replicas that changed: the JSON patch test fails, nothing is written.
    expect((await writer.scaleToZero(fn, 'probe', new Date(), intentValue('other', at), 1)).kind).toBe('conflict');
    expect((await writer.scaleToZero(fn, 'probe', new Date(), intentValue('probe', at), 3)).kind).toBe('conflict');
    expect(await replicas('writes')).toBe(1);
    // Activity deletes the intent: the right scale write now fails too.
    expect((await writer.activity(fn, 'probe', new Date())).kind).toBe('ok');
    expect((await writer.scaleToZero(fn, 'probe', new Date(), intentValue('probe', at), 1)).kind).toBe('conflict');
    // Intent again, nothing in between: scaled, intent gone, who did it recorded.
    const again = await intendAt();
    const scaled = await writer.scaleToZero(fn, 'probe', new Date(), intentValue('probe', again), 1);
    expect(scaled).toMatchObject({ kind: 'ok', replicas: 0 });
    const after = await deployment('writes');
    expect([
      after.replicas,
      after.annotations[INTENT_ANNOTATION],
      after.annotations['faas-waker/scaled-down']?.startsWith('probe@'),
    ]).toEqual([0, undefined, true]);
    // Outside the granted namespace: denied, said as such.
    expect((await writer.activity(functionRef('writes', 'default'), 'probe', new Date())).kind).toBe('denied');
  } finally {
    await client.close();
  }
});

test('an API server restart: requests to a warm scale-to-zero function keep being answered (no write can be waited for)', async () => {
  await createFunction('sturdy', { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h' });
  await wake('sturdy');
  const answers: number[] = [];
  let restarting = true;
  const traffic = (async () => {
    while (restarting) {
      answers.push((await get(url('/function/sturdy'))).status);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const recovered = (): number =>
    serving.logs().filter((l) => l.event === 'kube.informer.recovered' && l.resource === 'deployments.apps').length;
  const recoveredBefore = recovered();
  try {
    await kube.restartApiServer();
    // And until the deployments watch is back: requests made while it was down took the confirmation path.
    await waitUntil(() => Promise.resolve(recovered() > recoveredBefore), WAIT_MS, 'serving watching deployments again');
  } finally {
    restarting = false;
    await traffic;
  }
  expect(answers.length).toBeGreaterThan(5);
  // If this ever fails, the lines that say why (a 503 was once seen in a fresh-clone run).
  if (answers.some((s) => s !== 200))
    console.log(
      serving
        .logs()
        .filter((l) => l.fn === `sturdy.${NS}` || l.level === 'warn' || l.level === 'error')
        .slice(-40),
    );
  expect(answers.filter((s) => s !== 200)).toEqual([]);
  await waitUntil(
    () => Promise.resolve(serving.logs().some((l) => l.event === 'idle.confirm' && l.fn === `sturdy.${NS}`)),
    WAIT_MS,
    'the idle.confirm line for sturdy',
  );
});

/** The cold-start header as the function received it (it echoes request headers). */
function seenCold(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { headers: Record<string, string> }).headers['x-faas-waker-cold-start'];
  } catch {
    return undefined;
  }
}
