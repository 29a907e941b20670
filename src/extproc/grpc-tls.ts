import type { Config } from '../config/load';
import type { Logger } from '../logging';

/** TLS (and mutual TLS) for the gRPC listener; `undefined` means plain-text HTTP/2. */
export interface GrpcTls {
  readonly requireClientCert: boolean;
  /** Stops watching the certificate files. */
  close(): void;
}

export function grpcTlsFrom(config: Config, logger: Logger): GrpcTls | undefined {
  void logger;
  if (config.grpcTlsCertFile === undefined) return undefined;
  throw new Error('WAKER_GRPC_TLS_CERT_FILE: not implemented yet');
}
