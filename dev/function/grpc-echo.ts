/** gRPC echo for the demo function, on an h2c (HTTP/2 without TLS) server: every POST with a gRPC
 * content type, whatever its path, is a unary call whose answer is the request message itself (a
 * method `rpc Echo(M) returns (M)` for any message type M). Hand-framed (5-byte prefix, no
 * compression), so it needs no gRPC library. */
import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';

const MAX_MESSAGE_BYTES = 1 << 20;

/** gRPC length-prefixed message: compressed flag 0, 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** The messages in a complete unary request body, or an error text. */
export function grpcMessages(body: Buffer): Buffer[] | string {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5) return 'truncated message prefix';
    if (body[at] !== 0) return 'compressed messages are not supported';
    const len = body.readUInt32BE(at + 1);
    if (body.length - at - 5 < len) return 'truncated message';
    out.push(body.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return out;
}

export function createGrpcEchoServer(functionName: string): Http2Server {
  const server = createServer();
  server.on('stream', (stream, headers) => serve(functionName, stream, headers));
  return server;
}

function serve(functionName: string, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => undefined);
  if (headers[':method'] !== 'POST' || !String(headers['content-type']).startsWith('application/grpc')) {
    stream.respond({ ':status': 415 }, { endStream: true });
    return;
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= MAX_MESSAGE_BYTES + 5) chunks.push(chunk);
  });
  stream.on('end', () => {
    const messages = bytes > MAX_MESSAGE_BYTES + 5 ? 'message too large' : grpcMessages(Buffer.concat(chunks));
    const meta = { 'content-type': 'application/grpc', 'x-function': functionName, 'x-function-path': String(headers[':path']) };
    if (typeof messages === 'string' || messages.length !== 1) {
      // Trailers-only answer: 3 = INVALID_ARGUMENT (a unary call carries exactly one message).
      const detail = typeof messages === 'string' ? messages : `want 1 message, got ${messages.length}`;
      stream.respond({ ':status': 200, ...meta, 'grpc-status': '3', 'grpc-message': encodeURIComponent(detail) }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200, ...meta }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(grpcFrame(messages[0] ?? Buffer.alloc(0)));
  });
}
