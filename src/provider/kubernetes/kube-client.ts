import { readFile } from 'node:fs/promises';
import { Agent, type Dispatcher } from 'undici';
import { abortReason } from '../../clock';
import type { KubeConnection } from './kube-config';
import { readCapped } from '../read-capped';

/** The API server could not be reached, timed out, or broke a stream. Never carries a credential. */
export class KubeUnavailableError extends Error {
  readonly code = 'KUBE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeUnavailableError';
  }
}

export interface KubeObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: KubeObjectMeta;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: KubeObject;
}

/** How a watch ended when the server, not the network, ended it. */
export type WatchEnd =
  | { readonly reason: 'closed' }
  | { readonly reason: 'gone' }
  | { readonly reason: 'error'; readonly status: number; readonly message: string };

export interface KubeResponse {
  readonly status: number;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  readonly body: unknown;
}

export interface KubeRequestOptions {
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown;
  /** Default application/json; e.g. application/merge-patch+json for PATCH. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

export interface KubeClient {
  /** One request. Never throws on an HTTP status; throws KubeUnavailableError on network failure or timeout, the signal's reason on abort. */
  request(method: string, path: string, options?: KubeRequestOptions): Promise<KubeResponse>;
  /**
   * Watches the collection `path` (may carry a query) from `resourceVersion`, calling `onEvent` for each
   * ADDED/MODIFIED/DELETED/BOOKMARK event as it arrives and `onConnected` once the server accepted the watch.
   * Resolves with how the server ended it (410 Gone, as a status or an ERROR event, is `gone`); rejects with
   * KubeUnavailableError on network failure or an oversized/garbled event, with the signal's reason on abort,
   * and with whatever `onEvent` throws.
   */
  watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
    onConnected?: () => void,
  ): Promise<WatchEnd>;
  /** Destroys the dispatcher this client created (in-flight watches end); an injected one belongs to the caller. */
  close(): Promise<void>;
}

export interface KubeClientOptions {
  /** Bound for a request, and for a watch's response headers. */
  readonly timeoutMs: number;
  /** Injected for tests (undici MockAgent); by default an Agent with the connection's TLS material. */
  readonly dispatcher?: Dispatcher;
  /** Server-side lifetime of one watch (default 300 s); the informer re-watches from its resourceVersion. */
  readonly watchTimeoutSeconds?: number;
  readonly maxLineBytes?: number;
  readonly maxBodyBytes?: number;
  /** How long a token read from tokenFile is reused (default 60 s). */
  readonly tokenRefreshMs?: number;
  readonly now?: () => number;
  readonly readTextFile?: (path: string) => Promise<string>;
}

/** etcd caps an object at ~1.5 MiB; an event line far past that is a misbehaving server, not data. */
export const MAX_WATCH_LINE_BYTES = 8 * 1024 * 1024;
/** A LIST page of 500 objects of a few KiB each fits with a wide margin. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;
const DEFAULT_TOKEN_REFRESH_MS = 60_000;

/**
 * Splits a byte stream into newline-terminated lines. Works on bytes so a UTF-8 character split across
 * chunks survives; throws once a line grows past `maxLineBytes`, so memory stays bounded.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** The complete, non-blank lines this chunk finished, without their newline. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      this.take(chunk.subarray(start, nl));
      const line = Buffer.concat(this.parts, this.pendingBytes).toString('utf8').trim();
      this.parts = [];
      this.pendingBytes = 0;
      if (line !== '') lines.push(line);
      start = nl + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start));
    return lines;
  }

  private take(bytes: Buffer): void {
    this.pendingBytes += bytes.length;
    if (this.pendingBytes > this.maxLineBytes) {
      this.parts = [];
      throw new KubeUnavailableError(`watch event larger than ${this.maxLineBytes} bytes`);
    }
    if (bytes.length > 0) this.parts.push(bytes);
  }
}

/** What one watch line means: an event to deliver, the end of the watch, or nothing (unknown type). */
export function parseWatchLine(line: string): WatchEvent | WatchEnd | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new KubeUnavailableError('watch sent a line that is not JSON');
  }
  if (!isRecord(json) || typeof json.type !== 'string' || !isRecord(json.object))
    throw new KubeUnavailableError('watch sent an event without type or object');
  const { type, object } = json;
  if (type === 'ERROR') {
    const code = typeof object.code === 'number' ? object.code : 500;
    return code === 410 ? { reason: 'gone' } : { reason: 'error', status: code, message: statusMessage(object) };
  }
  if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK') return { type, object };
  return undefined;
}

