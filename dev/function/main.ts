/** A demo function: one tiny HTTP server per function, run as a child process by the local provider.
 * It echoes what it received (including headers, so tests can see what Envoy and faas-waker added).
 * Kept minimal because benchmarks measure through it. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'function' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const name = values.name ?? 'function';

function answer(req: IncomingMessage, res: ServerResponse): void {
  let bodyBytes = 0;
  req.on('data', (chunk: Buffer) => {
    bodyBytes += chunk.length;
  });
  // Answer only once the body is consumed, so the keep-alive connection stays reusable.
  req.on('end', () => {
    const body = JSON.stringify({
      function: name,
      method: req.method,
      path: req.url,
      headers: req.headers,
      bodyBytes,
      pid: process.pid,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

const server = createServer(answer);
// Longer than the provider's (and Envoy's) idle reuse of upstream connections, so a reused
// connection is never closed by us at the same moment it is picked for a request.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

// Released cold bursts arrive all at once: a deep accept queue instead of Node's default 511.
server.listen({ port: Number(values.port), host: values.host, backlog: 4096 }, () => {
  const { port } = server.address() as AddressInfo;
  const message = { event: 'listening', port };
  if (process.send) process.send(message);
  else process.stdout.write(`${JSON.stringify(message)}\n`);
});

// The IPC channel closes when the provider dies by any means (even SIGKILL): exit, never orphan.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
