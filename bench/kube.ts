/**
 * Kubernetes mode (issue #8): faas-waker with WAKER_PROVIDER=kubernetes against the real control plane
 * (dev/stack/kube.ts, built by scripts/install-kube.mjs), with the shipped RBAC bound to its user, the
 * real Envoy in front, and a local function process on 127.0.0.1 behind Envoy (pod, node and Service IPs
 * of this cluster are fake and never dialed: the Kubernetes objects only decide readiness).
 *
 * A Deployment at 0 replicas with a Service and a kwok ready delay gets a burst of N held requests.
 * The benchmark watches the function's EndpointSlices itself (admin token) and takes the moment the
 * event with a ready endpoint arrives as t0 (or faas-waker's detection of it, when that came first); faas-waker's `wake.ready` line (pino time, ms, and its
 * `releaseMs`), each request's CONTINUE as Envoy received it (its access log: START_TIME + the ext_proc
 * request_header_latency_us) and the clients' first bytes are measured from t0. faas-waker's API calls
 * come from its /metrics (`faas_waker_provider_requests_total{call,status}`), read before and after
 * each wake.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { startEnvoy, type EnvoyProcess } from '../dev/stack/envoy';
import { startKube, type KubeControlPlane, type KubeObject } from '../dev/stack/kube';
import { createFunction, grantShippedRole } from '../dev/stack/kube-objects';
import { startDemoFunction, startWaker, type WakerProcess } from '../dev/stack/processes';
import { epochMs } from './burst';
import type { Driver } from './driver';
import type { BurstRequest } from './loadgen-types';
import { startNoopExtProc } from './noop';
import { accessLogToFile, EXT_PROC_FILTER } from './envoy-config';
import type { KubeProfile } from './profile';
import type { Scope } from './scope';
import { distribution, round } from './stats';
import { pidOf } from './warm';
import { answers, sleep, wakerProblems } from './wake-stats';

const NAMESPACE = 'bench-fns';
const FUNCTION = 'kube-burst';
const KEY = `${FUNCTION}.${NAMESPACE}`;
const SERVICE_LABEL = 'kubernetes.io/service-name';
/** Bounds of the waits between rounds (scale to zero seen, pods gone) and of a burst. */
const SETTLE_TIMEOUT_MS = 30_000;
const BURST_TIMEOUT_MS = 60_000;
/** Envoy's workers: 1 (every scenario's default); 2 shows how much of a burst's release is Envoy's own work. */
const ENVOY_CONCURRENCY = Number(process.env.BENCH_KUBE_ENVOY_CONCURRENCY ?? '1');

/** The release floor's Go server answers this long after the last held request arrived. */
const FLOOR_RELEASE_AFTER_MS = 1_000;
/** API calls are read this long after the last answer, so calls a wake makes just after the release count too. */
const CALLS_SETTLE_MS = 1_000;
/**
 * Envoy's access log, one line per request: when the request started (epoch s, µs), its status, and how
 * long the ext_proc request_headers call took (from the message sent to the CONTINUE received, in µs;
 * faas-waker's intermediate override_message_timeout answer does not end it).
 */
const ACCESS_LOG_FORMAT = `%START_TIME(%s.%6f)% %RESPONSE_CODE% %FILTER_STATE(${EXT_PROC_FILTER}:FIELD:request_header_latency_us)%\n`;

/** faas-waker's API calls, by `call` label (all status classes summed), and by `call status`. */
export interface ApiCalls {
  readonly total: number;
  readonly by_call: Record<string, number>;
  readonly by_call_status: Record<string, number>;
}

/** The EndpointSlice event, seen by the benchmark's own watch, that made the function ready. */
export interface SliceReady {
  readonly slice: string;
  readonly event: string;
  readonly resource_version: string;
  readonly ready_endpoints: number;
  /** Epoch ms (performance.timeOrigin + performance.now()) at which the event reached the benchmark. */
  readonly at_ms: number;
}

