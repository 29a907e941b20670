import {
  constants,
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { listenOn } from '../listen';
import type { GrpcTls } from './grpc-tls';
import { FrameError, FrameReader, MAX_MESSAGE_BYTES, frame } from './grpc-frames';
import { FirstMessageWatch, SessionState, type AwaitingFirstMessage } from './h2-connection';
import { decodeHealthRequest, encodeHealthResponse, type HealthState } from './health';
import { GrpcStatus, type GrpcStatusCode, type ProcessCall, type ProcessCallHandlers } from './process-call';
import { CONTINUE_REQUEST_HEADERS, CONTINUE_REQUEST_HEADERS_TRACKED, continueBytes, decodeIncoming } from './wire';

const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';
const HEALTH_MAX_MESSAGE_BYTES = 64 * 1024;
const GRPC_DEADLINE_EXCEEDED = 4;

export interface GrpcServer {
  readonly port: number;
  /** Stops accepting, lets open streams finish up to `graceMs`, then closes whatever is left. */
  stop(graceMs: number): Promise<void>;
}

/** The warm answer, framed once: the warm path writes these 7 bytes and allocates nothing. */
const FRAMED_CONTINUE = frame(CONTINUE_REQUEST_HEADERS);
/**
 * The other answers that never change, framed once: a tracked request's CONTINUE, and the continue
 * of each later phase (a tracked gRPC call's response trailers). Keyed by the shared buffers.
 */
const PREFRAMED = new Map<Buffer, Buffer>(
  [CONTINUE_REQUEST_HEADERS_TRACKED, ...[3, 4, 5, 6, 7].map(continueBytes)].map((bytes) => [bytes, frame(bytes)]),
);
const RESPONSE_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true });
const UNSUPPORTED_MEDIA_TYPE = Object.freeze({ ':status': constants.HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE });

/** Limits of the node:http2 server; every field is optional in `startH2Server`'s options. */
export interface H2ServerLimits {
  /**
   * Largest gRPC message accepted, bytes (default MAX_MESSAGE_BYTES, 1 MiB); a larger one ends its
   * stream with RESOURCE_EXHAUSTED as soon as its header arrives, before any of it is buffered.
   */
  readonly maxMessageBytes: number;
  /**
   * Bytes of unfinished (partly received) messages one connection may hold across its streams; the
   * stream that would pass it ends with RESOURCE_EXHAUSTED. Envoy sends each message in one DATA
   * frame, so in practice this is only reached by a misbehaving peer. 16 MiB = 16 maximal messages.
   */
  readonly maxConnectionBufferedBytes: number;
  /** A connection that has not sent the HTTP/2 preface and SETTINGS by then is destroyed. */
  readonly prefaceTimeoutMs: number;
  /**
   * A stream without a complete first message by then ends with DEADLINE_EXCEEDED. Streams that
   * sent their message (held requests) are never timed out here: the waker bounds them.
   */
  readonly firstMessageTimeoutMs: number;
  /** A connection without open streams for this long gets GOAWAY; Envoy simply reconnects. */
  readonly idleTimeoutMs: number;
  /**
   * node:http2 `maxSessionMemory`, MB. Past it Node refuses new streams (ENHANCE_YOUR_CALM) and,
   * after 100 refusals in a row, destroys the connection with every held stream on it. Node's
   * default (10) is reached near 12,000 held streams; our own bounds (held requests, the buffer
   * budget above) must bind first, so this is a backstop sized for 100,000+ open streams.
   */
  readonly maxSessionMemoryMb: number;
}

/** Transport options beyond the limits; all optional. */
export interface H2ServerExtras {
  /** TLS on the listener (WAKER_GRPC_TLS_*); absent: plain-text HTTP/2 (h2c). */
  readonly tls?: GrpcTls;
}

export const H2_SERVER_DEFAULTS: H2ServerLimits = Object.freeze({
  maxMessageBytes: MAX_MESSAGE_BYTES,
  maxConnectionBufferedBytes: 16 * 1024 * 1024,
  prefaceTimeoutMs: 10_000,
  firstMessageTimeoutMs: 10_000,
  idleTimeoutMs: 5 * 60_000,
  maxSessionMemoryMb: 256,
});

/**
 * A gRPC server on node:http2 directly, for the two services faas-waker offers (ext_proc Process
 * and grpc.health.v1). The profile of the warm path showed grpc-js's per-call machinery (call
 * objects, metadata, interceptors) costing about as much as everything else together; this server
 * does only what these two methods need (bench/README.md has the measurement that retired grpc-js).
 */
