import type { Http2SecureServer, SecureServerOptions } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/load';
import { errorMessage } from '../errors';
import type { Logger } from '../logging';
import { realFileIo, type FileIo } from '../reread-files';
import { pemFiles, type PemFiles, type PemMaterial, type PemSource } from '../tls-material';

/** TLS (and mutual TLS) for the gRPC listener; `undefined` means plain-text HTTP/2. */
export interface GrpcTls {
  readonly requireClientCert: boolean;
  /** createSecureServer options: the current certificates, h2 only, the client-certificate policy. */
  serverOptions(): SecureServerOptions;
  /** Keeps `server`'s certificates current (setSecureContext) and logs refused handshakes, until close(). */
  attach(server: Http2SecureServer): void;
  /** Stops watching the certificate files. */
  close(): void;
}

export interface GrpcTlsOptions {
  /** How often the files are checked for a rotation (one stat per file). */
  readonly checkIntervalMs: number;
  /** At most one `grpc.tls_refused` line per this interval; the others are counted in the next one. */
  readonly refusedLogIntervalMs: number;
  readonly io: FileIo;
  readonly now: () => number;
}

const DEFAULTS: GrpcTlsOptions = { checkIntervalMs: 1_000, refusedLogIntervalMs: 10_000, io: realFileIo, now: () => Date.now() };

export function grpcTlsFrom(config: Config, logger: Logger, options: Partial<GrpcTlsOptions> = {}): GrpcTls | undefined {
  if (config.grpcTlsCertFile === undefined || config.grpcTlsKeyFile === undefined) return undefined;
  const opts = { ...DEFAULTS, ...options };
  const files: PemFiles = {
    cert: { path: config.grpcTlsCertFile, setting: 'WAKER_GRPC_TLS_CERT_FILE' },
    key: { path: config.grpcTlsKeyFile, setting: 'WAKER_GRPC_TLS_KEY_FILE' },
    ...(config.grpcClientCaFile === undefined ? {} : { ca: { path: config.grpcClientCaFile, setting: 'WAKER_GRPC_CLIENT_CA_FILE' } }),
  };
  return new WatchedGrpcTls(pemFiles(files, 'gRPC listener TLS', logger, opts.io), config.grpcClientCaFile !== undefined, logger, opts);
}

class WatchedGrpcTls implements GrpcTls {
  private readonly servers = new Set<Http2SecureServer>();
  private timer: NodeJS.Timeout | undefined;
  private applied: PemMaterial;
  /** Material node:tls refused, not retried until the files change again. */
  private rejected: PemMaterial | undefined;
  private readonly refused: RefusalLog;

  constructor(
    private readonly source: PemSource,
    readonly requireClientCert: boolean,
    private readonly logger: Logger,
    private readonly options: GrpcTlsOptions,
  ) {
    this.applied = source();
    this.refused = new RefusalLog(logger, options);
  }

  serverOptions(): SecureServerOptions {
    return {
      ...this.applied,
      allowHTTP1: false, // ALPN offers h2 only: a client that cannot speak it fails the handshake
      // With a client CA: no certificate fails the handshake itself; one that does not verify
      // (another CA, expired) is dropped by Node right after it, before any HTTP/2 session exists.
      requestCert: this.requireClientCert,
      rejectUnauthorized: this.requireClientCert,
    };
  }

  attach(server: Http2SecureServer): void {
    this.servers.add(server);
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => this.refused.add(reason(err, socket)));
    server.once('close', () => this.servers.delete(server));
    // A timer, not a check per handshake: Node has no hook before every handshake (SNICallback runs
    // only when the client sends SNI). unref: it never keeps the process alive.
    this.timer ??= setInterval(() => this.check(), this.options.checkIntervalMs).unref();
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.servers.clear();
  }

  /** New handshakes get the new context; open connections keep theirs (they were verified). */
  private check(): void {
    const material = this.source();
    if (material === this.applied || material === this.rejected) return;
    const previous = this.applied;
    this.applied = material;
    try {
      for (const server of this.servers) server.setSecureContext(this.serverOptions());
    } catch (err) {
      // pemFiles checked the files; should node:tls still refuse them, a timer must not crash the process.
      this.applied = previous;
      this.rejected = material;
      for (const server of this.servers) server.setSecureContext(this.serverOptions());
      this.logger.warn(
        { event: 'tls.files_unusable', what: 'gRPC listener TLS', err: errorMessage(err) },
        'node:tls refused the changed certificates: keeping the last good ones',
      );
    }
  }
}

/** Why a handshake failed: the certificate verdict when there was one, else the TLS error's code. */
function reason(err: Error, socket: TLSSocket): string {
  const verdict = (socket as TLSSocket & { authorizationError?: string | null }).authorizationError;
  if (typeof verdict === 'string' && verdict !== '') return verdict;
  return (err as NodeJS.ErrnoException).code ?? err.message.split('\n')[0] ?? 'unknown';
}

/** Reasons remembered as already reported; TLS error codes are a small set, this only bounds the odd message. */
const MAX_KNOWN_REASONS = 64;

/**
 * Refused handshakes, logged without letting a peer that retries in a loop flood the log: a reason
 * not seen before at once, repeats summed into one line per interval with their counts.
 */
export class RefusalLog {
  private last = Number.NEGATIVE_INFINITY;
  private pending = new Map<string, number>();
  private readonly known = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly options: Pick<GrpcTlsOptions, 'refusedLogIntervalMs' | 'now'>,
  ) {}

  add(why: string): void {
    this.pending.set(why, (this.pending.get(why) ?? 0) + 1);
    const fresh = !this.known.has(why) && this.known.size < MAX_KNOWN_REASONS;
    if (fresh) this.known.add(why);
    const wait = this.last + this.options.refusedLogIntervalMs - this.options.now();
    if (wait <= 0 || fresh) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), wait).unref();
  }

  private flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.size === 0) return;
    const reasons = Object.fromEntries(this.pending);
    const refused = [...this.pending.values()].reduce((a, b) => a + b, 0);
    this.pending = new Map();
    this.last = this.options.now();
    this.logger.warn(
      { event: 'grpc.tls_refused', refused, reasons },
      'refused TLS connections on the gRPC listener (no client certificate, one not signed by WAKER_GRPC_CLIENT_CA_FILE, expired, or not TLS)',
    );
  }
}