/** Per-request release figures, in ms from t0 (the ready event, or the floor's release). */
export interface ReleaseFigures {
  /**
   * t0 → CONTINUE received by Envoy, per held request: Envoy's access log START_TIME + the ext_proc
   * request_header_latency_us − t0; over the requests Envoy started before t0.
   */
  readonly continue_samples: number;
  readonly continue_min_ms: number | null;
  readonly continue_p50_ms: number | null;
  readonly continue_p99_ms: number | null;
  readonly continue_max_ms: number | null;
  /** t0 → first byte at the client, over the requests sent before t0. */
  readonly first_byte_min_ms: number | null;
  readonly first_byte_p50_ms: number | null;
  readonly first_byte_p99_ms: number | null;
  readonly first_byte_max_ms: number | null;
}

export interface KubeRound extends ReleaseFigures {
  readonly n: number;
  /** "first": faas-waker's first wake of this function; "learned": after a scale to zero with the API. */
  readonly wake: 'first' | 'learned';
  readonly round: number;
  /** Learned rounds: the scale to zero made with the API (PATCH answered) → faas-waker's /status shows no ready entry (polled every 10 ms). */
  readonly scale_to_zero_seen_ms: number | null;
  readonly ok: number;
  readonly status_counts: Record<string, number>;
  readonly error_samples: string[];
  /** Requests sent before t0 (held by then, unless they had not reached faas-waker yet). */
  readonly sent_before_ready: number;
  /** Waiters faas-waker released at once (`wake.ready` `waiters`). */
  readonly held_at_release: number | null;
  readonly slice: SliceReady | null;
  /**
   * t0 of the figures below: the earlier sight of the ready event, by the benchmark's watch
   * (`slice.at_ms`) or by faas-waker (its detection, when it came first: then detect_ms < 0).
   */
  readonly t0_from: 'benchmark watch' | 'faas-waker';
  /** wake.start (faas-waker's log time) → t0: scale patch, scheduling, kwok's ready delay, slice update. */
  readonly startup_ms: number | null;
  /** Readiness noticed by faas-waker (wake.ready time − releaseMs) − the event's arrival at the benchmark's watch; < 0: faas-waker saw it first. */
  readonly detect_ms: number | null;
  /** t0 → every CONTINUE written (wake.ready time): the last CONTINUE. */
  readonly release_last_ms: number | null;
  /** faas-waker's own release: noticed → every waiter resolved and every CONTINUE written (`releaseMs`). */
  readonly waker_release_ms: number | null;
  /** faas-waker's API calls from the burst until CALLS_SETTLE_MS after its last answer. */
  readonly api_calls: ApiCalls;
  readonly cpu_pct: Record<string, number>;
  readonly waker_problems: string[];
}

/** Warm requests to the running function: faas-waker's API calls while they run. */
export interface KubeWarm {
  readonly duration_ms: number;
  readonly connections: number;
  /** Requests sent in the window; `ok` counts those answered 2xx inside it (a few in flight at its end are answered after). */
  readonly requests: number;
  readonly ok: number;
  /** Non-2xx answers and transport errors. */
  readonly errors: number;
  readonly status_counts: Record<string, number>;
  readonly error_samples: string[];
  readonly api_calls: ApiCalls;
  /** Status reads and scale patches (what a request could cause); other calls are listed in api_calls. */
  readonly read_or_scale_calls: number;
  readonly cpu_pct: Record<string, number>;
}

/** The release floor (releaseFloor): the same burst, held and released at once by a Go ext_proc server. */
export interface KubeFloor extends ReleaseFigures {
  readonly n: number;
  /** The Go server releases this long after the last of the N arrived (the burst settles first, as in a wake). */
  readonly release_after_ms: number;
  readonly ok: number;
  readonly status_counts: Record<string, number>;
  readonly error_samples: string[];
  readonly sent_before_release: number;
  readonly cpu_pct: Record<string, number>;
}

