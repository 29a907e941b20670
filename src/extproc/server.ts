import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { MAX_MESSAGE_BYTES } from './grpc-frames';
import { HEALTH_SERVICES, type HealthState } from './health';
import type { GrpcStatusCode, ProcessCall } from './process-call';
import { ExtProcService } from './service';
import type { Incoming } from './wire';

export interface GrpcServer {
  readonly port: number;
  /** Stops accepting, lets open streams finish up to `graceMs`, then closes whatever is left. */
  stop(graceMs: number): Promise<void>;
}

/** Which server carries ext_proc: node:http2 directly (default, faster) or grpc-js. */
export type GrpcEngine = 'http2' | 'grpc-js';

/**
 * The grpc-js server (`WAKER_GRPC_ENGINE=grpc-js`): the reference implementation of the same two
 * services, with grpc-health-check for grpc.health.v1. Binds `address` (port 0 = any free one).
 */
export async function startGrpcJsServer(address: string, process: (call: ProcessCall) => void, health: HealthState): Promise<GrpcServer> {
  const server = new Server({
    // Envoy multiplexes every request over a few HTTP/2 connections; never make it queue streams.
    'grpc.max_concurrent_streams': 1_000_000,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    // The same limit as the node:http2 server, so both answer an oversize message alike.
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  });
  server.addService(ExtProcService, { process: (call: ServerDuplexStream<Incoming, Buffer>) => process(adapt(call)) });
  const healthService = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'SERVING'])));
  health.subscribe((status) => {
    for (const service of HEALTH_SERVICES) healthService.setStatus(service, status);
  });
  healthService.addToServer(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, boundPort) => (err ? reject(err) : resolve(boundPort)));
  });
  return {
    port,
    stop: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/** grpc-js emits 'cancelled' on every stream close, even a normal one: that is "gone", idempotently. */
function adapt(call: ServerDuplexStream<Incoming, Buffer>): ProcessCall {
  let gone = false;
  return {
    listen(handlers) {
      const onGone = (): void => {
        gone = true;
        handlers.gone();
      };
      call.on('data', (msg: Incoming) => handlers.data(msg));
      call.on('end', () => handlers.end());
      call.on('cancelled', onGone);
      call.on('error', onGone);
    },
    write(response) {
      if (!gone) call.write(response);
    },
    end() {
      if (!call.writableEnded) call.end();
    },
    fail(code: GrpcStatusCode, message: string) {
      if (gone) return;
      gone = true;
      // grpc-js ends a server stream with a status when the handler emits an error carrying a code.
      call.emit('error', { code, details: message });
    },
  };
}
