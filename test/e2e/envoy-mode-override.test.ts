import { pointCluster, startEnvoy, type EnvoyProcess } from '../../dev/stack/envoy';
import { startDemoFunction, type DemoFunction } from '../../dev/stack/processes';
import { startH2Server, type GrpcServer } from '../../src/extproc/h2-server';
import { HealthState } from '../../src/extproc/health';
import { CONTINUE_REQUEST_HEADERS_TRACKED, continueBytes, isRequestHead } from '../../src/extproc/wire';
import { rawSession, unaryCall } from '../support/raw-grpc';
import { openWebSocket } from '../support/ws-client';
import { waitUntil } from './http';

/**
 * The shipped `allowed_override_modes` against the mode override faas-waker really sends
 * (CONTINUE_REQUEST_HEADERS_TRACKED, the idle tracker's answer): Envoy compares them by raw enum
 * values, and ignores an override that is not listed, so only the real Envoy can say they match.
 * Accepted means: Envoy keeps the ext_proc stream open until the request is over (a WebSocket for its
 * whole life) and hands it the response trailers when there are some (gRPC). A response without
 * trailers sends no trailers message: the stream just ends with the request. The processor here is a
 * recording stand-in that answers every request head with that override.
 */
const RESPONSE_TRAILERS = 7;

interface Stream {
  readonly path: string;
  readonly phases: number[];
  ended: boolean;
}

const streams: Stream[] = [];
let server: GrpcServer;
let fn: DemoFunction;
let fnPorts: { http: number; grpc: number };
let envoy: EnvoyProcess;
/** The shipped config with request_trailer_mode DEFAULT in the allowed entry: the control. */
let control: EnvoyProcess;

type Yaml = Record<string, unknown>;

beforeAll(async () => {
  server = await startH2Server(
    '127.0.0.1:0',
    (call) => {
      let stream: Stream | undefined;
      call.listen({
        data: (msg) => {
          if (isRequestHead(msg)) {
            stream = { path: msg.path, phases: [msg.phase], ended: false };
            streams.push(stream);
            call.write(CONTINUE_REQUEST_HEADERS_TRACKED);
            return;
          }
          stream?.phases.push(msg.phase);
          call.write(continueBytes(msg.phase)); // what the stream handler answers to any later phase
        },
        end: () => call.end(),
        gone: () => {
          if (stream !== undefined) stream.ended = true;
        },
      });
    },
    new HealthState(),
  );
  fn = await startDemoFunction('demo', { grpc: true });
  fnPorts = { http: fn.port, grpc: fn.grpcPort ?? 0 };
  envoy = await startEnvoy({
    grpcPort: server.port,
    gatewayPort: fnPorts.http,
    patch: (doc) => pointCluster(doc, 'function_grpc', fnPorts.grpc),
  });
  control = await startEnvoy({
    grpcPort: server.port,
    gatewayPort: fnPorts.http,
    patch: (doc) => {
      pointCluster(doc, 'function_grpc', fnPorts.grpc);
      allowedModes(doc)[0] = { ...allowedModes(doc)[0], request_trailer_mode: 'DEFAULT' };
    },
  });
}, 60_000);

function allowedModes(doc: Yaml): Yaml[] {
  const listeners = (doc.static_resources as { listeners: { filter_chains: { filters: { typed_config: Yaml }[] }[] }[] }).listeners;
  const hcm = listeners[0]?.filter_chains[0]?.filters[0]?.typed_config as { http_filters: { name: string; typed_config: Yaml }[] };
  const extProc = hcm.http_filters.find((f) => f.name === 'envoy.filters.http.ext_proc')?.typed_config;
  const modes = extProc?.allowed_override_modes;
  if (!Array.isArray(modes)) throw new Error('no allowed_override_modes in envoy.yaml');
  return modes as Yaml[];
}

afterAll(async () => {
  await envoy?.stop();
  await control?.stop();
  await fn?.stop('SIGKILL');
  await server?.stop(100);
});

function streamFor(path: string): Stream {
  const found = streams.find((s) => s.path === path);
  if (found === undefined) throw new Error(`no ext_proc stream for ${path}`);
  return found;
}

const ended = (path: string): Promise<void> =>
  waitUntil(() => Promise.resolve(streams.some((s) => s.path === path && s.ended)), 30_000, `ext_proc stream of ${path} ended`);

test('WebSocket: the ext_proc stream stays open while the socket is open, and ends after it closes', async () => {
  const ws = openWebSocket(envoy.port, '/function/ws/chat');
  expect((await ws.handshake).status).toBe(101);
  ws.sendText('ping');
  expect((await ws.nextFrame()).payload.toString('utf8')).toBe('ping');
  // Untracked, Envoy ends the stream right after the headers answer, long before this round trip.
  expect(streamFor('/function/ws/chat').ended).toBe(false);
  await ws.close();
  await ended('/function/ws/chat');
});

/** One unary call through `port`; resolves with the trailers' grpc-status and the echoed messages. */
async function grpcCall(port: number, path: string, message: Buffer): Promise<{ status: unknown; messages: Buffer[] | string }> {
  const session = await rawSession(port);
  try {
    const { trailers, messages } = await unaryCall(session, path, message);
    return { status: trailers['grpc-status'], messages };
  } finally {
    session.close();
  }
}

test('gRPC: Envoy hands the real trailers to ext_proc and, once answered, to the client', async () => {
  const path = '/function/grpc/demo.Echo/Say';
  expect(await grpcCall(envoy.port, path, Buffer.from('tracked'))).toEqual({ status: '0', messages: [Buffer.from('tracked')] });
  await ended(path);
  expect(streamFor(path).phases).toEqual([2, RESPONSE_TRAILERS]);
});

test('control: with DEFAULT for request_trailer_mode in the allowed entry, Envoy ignores the same override', async () => {
  const path = '/function/control/demo.Echo/Say';
  expect(await grpcCall(control.port, path, Buffer.from('ignored'))).toEqual({ status: '0', messages: [Buffer.from('ignored')] });
  await ended(path);
  expect(streamFor(path).phases).toEqual([2]); // no trailers phase: the override was not applied
});
