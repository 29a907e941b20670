import type { Incoming } from './wire';

/** gRPC status codes this service ends streams with (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/**
 * One ext_proc `Process` stream as the stream handler sees it. Keeps the handler free of transport
 * details (and testable with a fake).
 */
export interface ProcessCall {
  /** Registers the handler's callbacks; `gone` may be called more than once and after `end`. */
  listen(handlers: ProcessCallHandlers): void;
  /** Sends one encoded ProcessingResponse. Ignored once the stream is gone. */
  write(response: Buffer): void;
  /** Ends our side with gRPC status OK (after Envoy half-closed). */
  end(): void;
  /**
   * Ends the stream with a non-OK gRPC status: for protocol violations by the peer. Envoy answers
   * its client with `status_on_error`. Nothing is parsed or written afterwards, and `gone` follows.
   */
  fail(code: GrpcStatusCode, message: string): void;
}

export interface ProcessCallHandlers {
  data(message: Incoming): void;
  /** Envoy half-closed: it needs nothing more (or, with graceful close, its client left). */
  end(): void;
  /** The stream is closed or reset: stop holding, never write again. */
  gone(): void;
}