export interface KubeResult {
  readonly settings: {
    readonly n: number;
    readonly ready_delay_ms: number;
    readonly protocol: string;
    readonly namespace: string;
    readonly function: string;
    readonly control_plane: string;
    /** Envoy worker threads (`--concurrency`); BENCH_KUBE_ENVOY_CONCURRENCY, default 1 like every scenario. */
    readonly envoy_concurrency: number;
  };
  /** startKube() until pods can run (node Ready, default ServiceAccount). */
  readonly plane_start_ms: number;
  readonly rounds: KubeRound[];
  /** Null when it failed; absent in results written before the floor was measured. */
  readonly floor?: KubeFloor | null;
  readonly warm: KubeWarm;
}

interface Setup {
  readonly kube: KubeControlPlane;
  /** Scratch directory (access logs), removed at the end. */
  readonly dir: string;
  readonly fnPort: number;
  readonly accessLog: string;
  readonly waker: WakerProcess;
  readonly envoy: EnvoyProcess;
  readonly origin: string;
  readonly pids: Record<string, number>;
}

export async function runKube(
  profile: KubeProfile,
  wakerEnv: Record<string, string>,
  driver: Driver,
  scope: Scope,
  log: (line: string) => void,
): Promise<KubeResult> {
  const t0 = performance.now();
  const kube = await startKube({ startTimeoutMs: 90_000 });
  scope.add(async () => {
    const t = performance.now();
    await kube.stop();
    log(`kube: control plane stopped in ${Math.round(performance.now() - t)} ms`);
  });
  const planeStartMs = Math.round(performance.now() - t0);
  log(`kube: control plane ready in ${planeStartMs} ms at ${kube.server}`);
  const setup = await prepare(kube, profile, wakerEnv, scope);
  const rounds: KubeRound[] = [];
  for (let roundNo = 0; roundNo <= profile.learnedRounds; roundNo++) {
    const zeroSeenMs = roundNo > 0 ? await scaleToZero(setup) : null;
    const outcome = await burstRound(setup, profile, driver, roundNo, zeroSeenMs);
    log(
      `kube burst n=${profile.n} (${outcome.wake}): ok ${outcome.ok}/${profile.n}, held ${outcome.held_at_release ?? '–'}, slice rv ${outcome.slice?.resource_version ?? '–'}, ` +
        `ready event → detect ${outcome.detect_ms ?? '–'} ms, last CONTINUE ${outcome.release_last_ms ?? '–'} ms, first byte p50 ${outcome.first_byte_p50_ms ?? '–'} p99 ${outcome.first_byte_p99_ms ?? '–'} ms; ` +
        `API calls ${outcome.api_calls.total} (${callsText(outcome.api_calls)})`,
    );
    rounds.push(outcome);
  }
  // A floor that fails is reported as missing: the rounds measured above stay.
  let floor: KubeFloor | null = null;
  try {
    floor = await releaseFloor(setup, profile, driver, scope);
    log(
      `kube release floor n=${floor.n} (Envoy + Go ext_proc releasing at once): ok ${floor.ok}/${floor.n}, CONTINUE at Envoy p50 ${floor.continue_p50_ms ?? '–'} p99 ${floor.continue_p99_ms ?? '–'} ms, ` +
        `first byte p50 ${floor.first_byte_p50_ms ?? '–'} p99 ${floor.first_byte_p99_ms ?? '–'} ms`,
    );
  } catch (err) {
    log(`kube release floor failed (reported as not measured): ${err instanceof Error ? err.message : String(err)}`);
  }
  const warm = await warmCheck(setup, profile, driver);
  log(
    `kube warm: ${warm.ok}/${warm.requests} ok in ${warm.duration_ms} ms, API calls ${warm.api_calls.total} (${callsText(warm.api_calls)})`,
  );
  return {
    settings: {
      n: profile.n,
      ready_delay_ms: profile.readyDelayMs,
      protocol: 'HTTP/1.1, one connection per request',
      namespace: NAMESPACE,
      function: FUNCTION,
      control_plane: 'etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (scripts/install-kube.mjs) on 127.0.0.1',
      envoy_concurrency: ENVOY_CONCURRENCY,
    },
    plane_start_ms: planeStartMs,
    rounds,
    floor,
    warm,
  };
}

