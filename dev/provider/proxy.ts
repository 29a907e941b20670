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

/** Streams `req` to 127.0.0.1:`port` at `target` (path + query) and the answer back to `res`. */
export function proxyRequest(req: IncomingMessage, res: ServerResponse, port: number, target: string, agent: Agent): void {
  const upstream = request({ host: '127.0.0.1', port, method: req.method, path: target, headers: endToEnd(req.headers), agent });
  upstream.on('response', (answer: IncomingMessage) => {
    res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
    answer.pipe(res);
    answer.on('error', () => res.destroy());
  });
  upstream.on('error', () => {
    // The child died or was scaled down mid-request: answer like a gateway, or cut the stream if it started.
    if (res.headersSent) res.destroy();
    else sendText(res, 502, 'Bad Gateway: function connection failed.');
  });
  // A client that goes away must not leave the upstream request open.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}
