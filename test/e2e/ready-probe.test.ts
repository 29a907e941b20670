import { request } from 'undici';
import { startEnvoy, type EnvoyProcess } from '../../dev/stack/envoy';
import { startProvider, startWaker, type ProviderProcess, type WakerProcess } from '../../dev/stack/processes';
import type { FunctionStats } from '../../dev/provider/provider';
import { agent, waitUntil } from './http';

/**
 * "No failed first request", end to end with the real Envoy: two functions that report their replica
 * before they accept connections (plus their process start-up): `probed` 500 ms before (issue #9's
 * figure), `unprobed` 2 s (see UNPROBED_LISTEN_DELAY_MS). During that gap the gateway (the local
 * provider) answers 500 "Can't reach service for: NAME.", as OpenFaaS's faas-provider proxy does when
 * the function's connection is refused.
 * `probed` has a ready path (com.openfaas.ready.http.path), so faas-waker probes it through the
 * gateway (WAKER_READY_PROBE_URL) before releasing anyone; `unprobed` has none, so it is released on
 * "replicas ready" alone. Same Envoy config (the shipped one), same faas-waker, same burst.
 *
 * The stack is composed here rather than with startStack: the probe URL names the provider's
 * ephemeral port, known only once the provider runs.
 */
let provider: ProviderProcess;
let waker: WakerProcess | undefined;
let envoy: EnvoyProcess | undefined;

const BURST = 100;
/** The probed function's gap between "replica available" and "accepting connections". */
const LISTEN_DELAY_MS = 500;
/** The control's gap: long enough that even a waker slowed by a loaded machine releases its burst inside it. */
const UNPROBED_LISTEN_DELAY_MS = 2_000;
const gatewayFailure = (name: string): string => `500 Can't reach service for: ${name}.`;

beforeAll(async () => {
  const echo = process.env.STACK_ECHO === '1';
  provider = await startProvider(
    [
      '--function',
      `probed:500:listen-delay=${LISTEN_DELAY_MS}`,
      '--function-annotation',
      'probed:com.openfaas.ready.http.path=/_/ready',
      '--function',
      `unprobed:500:listen-delay=${UNPROBED_LISTEN_DELAY_MS}`,
    ],
    echo,
  );
  waker = await startWaker(
    {
      WAKER_PROVIDER_URL: provider.url,
      // Through the gateway, like the released requests: what the probe sees is what they will see.
      WAKER_READY_PROBE_URL: `http://127.0.0.1:${provider.port}/function/{name}.{namespace}{path}`,
      WAKER_HOLD_TIMEOUT: '15s',
      WAKER_WAKE_TIMEOUT: '15s',
      WAKER_READY_TTL: '30s',
      WAKER_LOG_LEVEL: 'debug',
    },
    echo,
  );
  envoy = await startEnvoy({ grpcPort: waker.grpcPort, gatewayPort: provider.port, echo });
}, 60_000);

afterAll(async () => {
  await envoy?.stop();
  await waker?.stop('SIGKILL');
  await provider?.stop();
  await agent.close();
});

interface Answer {
  readonly status: number;
  readonly text: string;
}