export function callsText(calls: ApiCalls): string {
  const parts = Object.entries(calls.by_call).map(([call, count]) => `${call} ${count}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** Namespace, shipped RBAC, the function, then the local function process, faas-waker and Envoy. */
async function prepare(kube: KubeControlPlane, profile: KubeProfile, wakerEnv: Record<string, string>, scope: Scope): Promise<Setup> {
  await expectStatus(
    kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } }),
    201,
    'create the namespace',
  );
  await grantShippedRole(kube, NAMESPACE);
  // A scale-to-zero function: the wake then includes idle tracking and its activity record (counted
  // in api_calls as `activity`); the long zero-duration keeps faas-waker from scaling it down itself.
  await createFunction(kube, NAMESPACE, FUNCTION, {
    readyDelay: `${profile.readyDelayMs}ms`,
    labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h' },
  });
  // faas-waker lists at start: the Service's (empty) EndpointSlice should exist by then, as in a real cluster.
  await until('the EndpointSlice of the Service', SETTLE_TIMEOUT_MS, async () =>
    (await listSlices(kube)).items.length > 0 ? true : undefined,
  );

  const fn = await startDemoFunction('local-function');
  scope.add(() => fn.stop('SIGTERM', 5_000));
  const fnPort = fn.port;
  const waker = await startWaker({
    ...wakerEnv,
    WAKER_PROVIDER: 'kubernetes',
    WAKER_KUBECONFIG: kube.waker.kubeconfig,
    WAKER_NAMESPACES: NAMESPACE,
    WAKER_DEFAULT_NAMESPACE: NAMESPACE,
  });
  scope.add(() => waker.stop('SIGKILL'));
  const dir = mkdtempSync(join(tmpdir(), 'faas-waker-bench-kube-'));
  scope.add(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const accessLog = join(dir, 'access.log');
  const envoy = await startEnvoy({
    grpcPort: waker.grpcPort,
    gatewayPort: fnPort,
    concurrency: ENVOY_CONCURRENCY,
    patch: (doc) => accessLogToFile(doc, accessLog, ACCESS_LOG_FORMAT),
  });
  scope.add(() => envoy.stop());
  await until('faas-waker /readyz (informers synced)', SETTLE_TIMEOUT_MS, async () =>
    (await waker.admin('/readyz')).status === 200 ? true : undefined,
  );
  return {
    kube,
    dir,
    fnPort,
    accessLog,
    waker,
    envoy,
    origin: `http://127.0.0.1:${envoy.port}`,
    pids: { envoy: pidOf(envoy.child), waker: pidOf(waker.child), upstream: pidOf(fn.child), ...controlPlanePids(kube) },
  };
}

/**
 * The control plane's processes (children of this process whose command line names the plane's run
 * directory), by component: their CPU is then charged to them, not to "others" (the noise figure).
 */
function controlPlanePids(kube: KubeControlPlane): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv.some((arg) => arg.includes(kube.runDir))) continue;
      out[basename(argv[0] ?? entry).replace(/-/g, '_')] = Number(entry);
    } catch {
      // exited meanwhile
    }
  }
  if (!('kube_apiserver' in out) || !('etcd' in out))
    throw new Error(`kube: cannot find the control plane's processes under /proc (found: ${Object.keys(out).join(', ') || 'none'})`);
  return out;
}

interface SliceList {
  readonly resourceVersion: string;
  readonly items: KubeObject[];
}

async function listSlices(kube: KubeControlPlane): Promise<SliceList> {
  const res = await kube.request(
    'GET',
    `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices?labelSelector=${encodeURIComponent(`${SERVICE_LABEL}=${FUNCTION}`)}`,
  );
  if (res.status !== 200) throw new Error(`kube: listing EndpointSlices answered ${res.status}: ${res.text}`);
  const body = res.body as { metadata?: { resourceVersion?: string }; items?: KubeObject[] };
  return { resourceVersion: body.metadata?.resourceVersion ?? '', items: body.items ?? [] };
}

