import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp, type App } from '../../src/app';
import { loadConfig, type Config } from '../../src/config/load';
import { createStreamHandler } from '../../src/extproc/stream-handler';
import { startH2Server, type GrpcServer } from '../../src/extproc/h2-server';
import { HealthState } from '../../src/extproc/health';
import { DECODED_TRACKING_MODE } from '../support/tracking-mode';
import { ProcessingRequest, type ProcessingResponse } from '../../src/gen/envoy/service/ext_proc/v3/external_processor';
import type { ActivitySink } from '../../src/idle/activity';
import { createLogger } from '../../src/logging';
import { createReadinessCache } from '../../src/waker/readiness-cache';
import { Waker } from '../../src/waker/waker';
import { systemClock } from '../../src/clock';
import { FakeProvider } from '../fakes/fake-provider';
import { EnvoyLikeClient, requestHeaders } from './envoy-like-client';

/**
 * The real gRPC server (the whole app, in-process) driven like Envoy drives it, with a fake
 * provider on a loopback HTTP server whose answers each test scripts.
 */
interface FakeFn {
  replicas: number;
  available: number;
  readyAfterScaleMs: number;
  annotations?: Record<string, string>;
}
const functions = new Map<string, FakeFn>();
const calls: string[] = [];
describe('ext_proc over the gRPC server', () => {
  let provider: Server;
  let app: App;
  let client: EnvoyLikeClient;
  let adminPort: number;

  beforeAll(async () => {
    provider = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://p');
      const name = url.pathname.split('/').pop() ?? '';
      calls.push(`${req.method} ${url.pathname}`);
      const fn = functions.get(name);
      if (fn === undefined) {
        res.writeHead(404).end();
        return;
      }
      if (req.method === 'POST') {
        fn.replicas = 1;
        if (Number.isFinite(fn.readyAfterScaleMs)) setTimeout(() => (fn.available = 1), fn.readyAfterScaleMs).unref();
        req.resume();
        res.writeHead(202).end();
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ name, replicas: fn.replicas, availableReplicas: fn.available, annotations: fn.annotations ?? {} }));
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    const parsed = loadConfig({
      env: {
        WAKER_PROVIDER_URL: `http://127.0.0.1:${(provider.address() as AddressInfo).port}`,
        WAKER_GRPC_ADDRESS: '127.0.0.1:0',
        WAKER_ADMIN_ADDRESS: '127.0.0.1:0',
        // Long enough that no test's hold runs out on a loaded machine, except sloth's (never ready).
        WAKER_HOLD_TIMEOUT: '5s',
        // "Warm right after" must find alpha's entry as the cold test left it: neither expired nor due for
        // a refresh (a background status call) on a loaded machine, as it could be at the 2 s default.
        WAKER_READY_TTL: '60s',
        WAKER_DRAIN_DELAY: '0ms',
        WAKER_SHUTDOWN_GRACE: '0ms',
      },
      argv: [],
    });
    if (parsed.kind !== 'run') throw new Error('config');
    const config: Config = parsed.config;
    app = buildApp({ config, logger: createLogger('silent') });
    const ports = await app.start();
    adminPort = ports.adminPort;
    client = new EnvoyLikeClient(ports.grpcPort);
  });

  afterAll(async () => {
    client.close();
    await app.stop();
    await new Promise((resolve) => provider.close(resolve));
  });

  beforeEach(() => {
    calls.length = 0;
  });

  const heldTotal = async (): Promise<number> =>
    ((await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as { heldTotal: number }).heldTotal;
  /** Polls /status until `heldTotal` is `n`; the bound is only a safety net for a broken build. */
  const heldBecomes = async (n: number): Promise<number> => {
    for (let i = 0; i < 600 && (await heldTotal()) !== n; i++) await new Promise((r) => setTimeout(r, 25));
    return heldTotal();
  };

  test('an unmanaged path gets an empty CONTINUE and no provider call', async () => {
    const ex = client.open();
    ex.send(requestHeaders('/ui/index.html'));
    const res = await ex.nth(1);
    expect(res.response).toEqual({ $case: 'requestHeaders', value: { response: undefined } });
    ex.halfClose();
    expect(await ex.ended).toBe('status 0');
    expect(calls).toEqual([]);
  });

  test('cold: the override comes first and alone, then CONTINUE with raw_value headers and metadata', async () => {
    functions.set('alpha', { replicas: 0, available: 0, readyAfterScaleMs: 300 });
    const ex = client.open();
    ex.send(requestHeaders('/function/alpha/x'));
    const first = await ex.nth(1);
    expect(first.overrideMessageTimeout).toEqual({ seconds: 6, nanos: 0 }); // hold 5 s + 1 s margin
    expect(first.response).toBeUndefined();
    const second = await ex.nth(2);
    expect(second.response?.$case).toBe('requestHeaders');
    const headers = second.response?.$case === 'requestHeaders' ? (second.response.value.response?.headerMutation?.setHeaders ?? []) : [];
    const byKey = Object.fromEntries(
      headers.map((h) => [h.header?.key ?? '', { value: h.header?.value, raw: h.header?.rawValue.toString() }]),
    );
    expect(byKey['x-faas-waker-cold-start']).toEqual({ value: '', raw: 'true' });
    expect(Number(byKey['x-faas-waker-wait-ms']?.raw)).toBeGreaterThanOrEqual(250);
    expect(second.dynamicMetadata?.faas_waker).toMatchObject({ function: 'alpha.openfaas-fn', cold_start: true });
    expect(calls.filter((c) => c.startsWith('POST'))).toEqual(['POST /system/scale-function/alpha']);
    ex.halfClose();
    await ex.ended;
  });

  test('warm right after: the 2-byte CONTINUE and no provider call', async () => {
    const ex = client.open();
    ex.send(requestHeaders('/function/alpha'));
    expect((await ex.nth(1)).response).toEqual({ $case: 'requestHeaders', value: { response: undefined } });
    expect(ex.received).toHaveLength(1);
    ex.halfClose();
    await ex.ended;
    expect(calls).toEqual([]);
  });

  test('unknown function: override, then a 404 ImmediateResponse', async () => {
    const ex = client.open();
    ex.send(requestHeaders('/function/ghost'));
    const answer = await ex.nth(2);
    expect(answer.response?.$case).toBe('immediateResponse');
    if (answer.response?.$case !== 'immediateResponse') return;
    expect(answer.response.value.status?.code).toBe(404);
    expect(answer.response.value.body.toString()).toBe('function not found\n');
    expect(answer.response.value.details).toBe('faas_waker_function_not_found');
    ex.halfClose();
    await ex.ended;
  });

  test('invalid name: 400 at once, nothing else', async () => {
    const ex = client.open();
    ex.send(requestHeaders('/function/%2e%2e'));
    const answer = await ex.nth(1);
    expect(answer.response?.$case === 'immediateResponse' && answer.response.value.status?.code).toBe(400);
    ex.halfClose();
    await ex.ended;
    expect(calls).toEqual([]);
  });

  test.each([
    ['cancel (RST_STREAM)', 'cancel'],
    ['half-close (graceful close)', 'halfClose'],
  ] as const)('a stream that goes away during a hold releases its waiter at once: %s', async (_label, how) => {
    // Ready only when the test says so: nothing here depends on how fast the machine is.
    const fn: FakeFn = { replicas: 0, available: 0, readyAfterScaleMs: Infinity };
    functions.set(`gone-${how.toLowerCase()}`, fn);
    const staying = client.open();
    const leaving = client.open();
    staying.send(requestHeaders(`/function/gone-${how.toLowerCase()}`));
    leaving.send(requestHeaders(`/function/gone-${how.toLowerCase()}`));
    await staying.nth(1);
    await leaving.nth(1);
    expect(await heldTotal()).toBe(2);
    leaving[how]();
    expect(await heldBecomes(1)).toBe(1);
    fn.available = 1;
    const done = await staying.nth(2);
    expect(done.response?.$case).toBe('requestHeaders');
    expect(leaving.received).toHaveLength(1);
    staying.halfClose();
    await staying.ended;
  });

  test('a second request_headers on one stream ends it with INVALID_ARGUMENT and frees its slot', async () => {
    functions.set('twice', { replicas: 0, available: 0, readyAfterScaleMs: Infinity });
    const ex = client.open();
    ex.send(requestHeaders('/function/twice'));
    await ex.nth(1); // the override: the first request is held
    expect(await heldTotal()).toBe(1);
    ex.send(requestHeaders('/function/twice'));
    expect(await ex.ended).toBe('status 3');
    expect(await heldBecomes(0)).toBe(0);
    expect(ex.received).toHaveLength(1);
  });

  test('POST /wake without WAKER_ADMIN_TOKEN_FILE is closed (403) and says how to open it', async () => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/wake/alpha`, { method: 'POST' });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      status: 'forbidden',
      error: 'this route needs WAKER_ADMIN_TOKEN_FILE: set it to a file that holds a bearer token',
    });
    // twice's wake (never ready) still polls in the background: everything else counts.
    expect(calls.filter((c) => !c.endsWith('/twice'))).toEqual([]);
  });

  test('another phase (response headers, a misconfigured filter) gets its empty answer', async () => {
    const ex = client.open();
    ex.send(
      ProcessingRequest.fromPartial({ request: { $case: 'responseHeaders', value: { headers: { headers: [] }, endOfStream: false } } }),
    );
    expect((await ex.nth(1)).response).toEqual({ $case: 'responseHeaders', value: { response: undefined } });
    ex.halfClose();
    await ex.ended;
  });

  test('a held request past the hold timeout gets 504 + retry-after', async () => {
    functions.set('sloth', { replicas: 0, available: 0, readyAfterScaleMs: 60_000 });
    const ex = client.open();
    ex.send(requestHeaders('/function/sloth'));
    const answer = await ex.nth(2, 30_000);
    expect(answer.response?.$case).toBe('immediateResponse');
    if (answer.response?.$case !== 'immediateResponse') return;
    expect(answer.response.value.status?.code).toBe(504);
    const retry = answer.response.value.headers?.setHeaders.find((h) => h.header?.key === 'retry-after');
    expect(retry?.header?.rawValue.toString()).toBe('2');
    ex.halfClose();
    await ex.ended;
  });

  test('a browser navigation to a sleeping function: the waiting page at once, and the wake starts', async () => {
    functions.set('page', { replicas: 0, available: 0, readyAfterScaleMs: 200 });
    const ex = client.open();
    ex.send(requestHeaders('/function/page', { accept: 'text/html,*/*;q=0.8', 'sec-fetch-mode': 'navigate' }));
    expect((await ex.nth(1)).overrideMessageTimeout).toEqual({ seconds: 6, nanos: 0 });
    const answer = await ex.nth(2);
    expect(answer.response?.$case).toBe('immediateResponse');
    if (answer.response?.$case !== 'immediateResponse') return;
    const headers: Record<string, string | undefined> = Object.fromEntries(
      (answer.response.value.headers?.setHeaders ?? []).map((h) => [h.header?.key ?? '', h.header?.rawValue.toString()]),
    );
    expect([answer.response.value.status?.code, headers['content-type'], headers['cache-control']]).toEqual([
      503,
      'text/html; charset=utf-8',
      'no-store',
    ]);
    expect(answer.response.value.body.toString()).toContain('<code>page</code> in namespace <code>openfaas-fn</code>');
    ex.halfClose();
    await ex.ended;
    // The background wake scaled it; a later plain request finds it ready without another scale.
    for (let i = 0; i < 1_200 && !calls.includes('POST /system/scale-function/page'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(calls.filter((c) => c.startsWith('POST'))).toEqual(['POST /system/scale-function/page']);
  });

  test('a no-wake path of a sleeping function: 503 at once, no scale call', async () => {
    functions.set('health', { replicas: 0, available: 0, readyAfterScaleMs: 200, annotations: { 'faas-waker/no-wake-paths': '/healthz' } });
    const ex = client.open();
    ex.send(requestHeaders('/function/health/healthz'));
    const answer = await ex.nth(2);
    expect(answer.response?.$case === 'immediateResponse' ? answer.response.value.status?.code : undefined).toBe(503);
    ex.halfClose();
    await ex.ended;
    // Other tests' wakes may still poll in the background: only this function's calls count.
    expect(calls.filter((c) => c.endsWith('/health'))).toEqual(['GET /system/function/health']);
  });
});

describe('ext_proc over the gRPC server: idle tracking (mode_override)', () => {
  let server: GrpcServer;
  let client: EnvoyLikeClient;
  let waker: Waker;
  const cache = createReadinessCache({ readyTtlMs: 60_000, notFoundTtlMs: 1000, maxKeys: 100 });
  const ends: string[] = [];
  const activity: ActivitySink = {
    started: (fn) => ({ end: () => void ends.push(fn.key) }),
  };

  beforeAll(async () => {
    const provider = new FakeProvider(systemClock).define('busy.openfaas-fn', { replicas: 1 });
    const logger = createLogger('silent');
    waker = new Waker(
      {
        holdTimeoutMs: 5000,
        wakeTimeoutMs: 5000,
        maxHeldPerFunction: 10,
        maxHeldTotal: 10,
        pollMinIntervalMs: 25,
        pollMaxIntervalMs: 100,
        maxLearned: 10,
      },
      { provider, cache, clock: systemClock, logger },
    );
    const handler = createStreamHandler({
      waker,
      router: { prefixes: ['/function/'], defaultNamespace: 'openfaas-fn' },
      logger,
      holdTimeoutMs: 5000,
      overrideMarginMs: 1000,
      activity,
      clock: systemClock,
    });
    server = await startH2Server('127.0.0.1:0', handler, new HealthState());
    client = new EnvoyLikeClient(server.port);
  });

  afterAll(async () => {
    client.close();
    waker.stop();
    cache.close();
    await server.stop(1000);
  });

  test('held, then tracked: the after-hold CONTINUE and the warm one carry the mode override; trailers get their continue; end() once', async () => {
    const checkMode = (res: ProcessingResponse): void => {
      expect(res.response?.$case).toBe('requestHeaders');
      expect(res.modeOverride).toEqual(DECODED_TRACKING_MODE);
    };
    const first = client.open();
    first.send(requestHeaders('/function/busy'));
    expect((await first.nth(1)).overrideMessageTimeout).toEqual({ seconds: 6, nanos: 0 });
    checkMode(await first.nth(2)); // after the status call ("checked")
    first.send(ProcessingRequest.fromPartial({ request: { $case: 'responseTrailers', value: { trailers: { headers: [] } } } }));
    expect((await first.nth(3)).response).toEqual({ $case: 'responseTrailers', value: { headerMutation: undefined } });
    expect(ends).toEqual([]);
    first.halfClose();
    await first.ended;

    const warm = client.open();
    warm.send(requestHeaders('/function/busy'));
    checkMode(await warm.nth(1));
    warm.halfClose();
    await warm.ended;
    for (let i = 0; i < 3_000 && ends.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ends).toEqual(['busy.openfaas-fn', 'busy.openfaas-fn']);
  });
});
