/** A demo function: one tiny HTTP server per function, run as a child process by the local provider.
 * It echoes what it received (including headers, so tests can see what Envoy and faas-waker added),
 * echoes WebSocket messages on an upgrade, and with --grpc-port also serves a gRPC echo over h2c.
 * A request with `x-demo-fail-once: KEY` gets 503 the first time KEY is seen (retry-policy tests).
 * The plain HTTP path is kept minimal because benchmarks measure through it. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { parseArgs } from 'node:util';
import { createGrpcEchoServer } from './grpc-echo';
import { handleUpgrade } from './websocket-echo';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'function' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    // gRPC needs HTTP/2, which the HTTP/1 server above does not speak: a second port, only when asked for.
    'grpc-port': { type: 'string' },
  },
});
const name = values.name ?? 'function';

/** Requests seen per `x-demo-fail-once` key: tests of Envoy's retry policy (is a 503 replayed?). Bounded. */
const failOnceSeen = new Map<string, number>();
const FAIL_ONCE_KEYS = 10_000;

/** 1 for the first request carrying this key (answered 503), 2 for the next, ...; 0 without the header. */
function failOnceAttempt(req: IncomingMessage): number {
  const key = req.headers['x-demo-fail-once'];
  if (typeof key !== 'string') return 0;
  if (failOnceSeen.size >= FAIL_ONCE_KEYS && !failOnceSeen.has(key)) failOnceSeen.clear();
  const attempt = (failOnceSeen.get(key) ?? 0) + 1;
  failOnceSeen.set(key, attempt);
  return attempt;
}

function answer(req: IncomingMessage, res: ServerResponse): void {
  const attempt = failOnceAttempt(req);
  let bodyBytes = 0;
  req.on('data', (chunk: Buffer) => {
    bodyBytes += chunk.length;
  });
  // Answer only once the body is consumed, so the keep-alive connection stays reusable.
  req.on('end', () => {
    if (attempt === 1) {
      res.writeHead(503, { 'content-type': 'text/plain', 'content-length': 12 });
      res.end('failing once');
      return;
    }
    const body = JSON.stringify({
      function: name,
      method: req.method,
      path: req.url,
      headers: req.headers,
      bodyBytes,
      pid: process.pid,
      ...(attempt === 0 ? {} : { attempt }),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

const server = createServer(answer);
server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => handleUpgrade(name, req, socket, head));
// Longer than the provider's (and Envoy's) idle reuse of upstream connections, so a reused
// connection is never closed by us at the same moment it is picked for a request.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

function report(message: Record<string, unknown>): void {
  if (process.send) process.send(message);
  else process.stdout.write(`${JSON.stringify(message)}\n`);
}

function listen(target: NetServer, port: string): Promise<number> {
  return new Promise((resolve) => {
    // Released cold bursts arrive all at once: a deep accept queue instead of Node's default 511.
    target.listen({ port: Number(port), host: values.host, backlog: 4096 }, () => resolve((target.address() as AddressInfo).port));
  });
}

void (async () => {
  const grpcPort = values['grpc-port'] === undefined ? undefined : await listen(createGrpcEchoServer(name), values['grpc-port']);
  const port = await listen(server, values.port ?? '0');
  report({ event: 'listening', port, ...(grpcPort === undefined ? {} : { grpcPort }) });
})();

// The IPC channel closes when the provider dies by any means (even SIGKILL): exit, never orphan.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