async function post(path: string, body: string): Promise<Answer> {
  if (envoy === undefined) throw new Error('no envoy');
  const res = await request(`http://127.0.0.1:${envoy.port}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    dispatcher: agent,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/** 100 concurrent first POSTs to a sleeping function, each with its own body. */
function burst(name: string): Promise<Answer[]> {
  return Promise.all(Array.from({ length: BURST }, (_, i) => post(`/function/${name}/orders`, JSON.stringify({ order: i }))));
}

const statsOf = (key: string): Promise<FunctionStats> => provider.functionStats(key);

/** The function's own answer (dev/function echoes what it received), or undefined for anything else. */
function functionAnswer(answer: Answer): { function: string; method: string; path: string; bodyBytes: number } | undefined {
  if (answer.status !== 200) return undefined;
  try {
    return JSON.parse(answer.text) as { function: string; method: string; path: string; bodyBytes: number };
  } catch {
    return undefined;
  }
}

const probeLines = (fn: string): Record<string, unknown>[] =>
  (waker?.logs() ?? []).filter((l) => typeof l.event === 'string' && l.event.startsWith('probe.') && l.fn === fn);

test('with the probe: a burst of 100 first POSTs during the readiness gap gets 100 answers from the function itself', async () => {
  expect(await statsOf('probed.openfaas-fn')).toMatchObject({ replicas: 0, availableReplicas: 0 });
  const answers = await burst('probed');
  const own = answers.map(functionAnswer);
  expect(answers.filter((a, i) => own[i]?.function !== 'probed').map((a) => `${a.status} ${a.text}`)).toEqual([]);
  expect(own.every((a) => a?.method === 'POST' && a.path === '/orders' && a.bodyBytes > 0)).toBe(true);

  const stats = await statsOf('probed.openfaas-fn');
  expect(stats.scaleCalls).toBe(1);
  // The gap was real: replicas were reported at least the listen delay before the process listened...
  expect(stats.readyAtMs ?? 0).toBeGreaterThanOrEqual((stats.availableAtMs ?? Infinity) + LISTEN_DELAY_MS);
  // ...and no POST ever reached the gateway while the function refused connections.
  expect(stats.proxyFailuresByMethod['POST'] ?? 0).toBe(0);
  // The probe went through the gateway (its GETs are the proxied requests beyond the burst) and ended ready.
  expect(stats.proxied).toBeGreaterThan(BURST);
  const probeEnds = (): Record<string, unknown>[] =>
    probeLines('probed.openfaas-fn').filter((l) => l.event === 'probe.ready' || l.event === 'probe.stopped');
  // Logged before anyone was released, but faas-waker's stdout pipe and Envoy's answers reach this process in either order.
  await waitUntil(() => Promise.resolve(probeEnds().length > 0), 30_000, 'the probe.ready line');
  const ends = probeEnds();
  expect(ends).toEqual([expect.objectContaining({ event: 'probe.ready', path: '/_/ready' })]);
  const probes = ends[0]?.probes;
  expect(typeof probes === 'number' && probes >= 1).toBe(true);
  // Every probe is one GET through the gateway: those that met the gap failed there, the last one succeeded.
  expect(stats.proxyFailuresByMethod['GET'] ?? 0).toBe((probes as number) - 1);
});

test('without the probe: the same burst during the gap fails, with the gateway 500 of a refused connection', async () => {
  expect(await statsOf('unprobed.openfaas-fn')).toMatchObject({ replicas: 0, availableReplicas: 0 });
  const answers = await burst('unprobed');
  const failed = answers.filter((a) => functionAnswer(a)?.function !== 'unprobed');
  // Released on "replicas ready" while the process does not accept connections yet.
  expect(failed.length).toBeGreaterThan(0);
  // Every answer is the function's own 200 or the gateway's 500: the failures are the gap, nothing else.
  expect(failed.map((a) => `${a.status} ${a.text}`)).toEqual(Array(failed.length).fill(gatewayFailure('unprobed')));

  // The burst can be over before the process listens: wait for that moment, then compare.
  await waitUntil(async () => (await statsOf('unprobed.openfaas-fn')).readyAtMs !== null, 30_000, 'unprobed listening');
  const stats = await statsOf('unprobed.openfaas-fn');
  expect(stats.scaleCalls).toBe(1);
  expect(stats.readyAtMs ?? 0).toBeGreaterThanOrEqual((stats.availableAtMs ?? Infinity) + UNPROBED_LISTEN_DELAY_MS);
  // The provider saw each of those POSTs fail on the function's refused connection (Envoy may add retries, never fewer).
  expect(stats.proxyFailuresByMethod['POST'] ?? 0).toBeGreaterThanOrEqual(failed.length);
  // No ready path, so no probe: the difference between the two tests.
  expect(probeLines('unprobed.openfaas-fn')).toEqual([]);
});
