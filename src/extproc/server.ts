import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ExtProcService } from './service';
import type { createStreamHandler } from './stream-handler';

export interface GrpcServer {
  readonly port: number;
  /** Stops accepting, waits for open streams up to `graceMs`, then closes whatever is left. */
  stop(graceMs: number): Promise<void>;
}

/** Binds the ext_proc service (and whatever `configure` adds, e.g. grpc.health.v1) on `address` (port 0 = any free one). */
export async function startGrpcServer(address: string, handler: ReturnType<typeof createStreamHandler>, configure?: (server: Server) => void): Promise<GrpcServer> {
  const server = new Server({
    // Envoy multiplexes every request over a few HTTP/2 connections; never make it queue streams.
    'grpc.max_concurrent_streams': 1_000_000,
    // Envoy pings idle connections (http2 connection_keepalive); allow that.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  server.addService(ExtProcService, { process: handler });
  configure?.(server);
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
