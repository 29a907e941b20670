import { connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { grpcMessages } from '../../dev/function/grpc-echo';
import { frame } from '../../src/extproc/grpc-frames';

/** Raw HTTP/2 gRPC clients for protocol tests: what Envoy (or an attacker) puts on the wire. */

export const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';

/** One HTTP/2 connection; client-side limits raised so the client is never the bottleneck. */
export function rawSession(port: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`, { maxSessionMemory: 1024, peerMaxConcurrentStreams: 1_000_000 });
    session.once('error', reject);
    session.once('remoteSettings', () => {
      session.removeListener('error', reject);
      session.on('error', () => undefined);
      resolve(session);
    });
  });
}

export interface CallResult {
  /** HTTP :status of the response headers. */
  readonly httpStatus: number | undefined;
  /** grpc-status from trailers (or trailers-only headers); undefined when there was none. */
  readonly grpcStatus: string | undefined;
  readonly grpcMessage: string | undefined;
  /** Number of gRPC messages received. */
  readonly messages: number;
  /** RST_STREAM code if the stream was reset (0 = closed normally). */
  readonly rstCode: number;
}

export interface RawCall {
  readonly stream: ClientHttp2Stream;
  /** Resolves when the stream closes, however it closes. */
  readonly result: Promise<CallResult>;
  /** Resolves once the first response bytes arrived. */
  readonly firstData: Promise<void>;
}

/** Opens a call and sends nothing yet; `headers` override the gRPC defaults. */
export function openCall(session: ClientHttp2Session, path: string, headers: OutgoingHttpHeaders = {}): RawCall {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  stream.on('error', () => undefined);
  let httpStatus: number | undefined;
  let grpcStatus: string | undefined;
  let grpcMessage: string | undefined;
  let bytes = 0;
  const readStatus = (h: IncomingHttpHeaders): void => {
    if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
    if (h['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(h['grpc-message']));
  };
  stream.on('response', (h) => {
    httpStatus = Number(h[':status']);
    readStatus(h);
  });
  const firstData = new Promise<void>((resolve) => stream.once('data', () => resolve()));
  stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const result = new Promise<CallResult>((resolve) => {
    const done = (): void => resolve({ httpStatus, grpcStatus, grpcMessage, messages: countMessages(bytes), rstCode: stream.rstCode ?? 0 });
    // A server may end with a status while our side is still open (a refused message): like Envoy,
    // take the trailers as the answer and close our side too.
    stream.on('trailers', (h: IncomingHttpHeaders) => {
      readStatus(h);
      done();
      if (!stream.writableEnded) stream.end();
    });
    stream.on('close', done);
    stream.resume();
  });
  return { stream, result, firstData };
}

/** Our test processor answers every message with the 2-byte CONTINUE (7 bytes framed). */
function countMessages(bytes: number): number {
  return Math.floor(bytes / 7);
}

/** A ProcessingRequest { request_headers { headers { :path, and optionally a padding header } } }, framed. */
export function requestHeadersMessage(path: string, padBytes = 0): Buffer {
  const entries = [headerValue(':path', Buffer.from(path))];
  if (padBytes > 0) entries.push(headerValue('x-pad', Buffer.alloc(padBytes, 0x61)));
  const map = Buffer.concat(entries.map((e) => field(1, e)));
  const httpHeaders = field(1, map);
  return frame(field(2, httpHeaders));
}

function headerValue(key: string, raw: Buffer): Buffer {
  return Buffer.concat([field(1, Buffer.from(key)), field(3, raw)]);
}

function field(num: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(num << 3) | 2]), varint(payload.length), payload]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Resolves on the session's next GOAWAY with its error code. */
export function nextGoaway(session: ClientHttp2Session): Promise<number> {
  return new Promise((resolve) => session.once('goaway', (code: number) => resolve(code)));
}

export interface UnaryResult {
  readonly headers: IncomingHttpHeaders;
  readonly trailers: IncomingHttpHeaders;
  /** The response's gRPC messages, or what was wrong with their framing. */
  readonly messages: Buffer[] | string;
}

/** One unary gRPC call with `message` (framed here); `onHeaders` runs when the response headers arrive. */
export function unaryCall(
  session: ClientHttp2Session,
  path: string,
  message: Buffer,
  onHeaders: () => void = () => undefined,
): Promise<UnaryResult> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      onHeaders();
      headers = h;
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => resolve({ headers, trailers, messages: grpcMessages(Buffer.concat(chunks)) }));
    stream.end(frame(message));
  });
}
