import { pointCluster, startEnvoy, type EnvoyProcess } from '../../dev/stack/envoy';
import {
  startDemoFunction,
  startProvider,
  startWaker,
  type DemoFunction,
  type ProviderProcess,
  type WakerProcess,
} from '../../dev/stack/processes';
import { OPCODE } from '../../dev/function/websocket-frames';
import { rawSession, unaryCall } from '../support/raw-grpc';
import { openWebSocket } from '../support/ws-client';
import { agent, waitUntil } from './http';

/**
 * WebSocket and gRPC through a hold, with the real Envoy (envoy/envoy.yaml) and the real faas-waker.
 *
 * The local provider proxies /function/NAME over HTTP/1 and carries neither upgrades nor h2c, so here
 * it only answers status and scale calls for gated functions (ready when the test says so). Envoy's
 * function clusters point at one demo function process instead (dev/function: HTTP/1 + WebSocket echo
 * on one port, gRPC echo over h2c on another), which stands in for "the function, once routable".
 * Proof of a hold: the provider saw the scale call, and the answer arrived only after the test
 * released the function.
 */
let fn: DemoFunction;
let fnPorts: { http: number; grpc: number };
let provider: ProviderProcess;
let waker: WakerProcess;
let envoy: EnvoyProcess;

beforeAll(async () => {
  fn = await startDemoFunction('demo', { grpc: true });
  fnPorts = { http: fn.port, grpc: fn.grpcPort ?? 0 };
  provider = await startProvider(['--function', 'wsecho:gate', '--function', 'grpcecho:gate', '--function', 'retry:0']);
  waker = await startWaker({ WAKER_PROVIDER_URL: provider.url, WAKER_HOLD_TIMEOUT: '30s', WAKER_WAKE_TIMEOUT: '30s' });
  envoy = await startEnvoy({
    grpcPort: waker.grpcPort,
    gatewayPort: fnPorts.http,
    patch: (doc) => pointCluster(doc, 'function_grpc', fnPorts.grpc),
  });
}, 60_000);

afterAll(async () => {
  await envoy?.stop();
  await waker?.stop('SIGKILL');
  await provider?.stop();
  await fn?.stop('SIGKILL');
  await agent.close();
});

const fnStats = (key: string) => provider.functionStats(key);

/** Waits for the wake to reach the provider, then releases the function; returns when it is released. */
async function wakeThenRelease(name: string, onRelease: () => void): Promise<void> {
  await waitUntil(async () => (await fnStats(`${name}.openfaas-fn`)).scaleCalls >= 1, 30_000, `${name} scale call`);
  expect((await fnStats(`${name}.openfaas-fn`)).availableReplicas).toBe(0); // still asleep: the request is held
  onRelease();
  await provider.hook(`/_/release/${name}`);
}

test('a WebSocket upgrade to a sleeping function is held, then upgraded, and echoes both ways', async () => {
  expect(await fnStats('wsecho.openfaas-fn')).toMatchObject({ scaleCalls: 0, availableReplicas: 0 });
  let released = false;
  // What a browser sends with an upgrade: it must be held like any script, never given a waiting page.
  const ws = openWebSocket(envoy.port, '/function/wsecho/chat', { 'sec-fetch-mode': 'websocket', origin: 'http://127.0.0.1' });
  const answered = ws.handshake.then((answer) => ({ answer, afterRelease: released }));
  await wakeThenRelease('wsecho', () => (released = true));
  const { answer, afterRelease } = await answered;
  expect(afterRelease).toBe(true);
  expect(answer.status).toBe(101);
  expect(answer.acceptOk).toBe(true);
  expect(answer.headers['x-function']).toBe('demo');
  expect(Number(answer.headers['x-faas-waker-cold-start-ms'])).toBeGreaterThan(0); // faas-waker's hold, measured

  ws.sendText('hello through a hold');
  const text = await ws.nextFrame();
  expect({ opcode: text.opcode, payload: text.payload.toString('utf8') }).toEqual({ opcode: OPCODE.text, payload: 'hello through a hold' });
  // 70000 bytes: a 64-bit length on the wire, and more than one TCP segment through Envoy.
  const big = Buffer.alloc(70_000, 7);
  ws.sendBinary(big);
  const binary = await ws.nextFrame();
  expect(binary.opcode).toBe(OPCODE.binary);
  expect(binary.payload.equals(big)).toBe(true);
  ws.sendText('second');
  expect((await ws.nextFrame()).payload.toString('utf8')).toBe('second');
  await ws.close();

  // The function is awake now: a new upgrade passes at once (no second scale call).
  const warm = openWebSocket(envoy.port, '/function/wsecho/again');
  const warmAnswer = await warm.handshake;
  expect(warmAnswer.status).toBe(101);
  expect(warmAnswer.headers['x-faas-waker-cold-start-ms']).toBeUndefined();
  warm.sendText('warm');
  expect((await warm.nextFrame()).payload.toString('utf8')).toBe('warm');
  await warm.close();
  expect((await fnStats('wsecho.openfaas-fn')).scaleCalls).toBe(1);
});

test('a gRPC call (HTTP/2 end to end) to a sleeping function is held, then answered by the function', async () => {
  expect(await fnStats('grpcecho.openfaas-fn')).toMatchObject({ scaleCalls: 0, availableReplicas: 0 });
  const session = await rawSession(envoy.port);
  try {
    let released = false;
    let afterRelease: boolean | undefined;
    const payload = Buffer.from('\x0a\x05hello', 'latin1'); // any bytes: the echo method returns its request
    const call = unaryCall(session, '/function/grpcecho/demo.Echo/Say', payload, () => (afterRelease = released));
    await wakeThenRelease('grpcecho', () => (released = true));
    const result = await call;
    expect(afterRelease).toBe(true);
    expect(result.headers[':status']).toBe(200);
    expect(result.headers['x-function']).toBe('demo'); // the h2c-only server answered: HTTP/2 upstream
    expect(result.headers['x-function-path']).toBe('/function/grpcecho/demo.Echo/Say');
    expect(Number(result.headers['x-faas-waker-cold-start-ms'])).toBeGreaterThan(0);
    expect(result.trailers['grpc-status']).toBe('0');
    expect(result.messages).toEqual([payload]);

    // Warm: the same call again passes without a wake.
    const warm = await unaryCall(session, '/function/grpcecho/demo.Echo/Say', payload);
    expect(warm.trailers['grpc-status']).toBe('0');
    expect((await fnStats('grpcecho.openfaas-fn')).scaleCalls).toBe(1);
  } finally {
    session.close();
  }
});

async function call(method: string, key: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${envoy.port}/function/retry/x`, {
    method,
    headers: { 'x-demo-fail-once': key },
    ...(method === 'POST' ? { body: 'payload' } : {}),
  });
  return { status: res.status, text: await res.text() };
}

test('Envoy replays a GET that got 503 from the function, never a POST', async () => {
  // The function answers 503 to the first request with a given key, and counts attempts.
  const get = await call('GET', 'get-1');
  expect(get.status).toBe(200);
  expect((JSON.parse(get.text) as { attempt: number }).attempt).toBe(2); // replayed once by Envoy
  const post = await call('POST', 'post-1');
  expect(post).toEqual({ status: 503, text: 'failing once' }); // the function may have acted on it: not replayed
  // The POST reached the function exactly once: the next request with its key is attempt 2.
  const after = await call('GET', 'post-1');
  expect((JSON.parse(after.text) as { attempt: number }).attempt).toBe(2);
});