/** The same rule as faas-waker's (src/provider/kubernetes/function-state.ts): an endpoint is ready unless its condition says false. */
function readyEndpoints(slice: KubeObject): number {
  const endpoints = (slice as { endpoints?: readonly { conditions?: { ready?: boolean | null } }[] | null }).endpoints ?? [];
  return endpoints.filter((e) => e.conditions?.ready !== false).length;
}

/**
 * Watches the function's EndpointSlices from now (list first, which must show no ready endpoint) and
 * resolves with the first event that carries a ready endpoint. `stop()` ends the watch.
 */
async function watchForReady(setup: Setup): Promise<{ ready: Promise<SliceReady>; stop: () => void }> {
  const { kube } = setup;
  const list = await listSlices(kube);
  const already = list.items.reduce((sum, s) => sum + readyEndpoints(s), 0);
  if (already > 0) throw new Error(`kube: ${KEY} already has ${already} ready endpoint(s) before the burst`);
  // Ended by the round (finally), or by kube.stop() (its dispatcher is destroyed) on error or Ctrl-C.
  const abort = new AbortController();
  const path = `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices?labelSelector=${encodeURIComponent(`${SERVICE_LABEL}=${FUNCTION}`)}`;
  const ready = (async (): Promise<SliceReady> => {
    for await (const event of kube.watch(path, list.resourceVersion, { signal: abort.signal })) {
      if (event.type === 'ERROR') throw new Error(`kube: the EndpointSlice watch failed: ${JSON.stringify(event.object)}`);
      if (event.type !== 'ADDED' && event.type !== 'MODIFIED') continue;
      const count = readyEndpoints(event.object);
      if (count === 0) continue;
      return {
        slice: event.object.metadata?.name ?? '',
        event: event.type,
        resource_version: event.object.metadata?.resourceVersion ?? '',
        ready_endpoints: count,
        at_ms: epochMs(),
      };
    }
    throw new Error('kube: the EndpointSlice watch ended before a ready endpoint was seen');
  })();
  ready.catch(() => undefined); // awaited by the caller; never an unhandled rejection meanwhile
  return { ready, stop: () => abort.abort() };
}

async function burstRound(
  setup: Setup,
  profile: KubeProfile,
  driver: Driver,
  roundNo: number,
  zeroSeenMs: number | null,
): Promise<KubeRound> {
  const n = profile.n;
  const watch = await watchForReady(setup);
  try {
    const callsBefore = await apiCalls(setup.waker);
    const logFrom = accessLogLines(setup.accessLog).length;
    const since = Date.now();
    const { result, cpu } = await driver.burst(
      {
        mode: 'burst',
        origin: setup.origin,
        paths: Array.from({ length: n }, () => `/function/${FUNCTION}`),
        protocol: 'h1',
        streamsPerConnection: 1,
        timeoutMs: BURST_TIMEOUT_MS,
      },
      setup.pids,
    );
    const slice = await Promise.race([watch.ready, sleep(5_000).then(() => null)]);
    if (slice === null) throw new Error(`kube: the burst ended but the benchmark's watch saw no ready endpoint for ${KEY} within 5 s`);
    const ready = await until('the wake.ready line', 5_000, () => Promise.resolve(wakeReady(setup.waker.logs(), since)));
    await sleep(CALLS_SETTLE_MS);
    const calls = callsDelta(callsBefore, await apiCalls(setup.waker));
    const start = wakeStart(setup.waker.logs(), since);
    // t0: the earliest sight of the ready event. The benchmark's watch and faas-waker's get it from the
    // same API server; on a busy machine either can be scheduled late, and the event cannot have been
    // sent after either saw it, so the earlier of the two is used (figures from t0 are never flattered).
    const detectedAt = ready.loggedAtMs - ready.releaseMs;
    const t0 = Math.min(slice.at_ms, detectedAt);
    const answeredCount = result.requests.filter((r) => r.error === null && r.status > 0).length;
    const entries = await accessLogFrom(setup.accessLog, logFrom, answeredCount);
    const figures = releaseFigures(entries, result.requests, t0);
    return {
      n,
      wake: roundNo === 0 ? 'first' : 'learned',
      round: roundNo,
      scale_to_zero_seen_ms: zeroSeenMs,
      ...answers(result.requests),
      sent_before_ready: result.requests.filter((r) => r.sentAtMs < t0).length,
      t0_from: slice.at_ms <= detectedAt ? 'benchmark watch' : 'faas-waker',
      held_at_release: ready.waiters,
      slice,
      startup_ms: start === null ? null : round(t0 - start, 0),
      detect_ms: round(detectedAt - slice.at_ms, 1),
      release_last_ms: round(ready.loggedAtMs - t0, 1),
      waker_release_ms: ready.releaseMs,
      ...figures,
      api_calls: calls,
      cpu_pct: cpu,
      waker_problems: wakerProblems(setup.waker.logs(), since),
    };
  } finally {
    watch.stop();
  }
}