/** The `message` of a Kubernetes Status body, shortened; the status text otherwise. */
export function statusMessage(body: unknown): string {
  const text = isRecord(body) && typeof body.message === 'string' ? body.message : typeof body === 'string' ? body : '';
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

export function createKubeClient(connection: KubeConnection, options: KubeClientOptions): KubeClient {
  const url = new URL(connection.server);
  const basePath = url.pathname.replace(/\/+$/, '');
  const owned = options.dispatcher === undefined;
  const dispatcher =
    options.dispatcher ??
    new Agent({
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: {
        timeout: Math.min(options.timeoutMs, 5_000),
        ...(connection.ca === undefined ? {} : { ca: connection.ca }),
        ...(connection.cert === undefined ? {} : { cert: connection.cert }),
        ...(connection.key === undefined ? {} : { key: connection.key }),
        rejectUnauthorized: connection.insecureSkipTlsVerify !== true,
      },
    });
  const token = tokenSource(connection, options);
  const watchSeconds = options.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS;
  const maxLineBytes = options.maxLineBytes ?? MAX_WATCH_LINE_BYTES;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;

  async function headers(extra: Record<string, string>): Promise<Record<string, string>> {
    const bearer = await token.get();
    return {
      accept: 'application/json',
      'user-agent': 'faas-waker',
      ...extra,
      ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
    };
  }

  async function send(
    req: { method: string; path: string; body?: string; contentType?: string; bodyTimeoutMs: number },
    signal: AbortSignal | undefined,
    timeout: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    const signals = [signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    try {
      const res = await dispatcher.request({
        origin: url.origin,
        path: `${basePath}${req.path}`,
        method: req.method,
        headers: await headers(req.body === undefined ? {} : { 'content-type': req.contentType ?? 'application/json' }),
        body: req.body ?? null,
        headersTimeout: options.timeoutMs,
        bodyTimeout: req.bodyTimeoutMs,
        ...(signals.length === 0 ? {} : { signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) }),
      });
      // A rotated or revoked token: read the file again next time instead of waiting out the cache.
      if (res.statusCode === 401) token.invalidate();
      return res;
    } catch (err) {
      throw unavailable(err, `${req.method} ${req.path}`, signal);
    }
  }

  return {
    async request(method, path, opts = {}) {
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const body = opts.body === undefined || typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      const res = await send({ method, path, body, contentType: opts.contentType, bodyTimeoutMs: options.timeoutMs }, opts.signal, timeout);
      let text: string;
      try {
        text = await readCapped(
          res.body,
          maxBodyBytes,
          (max) => new KubeUnavailableError(`Kubernetes API answer larger than ${max} bytes`),
        );
      } catch (err) {
        throw unavailable(err, `${method} ${path}`, opts.signal);
      }
      return { status: res.statusCode, body: parseBody(text) };
    },

    async watch(path, resourceVersion, onEvent, signal, onConnected) {
      const sep = path.includes('?') ? '&' : '?';
      const query = `watch=1&resourceVersion=${encodeURIComponent(resourceVersion)}&allowWatchBookmarks=true&timeoutSeconds=${watchSeconds}`;
      // The server may stay silent for the whole watch; only a stream far past its lifetime is dead.
      const res = await send(
        { method: 'GET', path: `${path}${sep}${query}`, bodyTimeoutMs: (watchSeconds + 30) * 1000 },
        signal,
        undefined,
      );
      if (res.statusCode !== 200) {
        const text = await readCapped(
          res.body,
          MAX_ERROR_BODY_BYTES,
          (max) => new KubeUnavailableError(`Kubernetes API answer larger than ${max} bytes`),
        ).catch(() => '');
        return res.statusCode === 410
          ? { reason: 'gone' }
          : { reason: 'error', status: res.statusCode, message: statusMessage(parseBody(text)) };
      }
      onConnected?.();
      return streamEvents(res.body, new LineSplitter(maxLineBytes), onEvent, signal, path);
    },

    async close() {
      if (owned) await dispatcher.destroy();
    },
  };
}

/** Wraps a failure of the caller's onEvent, so it is not mistaken for a network failure. */
class HandlerFailure extends Error {
  constructor(readonly error: unknown) {
    super('watch event handler failed', { cause: error });
  }
}

async function streamEvents(
  body: Dispatcher.ResponseData['body'],
  splitter: LineSplitter,
  onEvent: (event: WatchEvent) => void,
  signal: AbortSignal,
  path: string,
): Promise<WatchEnd> {
  try {
    for await (const chunk of body) {
      for (const line of splitter.push(chunk as Buffer)) {
        const parsed = parseWatchLine(line);
        if (parsed === undefined) continue;
        if ('reason' in parsed) return parsed;
        try {
          onEvent(parsed);
        } catch (err) {
          throw new HandlerFailure(err);
        }
      }
    }
    return { reason: 'closed' };
  } catch (err) {
    if (err instanceof HandlerFailure) throw err.error;
    throw unavailable(err, `watch ${path}`, signal);
  } finally {
    // Returning early (gone, error) must not leave the connection streaming into nowhere.
    if (!body.destroyed) body.destroy();
  }
}

function unavailable(err: unknown, what: string, signal: AbortSignal | undefined): Error {
  if (signal?.aborted === true) return abortReason(signal);
  if (err instanceof KubeUnavailableError) return err;
  return new KubeUnavailableError(`Kubernetes API ${what} failed: ${describeNetworkError(err)}`, { cause: err });
}

interface TokenSource {
  get(): Promise<string | undefined>;
  invalidate(): void;
}

/** A static token, or the tokenFile re-read at most every `tokenRefreshMs` (the kubelet rewrites it as it rotates). */
function tokenSource(connection: KubeConnection, options: KubeClientOptions): TokenSource {
  const { token, tokenFile } = connection;
  if (token !== undefined || tokenFile === undefined) return { get: () => Promise.resolve(token), invalidate: () => undefined };
  const read = options.readTextFile ?? ((p: string) => readFile(p, 'utf8'));
  const now = options.now ?? (() => Date.now());
  const refreshMs = options.tokenRefreshMs ?? DEFAULT_TOKEN_REFRESH_MS;
  let cached: string | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  return {
    async get() {
      if (cached !== undefined && now() - readAt < refreshMs) return cached;
      try {
        cached = (await read(tokenFile)).trim();
        readAt = now();
      } catch (err) {
        // Keep using the last token: a transient read failure during rotation should not drop auth.
        if (cached === undefined)
          throw new KubeUnavailableError(`cannot read the token file ${tokenFile}: ${describeNetworkError(err)}`, { cause: err });
      }
      return cached;
    },
    invalidate() {
      readAt = Number.NEGATIVE_INFINITY;
    },
  };
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A short, credential-free cause. Duck-typed: errors from Node's own realm fail `instanceof` under jest's vm. */
function describeNetworkError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const { code, name, message } = err as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string' && code !== '') return code;
  if (typeof name === 'string' && name !== '' && name !== 'Error') return name;
  return typeof message === 'string' && message !== '' ? message : 'unknown error';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
