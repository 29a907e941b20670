/** Reverse proxy from the provider's `/function/...` routes to a function's child over loopback. */
import {
  request,
  type Agent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { sendText } from './http-util';

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection; node sets its own framing for the next hop.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/** Streams `req` to 127.0.0.1:`port` at `target` (path + query) and the answer back to `res`;
 * `onFailure` runs once if the connection to the function fails (refused, reset). `name` is the
 * function as the client addressed it, for the error body. */
export function proxyRequest(
  req: IncomingMessage,
  res: ServerResponse,
  target: { port: number; path: string; name: string },
  agent: Agent,
  onFailure: () => void = () => undefined,
): void {
  const upstream = request({
    host: '127.0.0.1',
    port: target.port,
    method: req.method,
    path: target.path,
    headers: endToEnd(req.headers),
    agent,
  });
  upstream.on('response', (answer: IncomingMessage) => {
    res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
    answer.pipe(res);
    answer.on('error', () => res.destroy());
  });
  upstream.on('error', () => {
    onFailure();
    // Refused (not listening yet: a listen delay), or the child died or was scaled down mid-request:
    // answer as faas-provider's proxy does (500 "Can't reach service for: NAME."), or cut a started stream.
    if (res.headersSent) res.destroy();
    else sendText(res, 500, `Can't reach service for: ${target.name}.`);
  });
  // A client that goes away must not leave the upstream request open.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}