/** Envoy's access log lines from line `from` on, once there is one for each of `count` answered requests. */
function accessLogFrom(path: string, from: number, count: number): Promise<AccessLogEntry[]> {
  // Every answered request gets its access-log line when it ends; Envoy flushes every 100 ms.
  return until(`Envoy's access log (${count} lines)`, 5_000, () => {
    const lines = accessLogLines(path).slice(from);
    return Promise.resolve(lines.length >= count ? lines : undefined);
  });
}

/**
 * CONTINUE as Envoy received it (START_TIME + ext_proc request_header_latency_us) over the requests
 * Envoy started before t0, and first bytes at the clients over the requests sent before t0, in ms from t0.
 */
function releaseFigures(entries: readonly AccessLogEntry[], requests: readonly BurstRequest[], t0: number): ReleaseFigures {
  const held = requests.filter((r) => r.sentAtMs < t0 && r.status === 200 && r.error === null && r.firstByteAtMs !== null);
  const firstBytes = held.map((r) => (r.firstByteAtMs ?? 0) - t0);
  const continues = entries.flatMap((e) =>
    e.startMs < t0 && e.status === 200 && e.extProcUs !== null ? [e.startMs + e.extProcUs / 1000 - t0] : [],
  );
  if (continues.length === 0)
    throw new Error(
      `kube: Envoy's access log has no ext_proc request_header_latency_us for the held requests (format ${JSON.stringify(ACCESS_LOG_FORMAT)}); first lines: ${entries
        .slice(0, 3)
        .map((e) => e.raw)
        .join(' | ')}`,
    );
  const fb = distribution(firstBytes);
  const cont = distribution(continues);
  return {
    continue_samples: continues.length,
    continue_min_ms: round(cont.min, 1),
    continue_p50_ms: round(cont.p50, 1),
    continue_p99_ms: round(cont.p99, 1),
    continue_max_ms: round(cont.max, 1),
    first_byte_min_ms: round(fb.min, 1),
    first_byte_p50_ms: round(fb.p50, 1),
    first_byte_p99_ms: round(fb.p99, 1),
    first_byte_max_ms: round(fb.max, 1),
  };
}

/**
 * The release floor: the same burst through a second Envoy (same config, same function process)
 * whose ext_proc server is the Go no-op holding every request and answering all of them at once
 * (bench/noop-extproc -hold): what Envoy, the function and the clients need to release N held
 * requests on this machine, with no faas-waker and no API server in the way. t0 = the Go server's
 * release.
 */
