import type { Incoming } from './wire';

/**
 * One ext_proc `Process` stream as the stream handler sees it, whichever gRPC server carries it
 * (node:http2 directly, or grpc-js). Keeps the handler free of transport details.
 */
export interface ProcessCall {
  /** Registers the handler's callbacks; `gone` may be called more than once and after `end`. */
  listen(handlers: ProcessCallHandlers): void;
  /** Sends one encoded ProcessingResponse. Ignored once the stream is gone. */
  write(response: Buffer): void;
  /** Ends our side with gRPC status OK (after Envoy half-closed). */
  end(): void;
}

export interface ProcessCallHandlers {
  data(message: Incoming): void;
  /** Envoy half-closed: it needs nothing more (or, with graceful close, its client left). */
  end(): void;
  /** The stream is closed or reset: stop holding, never write again. */
  gone(): void;
}
