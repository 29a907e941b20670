import { createServer, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import { listenOn } from '../listen';
import { FrameError, FrameReader, frame } from './grpc-frames';
import { decodeHealthRequest, encodeHealthResponse, type HealthState } from './health';
import { GrpcStatus, type GrpcStatusCode, type ProcessCall, type ProcessCallHandlers } from './process-call';
import type { GrpcServer } from './server';
import { CONTINUE_REQUEST_HEADERS, decodeIncoming } from './wire';

const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';
/** Envoy's header messages are a few KiB; anything near this is not ext_proc traffic we want. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const GRPC_OK = '0';
const GRPC_NOT_FOUND = '5';
const GRPC_UNIMPLEMENTED = '12';
const GRPC_INTERNAL = '13';
/** The warm answer, framed once: the warm path writes these 7 bytes and allocates nothing. */
const FRAMED_CONTINUE = frame(CONTINUE_REQUEST_HEADERS);
const RESPONSE_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });
const OK_TRAILERS = Object.freeze({ 'grpc-status': GRPC_OK });
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true });

/**
 * A gRPC server on node:http2 directly, for the two services faas-waker offers (ext_proc Process
 * and grpc.health.v1). The profile of the warm path showed grpc-js's per-call machinery (call
 * objects, metadata, interceptors) costing about as much as everything else together; this server
 * does only what these two methods need. `WAKER_GRPC_ENGINE=grpc-js` selects the grpc-js server.
 */
export async function startH2Server(address: string, process: (call: ProcessCall) => void, health: HealthState): Promise<GrpcServer> {
  const sessions = new Set<Http2Session>();
  const server = createServer({ settings: { maxConcurrentStreams: 1_000_000 } });
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined); // a reset connection closes its streams, which report themselves
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = headers[':path'];
    if (path === PROCESS_PATH) process(new H2ProcessCall(stream));
    else if (path === HEALTH_CHECK_PATH) healthCheck(stream, health);
    else if (path === HEALTH_WATCH_PATH) healthWatch(stream, health);
    else finish(stream, GRPC_UNIMPLEMENTED, `unknown method ${String(path)}`);
  });
  const port = await listenOn(server, address);
  return {
    port,
    stop: (graceMs) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.close(); // GOAWAY: open streams may finish
        setTimeout(() => {
          for (const session of sessions) session.destroy();
        }, graceMs).unref();
      }),
  };
}

/** Shared by every stream (the emitter is `this`): no closure per request. */
function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

class H2ProcessCall implements ProcessCall {
  private closed = false;

  constructor(private readonly stream: ServerHttp2Stream) {
    stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
    stream.on('wantTrailers', sendOkTrailers);
  }

  listen(handlers: ProcessCallHandlers): void {
    const reader = new FrameReader(MAX_MESSAGE_BYTES);
    const gone = (): void => {
      this.closed = true;
      handlers.gone();
    };
    this.stream.on('data', (chunk: Buffer) => {
      if (this.closed) return; // after a failure nothing more is parsed
      try {
        for (const message of reader.push(chunk)) handlers.data(decodeIncoming(message));
      } catch (err) {
        // Envoy answers the client with status_on_error; we close this stream with INTERNAL.
        this.fail(GrpcStatus.INTERNAL, err instanceof FrameError || err instanceof Error ? err.message : 'malformed message');
        gone();
      }
    });
    this.stream.on('end', () => handlers.end());
    this.stream.on('close', gone);
    this.stream.on('aborted', gone);
  }

  write(response: Buffer): void {
    if (this.closed || this.stream.destroyed) return;
    this.stream.write(response === CONTINUE_REQUEST_HEADERS ? FRAMED_CONTINUE : frame(response));
  }

  end(): void {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.end();
  }

  fail(code: GrpcStatusCode, message: string): void {
    this.closed = true;
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.removeAllListeners('wantTrailers');
    this.stream.on('wantTrailers', () => this.stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) }));
    this.stream.end();
  }
}

function healthCheck(stream: ServerHttp2Stream, health: HealthState): void {
  readOneMessage(stream, (request) => {
    const status = health.get(decodeHealthRequest(request));
    if (status === undefined) return finish(stream, GRPC_NOT_FOUND, 'unknown service');
    finish(stream, GRPC_OK, undefined, encodeHealthResponse(status));
  });
}

/** Server streaming: the current status now, then every change, until the client goes away. */
function healthWatch(stream: ServerHttp2Stream, health: HealthState): void {
  readOneMessage(stream, (request) => {
    const service = decodeHealthRequest(request);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': GRPC_OK }));
    stream.write(frame(encodeHealthResponse(health.get(service) ?? 'SERVICE_UNKNOWN')));
    const unsubscribe = health.subscribe(() => {
      if (!stream.destroyed) stream.write(frame(encodeHealthResponse(health.get(service) ?? 'SERVICE_UNKNOWN')));
    });
    stream.on('close', unsubscribe);
  });
}

function readOneMessage(stream: ServerHttp2Stream, onMessage: (message: Buffer) => void): void {
  const reader = new FrameReader(64 * 1024);
  let done = false;
  stream.on('data', (chunk: Buffer) => {
    if (done) return;
    try {
      const [message] = reader.push(chunk);
      if (message === undefined) return;
      done = true;
      onMessage(message);
    } catch (err) {
      done = true;
      finish(stream, GRPC_INTERNAL, err instanceof Error ? err.message : 'malformed request');
    }
  });
}

/** Ends a stream with a gRPC status (and optionally one message) in a single response. */
function finish(stream: ServerHttp2Stream, grpcStatus: string, message?: string, body?: Buffer): void {
  if (stream.destroyed) return;
  const trailers: Record<string, string> = { 'grpc-status': grpcStatus };
  if (message !== undefined) trailers['grpc-message'] = encodeURIComponent(message);
  if (!stream.headersSent) stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers(trailers));
  if (body !== undefined) stream.write(frame(body));
  stream.end();
}