async function releaseFloor(setup: Setup, profile: KubeProfile, driver: Driver, scope: Scope): Promise<KubeFloor> {
  const n = profile.n;
  const noop = await startNoopExtProc(scope, { n, releaseAfterMs: FLOOR_RELEASE_AFTER_MS });
  const accessLog = join(setup.dir, 'floor-access.log');
  const envoy = await startEnvoy({
    grpcPort: noop.grpcPort,
    gatewayPort: setup.fnPort,
    concurrency: ENVOY_CONCURRENCY,
    patch: (doc) => accessLogToFile(doc, accessLog, ACCESS_LOG_FORMAT),
  });
  scope.add(() => envoy.stop()); // also stopped below; a second stop is a no-op
  try {
    const { envoy: _faasWakerEnvoy, waker: _waker, ...others } = setup.pids;
    const { result, cpu } = await driver.burst(
      {
        mode: 'burst',
        origin: `http://127.0.0.1:${envoy.port}`,
        paths: Array.from({ length: n }, () => `/function/${FUNCTION}`),
        protocol: 'h1',
        streamsPerConnection: 1,
        timeoutMs: BURST_TIMEOUT_MS,
      },
      { envoy: pidOf(envoy.child), noop_extproc: pidOf(noop.child), ...others },
    );
    // Printed before the first answer left; read with a bound all the same (its pipe and the answers race).
    const t0 = await until(`noop-extproc's release line (${n} held)`, 5_000, () => Promise.resolve(noop.releases()[0]));
    const answeredCount = result.requests.filter((r) => r.error === null && r.status > 0).length;
    const entries = await accessLogFrom(accessLog, 0, answeredCount);
    return {
      n,
      release_after_ms: FLOOR_RELEASE_AFTER_MS,
      ...answers(result.requests),
      sent_before_release: result.requests.filter((r) => r.sentAtMs < t0).length,
      ...releaseFigures(entries, result.requests, t0),
      cpu_pct: cpu,
    };
  } finally {
    await envoy.stop();
    await noop.child.stop('SIGTERM', 3_000);
  }
}

/**
 * Scale to zero with the API, as an operator would; then wait until faas-waker's cache is empty and the
 * pod is gone. Returns the ms from the PATCH's answer until /status showed no ready entry.
 */
async function scaleToZero(setup: Setup): Promise<number> {
  const { kube, waker } = setup;
  await expectStatus(
    kube.request('PATCH', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${FUNCTION}/scale`, {
      body: { spec: { replicas: 0 } },
      contentType: 'application/merge-patch+json',
    }),
    200,
    'scale to zero',
  );
  const patched = performance.now();
  const seen = await until(
    'faas-waker /status: the ready entry dropped (by the watch)',
    SETTLE_TIMEOUT_MS,
    async () => {
      const status = (await (await waker.admin('/status')).json()) as { cache?: { ready?: number } };
      return status.cache?.ready === 0 ? performance.now() : undefined;
    },
    10,
  );
  await until(`no pod and no ready endpoint left for ${KEY}`, SETTLE_TIMEOUT_MS, async () => {
    const pods = await kube.request('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${encodeURIComponent(`app=${FUNCTION}`)}`);
    const podCount = (pods.body as { items?: unknown[] }).items?.length ?? -1;
    const ready = (await listSlices(kube)).items.reduce((sum, s) => sum + readyEndpoints(s), 0);
    return podCount === 0 && ready === 0 ? true : undefined;
  });
  return Math.round(seen - patched);
}

async function warmCheck(setup: Setup, profile: KubeProfile, driver: Driver): Promise<KubeWarm> {
  const before = await apiCalls(setup.waker);
  const { result, cpu } = await driver.load(
    {
      mode: 'closed',
      origin: setup.origin,
      path: `/function/${FUNCTION}`,
      connections: profile.warmConnections,
      warmupMs: 0,
      durationMs: profile.warmMs,
      timeoutMs: 10_000,
    },
    setup.pids,
  );
  const calls = callsDelta(before, await apiCalls(setup.waker));
  return {
    duration_ms: profile.warmMs,
    connections: profile.warmConnections,
    requests: result.sent,
    ok: result.ok,
    errors: result.errors,
    status_counts: result.statusCounts,
    error_samples: result.errorSamples,
    api_calls: calls,
    read_or_scale_calls: (calls.by_call.status ?? 0) + (calls.by_call.scale ?? 0),
    cpu_pct: cpu,
  };
}