export async function startH2Server(
  address: string,
  process: (call: ProcessCall) => void,
  health: HealthState,
  options: Partial<H2ServerLimits> = {},
  extras: H2ServerExtras = {},
): Promise<GrpcServer> {
  const limits: H2ServerLimits = { ...H2_SERVER_DEFAULTS, ...options };
  const sessions = new Map<Http2Session, SessionState<H2ServerLimits>>();
  const firstMessages = new FirstMessageWatch(limits.firstMessageTimeoutMs);
  const server = createH2(limits, extras.tls);
  const track = (session: Http2Session): SessionState<H2ServerLimits> => {
    const state = new SessionState(session, limits);
    sessions.set(session, state);
    session.on('close', () => {
      state.dispose();
      sessions.delete(session);
    });
    session.on('error', () => undefined); // a reset connection closes its streams, which report themselves
    return state;
  };
  server.on('session', track);
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const session = stream.session as Http2Session;
    const state = sessions.get(session) ?? track(session); // 'session' always comes first; never refuse a stream
    if (!isGrpc(headers)) return void stream.respond(UNSUPPORTED_MEDIA_TYPE, { endStream: true });
    const path = headers[':path'];
    if (path === PROCESS_PATH) process(new H2ProcessCall(stream, headers, state, firstMessages));
    else if (path === HEALTH_CHECK_PATH || path === HEALTH_WATCH_PATH) {
      state.streamOpened(stream);
      readOneMessage(
        stream,
        headers,
        state,
        firstMessages,
        path === HEALTH_CHECK_PATH ? healthCheck(stream, health) : healthWatch(stream, health),
      );
    } else finish(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${String(path)}`);
  });
  const port = await listenOn(server, address);
  return {
    port,
    stop: (graceMs) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        firstMessages.stop();
        for (const session of sessions.keys()) session.close(); // GOAWAY: open streams may finish
        setTimeout(() => {
          for (const session of sessions.keys()) session.destroy();
        }, graceMs).unref();
      }),
  };
}

/**
 * Plain-text HTTP/2 (h2c), or TLS with ALPN h2 (grpc-tls.ts). Only the socket differs: sessions and
 * streams are handled by the same code, so the warm path costs the same per request either way.
 * Unix socket addresses work with TLS too (the certificate is then all that authenticates Envoy).
 */
function createH2(limits: H2ServerLimits, tls: GrpcTls | undefined): Http2Server | Http2SecureServer {
  const options = { settings: { maxConcurrentStreams: 1_000_000 }, maxSessionMemory: limits.maxSessionMemoryMb };
  if (tls === undefined) return createServer(options);
  // A client that stalls in the handshake is bounded like one that stalls before the HTTP/2 preface.
  const server = createSecureServer({ ...options, ...tls.serverOptions(), handshakeTimeout: limits.prefaceTimeoutMs });
  tls.attach(server);
  return server;
}

/** grpc-js answers 415 to anything but application/grpc[+proto|;...]: so do we. */
function isGrpc(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.startsWith('application/grpc');
}

/** Shared by every stream (the emitter is `this`): no closure per request. */
function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

class H2ProcessCall implements ProcessCall, AwaitingFirstMessage {
  readonly deadline: number;
  private settled = false;
  private closed = false;
  private handlers: ProcessCallHandlers | undefined;
  private reader: FrameReader | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly session: SessionState<H2ServerLimits>,
    private readonly firstMessages: FirstMessageWatch,
  ) {
    session.opened();
    this.deadline = firstMessages.deadlineFromNow();
    firstMessages.add(this);
    stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
    stream.on('wantTrailers', sendOkTrailers);
  }

  listen(handlers: ProcessCallHandlers): void {
    this.handlers = handlers;
    const reader = new FrameReader(this.session.limits.maxMessageBytes, this.session.budget);
    this.reader = reader;
    const gone = (): void => {
      this.settle();
      this.closed = true;
      handlers.gone();
    };
    this.stream.on('data', (chunk: Buffer) => {
      if (this.closed) return; // after a failure nothing more is parsed
      try {
        for (const message of reader.push(chunk)) {
          this.settle();
          handlers.data(decodeIncoming(message));
        }
      } catch (err) {
        this.failFor(err);
        gone();
      }
    });
    this.stream.on('end', () => handlers.end());
    this.stream.on('close', () => {
      reader.dispose();
      this.session.closed();
      gone();
    });
    this.stream.on('aborted', gone);
  }

  expire(): void {
    this.settle();
    if (this.closed) return;
    this.endWithStatus(GRPC_DEADLINE_EXCEEDED, `no complete request message within ${this.session.limits.firstMessageTimeoutMs} ms`);
    this.handlers?.gone();
  }

  write(response: Buffer): void {
    if (this.closed || this.stream.destroyed) return;
    this.stream.write(response === CONTINUE_REQUEST_HEADERS ? FRAMED_CONTINUE : (PREFRAMED.get(response) ?? frame(response)));
  }

  end(): void {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.end();
  }

  fail(code: GrpcStatusCode, message: string): void {
    this.endWithStatus(code, message);
  }

  /** Envoy answers the client with status_on_error; the status tells an operator why. */
  private failFor(err: unknown): void {
    if (err instanceof FrameError) {
      const [code, message] = frameErrorStatus(err, this.headers);
      this.endWithStatus(code, message);
    } else this.endWithStatus(GrpcStatus.INTERNAL, err instanceof Error ? err.message : 'malformed message');
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.firstMessages.settle(this);
  }

  private endWithStatus(code: number, message: string): void {
    this.closed = true;
    this.settle();
    // The peer may keep its side open: what it had reserved goes back to the connection now.
    this.reader?.dispose();
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.removeAllListeners('wantTrailers');
    this.stream.on('wantTrailers', () =>
      this.stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) }),
    );
    this.stream.end();
  }
}

/** The gRPC status grpc-js gives for the same input (measured; see the conformance test). */
function frameErrorStatus(err: FrameError, headers: IncomingHttpHeaders): [number, string] {
  if (err.kind !== 'compressed') return [GrpcStatus.RESOURCE_EXHAUSTED, err.message];
  const encoding = headers['grpc-encoding'];
  // The flag says "compressed with grpc-encoding"; with none (identity) it is a protocol error.
  if (encoding === undefined || encoding === 'identity')
    return [GrpcStatus.INTERNAL, 'compressed flag set on a message without grpc-encoding'];
  return [GrpcStatus.UNIMPLEMENTED, `Received message compressed with unsupported encoding "${String(encoding)}"`];
}

function healthCheck(stream: ServerHttp2Stream, health: HealthState): (request: Buffer) => void {
  return (request) => {
    const status = health.get(decodeHealthRequest(request));
    if (status === undefined) return finish(stream, GrpcStatus.NOT_FOUND, 'unknown service');
    finish(stream, GrpcStatus.OK, undefined, encodeHealthResponse(status));
  };
}

/** Server streaming: the current status now, then every change, until the client goes away. */
function healthWatch(stream: ServerHttp2Stream, health: HealthState): (request: Buffer) => void {
  return (request) => {
    const service = decodeHealthRequest(request);
    stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
    stream.on('wantTrailers', sendOkTrailers);
    stream.write(frame(encodeHealthResponse(health.get(service) ?? 'SERVICE_UNKNOWN')));
    const unsubscribe = health.subscribe(() => {
      if (!stream.destroyed) stream.write(frame(encodeHealthResponse(health.get(service) ?? 'SERVICE_UNKNOWN')));
    });
    stream.on('close', unsubscribe);
  };
}

/** Unary-style input: one message, under the same limits and first-message deadline as Process. */
function readOneMessage(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  state: SessionState<H2ServerLimits>,
  watch: FirstMessageWatch,
  onMessage: (message: Buffer) => void,
): void {
  const reader = new FrameReader(Math.min(HEALTH_MAX_MESSAGE_BYTES, state.limits.maxMessageBytes), state.budget);
  let settled = false;
  const pending: AwaitingFirstMessage = {
    deadline: watch.deadlineFromNow(),
    expire: () => {
      settled = true;
      finish(stream, GRPC_DEADLINE_EXCEEDED, `no complete request message within ${state.limits.firstMessageTimeoutMs} ms`);
    },
  };
  const settle = (): void => {
    settled = true;
    watch.settle(pending);
  };
  watch.add(pending);
  stream.on('close', () => {
    settle();
    reader.dispose();
  });
  stream.on('data', (chunk: Buffer) => {
    if (settled) return;
    try {
      const [message] = reader.push(chunk);
      if (message === undefined) return;
      settle();
      onMessage(message);
    } catch (err) {
      settle();
      reader.dispose();
      if (err instanceof FrameError) finish(stream, ...frameErrorStatus(err, headers));
      else finish(stream, GrpcStatus.INTERNAL, err instanceof Error ? err.message : 'malformed request');
    }
  });
}

/** Ends a stream with a gRPC status (and optionally one message) in a single response. */
function finish(stream: ServerHttp2Stream, grpcStatus: number, message?: string, body?: Buffer): void {
  if (stream.destroyed || stream.writableEnded) return;
  const trailers: Record<string, string> = { 'grpc-status': String(grpcStatus) };
  if (message !== undefined) trailers['grpc-message'] = encodeURIComponent(message);
  if (!stream.headersSent) stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
  stream.removeAllListeners('wantTrailers');
  stream.on('wantTrailers', () => stream.sendTrailers(trailers));
  if (body !== undefined) stream.write(frame(body));
  stream.end();
}