interface AccessLogEntry {
  readonly startMs: number;
  readonly status: number;
  /** ext_proc request_headers call, µs; null when Envoy logged "-" (no call). */
  readonly extProcUs: number | null;
  readonly raw: string;
}

/** Every complete line of the access log so far (ACCESS_LOG_FORMAT). */
function accessLogLines(path: string): AccessLogEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return []; // not written yet
  }
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline: empty, or a line not complete yet
  return lines.map((raw) => {
    const [start, status, latency] = raw.trim().split(' ');
    const us = Number(latency);
    return {
      startMs: Number(start) * 1000,
      status: Number(status),
      extProcUs: latency === undefined || latency === '-' || !Number.isFinite(us) ? null : us,
      raw,
    };
  });
}

/** faas-waker's provider call counters from its /metrics, by `call status`. */
async function apiCalls(waker: WakerProcess): Promise<Record<string, number>> {
  const res = await waker.admin('/metrics');
  if (res.status !== 200) throw new Error(`faas-waker /metrics answered ${res.status}`);
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    // Activity-record writes of idle tracking are API calls too: `activity <result>`.
    const activity = line.startsWith('faas_waker_activity_writes_total{');
    if (!activity && !line.startsWith('faas_waker_provider_requests_total{')) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const call = activity ? 'activity' : (/call="([^"]*)"/.exec(labels)?.[1] ?? '?');
    const status = (activity ? /result="([^"]*)"/ : /status="([^"]*)"/).exec(labels)?.[1] ?? '?';
    const value = Number(line.slice(line.lastIndexOf('}') + 1).trim());
    if (Number.isFinite(value)) out[`${call} ${status}`] = (out[`${call} ${status}`] ?? 0) + value;
  }
  return out;
}

function callsDelta(before: Record<string, number>, after: Record<string, number>): ApiCalls {
  const byCallStatus: Record<string, number> = {};
  const byCall: Record<string, number> = {};
  let total = 0;
  for (const [key, value] of Object.entries(after)) {
    const change = value - (before[key] ?? 0);
    if (change === 0) continue;
    byCallStatus[key] = change;
    const call = key.split(' ')[0] ?? key;
    byCall[call] = (byCall[call] ?? 0) + change;
    total += change;
  }
  return { total, by_call: byCall, by_call_status: byCallStatus };
}

/** The last `wake.ready` line of the function at or after `sinceMs`: pino time (epoch ms), releaseMs, waiters. */
function wakeReady(
  logs: readonly Record<string, unknown>[],
  sinceMs: number,
): { loggedAtMs: number; releaseMs: number; waiters: number | null } | undefined {
  let found: { loggedAtMs: number; releaseMs: number; waiters: number | null } | undefined;
  for (const line of logs) {
    if (line.event !== 'wake.ready' || line.fn !== KEY || typeof line.time !== 'string') continue;
    const t = Date.parse(line.time);
    if (!Number.isFinite(t) || t < sinceMs) continue;
    found = {
      loggedAtMs: t,
      releaseMs: typeof line.releaseMs === 'number' ? line.releaseMs : 0,
      waiters: typeof line.waiters === 'number' ? line.waiters : null,
    };
  }
  return found;
}

function wakeStart(logs: readonly Record<string, unknown>[], sinceMs: number): number | null {
  for (const line of logs) {
    if (line.event !== 'wake.start' || line.fn !== KEY || typeof line.time !== 'string') continue;
    const t = Date.parse(line.time);
    if (Number.isFinite(t) && t >= sinceMs) return t;
  }
  return null;
}

async function expectStatus(response: Promise<{ status: number; text: string }>, status: number, what: string): Promise<void> {
  const res = await response;
  if (res.status !== status) throw new Error(`kube: ${what} answered ${res.status} (expected ${status}): ${res.text.slice(0, 300)}`);
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline)
      throw new Error(`kube bench: timed out after ${timeoutMs} ms waiting for ${what}${last === '' ? '' : ` (last error: ${last})`}`);
    await sleep(everyMs);
  }
}
