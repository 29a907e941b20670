import { providerConnectTimeoutMs, providerPoolOptions } from './provider-tls';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { Credentials } from '../config/load';
import type { CredentialsSource } from './credentials';
import { FunctionNotFoundError, ProviderError, ProviderUnavailableError } from '../errors';
import type { FunctionRef } from '../routing/function-ref';
import { parseFunctionStatus, type FunctionStatus, type ScaleRequest } from './provider-types';
import { readCapped } from './read-capped';

export type ProviderCall = 'status' | 'scale' | 'list';

/** Called once per provider call; `outcome` is the status class (`2xx`, `4xx`, ...) or `error`. */
export type ProviderCallObserver = (call: ProviderCall, outcome: string, durationMs: number) => void;

/** A function's status changed (undefined: it is gone, or no longer a function). */
export type StatusListener = (key: string, status: FunctionStatus | undefined) => void;

/** Readiness pushed by a provider that watches (Kubernetes), instead of polled. */
export interface ProviderEvents {
  subscribe(listener: StatusListener): () => void;
  /** Whether changes arrive as events right now: then status reads cost nothing and miss nothing. */
  live(): boolean;
  /** Resolves once the provider has seen every function once (informers listed). */
  readonly synced: Promise<void>;
}

export interface ProviderClient {
  /** Present when the provider pushes changes (see ProviderEvents). */
  readonly events?: ProviderEvents;
  /** Throws FunctionNotFoundError (404), ProviderError (other status, bad JSON), ProviderUnavailableError (network). */
  getStatus(fn: FunctionRef, signal?: AbortSignal): Promise<FunctionStatus>;
  /** 200 and 202 both succeed. Same errors as getStatus. */
  scale(fn: FunctionRef, replicas: number, signal?: AbortSignal): Promise<void>;
  /** `GET /system/functions?namespace=NS`: every function of a namespace in one call. Same errors, no 404. */
  listStatuses(namespace: string, signal?: AbortSignal): Promise<FunctionStatus[]>;
  close(): Promise<void>;
}

export interface ProviderClientOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly connections: number;
  /** Read on every call, so rotated credentials apply at once (see credentials.ts). */
  readonly auth: CredentialsSource;
  /** Injected for tests (undici MockAgent); by default a keep-alive Pool on baseUrl. */
  readonly dispatcher?: Dispatcher;
  readonly observe?: ProviderCallObserver;
  readonly now?: () => number;
}

/** Provider answers are small JSON documents; anything bigger is a misbehaving provider. */
export const MAX_BODY_BYTES = 256 * 1024;
/** The outer bound of a call, in provider timeouts: the call's own timeout plus room to wait for a connection. */
const QUEUE_ALLOWANCE = 3;

/** A namespace's list: a few KiB per function, so room for a few thousand functions. */
export const MAX_LIST_BYTES = 8 * 1024 * 1024;

export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  const url = new URL(options.baseUrl);
  const basePath = url.pathname.replace(/\/+$/, '');
  const dispatcher =
    options.dispatcher ??
    new Pool(url.origin, {
      ...providerPoolOptions({ providerConnections: options.connections, providerTimeoutMs: options.timeoutMs }),
      connect: { timeout: providerConnectTimeoutMs({ providerTimeoutMs: options.timeoutMs }) },
    });
  let lastAuth: { credentials: Credentials; header: string } | undefined;
  const authHeader = (): string | undefined => {
    const credentials = options.auth();
    if (credentials === undefined) return undefined;
    if (lastAuth?.credentials !== credentials)
      lastAuth = { credentials, header: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}` };
    return lastAuth.header;
  };
  const now = options.now ?? (() => performance.now());

  async function call(
    kind: ProviderCall,
    target: { namespace: string; key: string },
    req: { method: 'GET' | 'POST'; path: string; body?: string },
    signal?: AbortSignal,
  ): Promise<{ status: number; text: string }> {
    const started = now();
    // The pool's headersTimeout/bodyTimeout bound the call itself from the moment it has a connection;
    // this outer bound also covers the wait for a free one (WAKER_PROVIDER_CONNECTIONS), which under a
    // burst of wakes is queueing in our own pool, not a slow provider: so it is a few timeouts long.
    const timeout = AbortSignal.timeout(options.timeoutMs * QUEUE_ALLOWANCE);
    const headers: Record<string, string> = { accept: 'application/json' };
    const authorization = authHeader();
    if (authorization !== undefined) headers.authorization = authorization;
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await dispatcher.request({
        origin: url.origin,
        path: `${basePath}${req.path}?namespace=${encodeURIComponent(target.namespace)}`,
        method: req.method,
        headers,
        body: req.body ?? null,
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
      const text = await readCapped(
        res.body,
        kind === 'list' ? MAX_LIST_BYTES : MAX_BODY_BYTES,
        (max) => new ProviderError(`provider answer larger than ${max} bytes`),
      );
      options.observe?.(kind, `${Math.floor(res.statusCode / 100)}xx`, now() - started);
      return { status: res.statusCode, text };
    } catch (err) {
      options.observe?.(kind, 'error', now() - started);
      if (err instanceof ProviderError) throw err;
      throw new ProviderUnavailableError(`provider ${kind} call for ${target.key} failed: ${describeNetworkError(err)}`, { cause: err });
    }
  }

  return {
    async getStatus(fn, signal) {
      const res = await call('status', fn, { method: 'GET', path: `/system/function/${encodeURIComponent(fn.name)}` }, signal);
      if (res.status === 404) throw new FunctionNotFoundError(`provider does not know ${fn.key}`);
      if (res.status !== 200) throw new ProviderError(`provider status call for ${fn.key} answered ${res.status}`, res.status);
      let json: unknown;
      try {
        json = JSON.parse(res.text);
      } catch (err) {
        throw new ProviderError(`provider status for ${fn.key} is not JSON`, res.status, { cause: err });
      }
      const status = parseFunctionStatus(json);
      if (typeof status === 'string') throw new ProviderError(`provider status for ${fn.key} is malformed: ${status}`, res.status);
      return status;
    },
    async scale(fn, replicas, signal) {
      const body: ScaleRequest = { serviceName: fn.name, namespace: fn.namespace, replicas };
      const res = await call(
        'scale',
        fn,
        { method: 'POST', path: `/system/scale-function/${encodeURIComponent(fn.name)}`, body: JSON.stringify(body) },
        signal,
      );
      if (res.status === 200 || res.status === 202) return;
      if (res.status === 404) throw new FunctionNotFoundError(`provider does not know ${fn.key}`);
      throw new ProviderError(`provider scale call for ${fn.key} answered ${res.status}`, res.status);
    },
    async listStatuses(namespace, signal) {
      const res = await call('list', { namespace, key: `namespace ${namespace}` }, { method: 'GET', path: '/system/functions' }, signal);
      if (res.status !== 200) throw new ProviderError(`provider list call for namespace ${namespace} answered ${res.status}`, res.status);
      let json: unknown;
      try {
        json = JSON.parse(res.text);
      } catch (err) {
        throw new ProviderError(`provider list for namespace ${namespace} is not JSON`, res.status, { cause: err });
      }
      // All or nothing: a malformed entry must not read as "that function does not exist".
      if (!Array.isArray(json)) throw new ProviderError(`provider list for namespace ${namespace} is not a JSON array`, res.status);
      return json.map((entry: unknown) => {
        const status = parseFunctionStatus(entry);
        if (typeof status === 'string')
          throw new ProviderError(`provider list for namespace ${namespace} is malformed: ${status}`, res.status);
        return status;
      });
    },
    close: () => dispatcher.close(),
  };
}

function describeNetworkError(err: unknown): string {
  if (err instanceof undiciErrors.UndiciError) return err.code;
  // Duck-typed: errors from node's TLS layer may come from another realm (jest's vm), failing instanceof.
  if (typeof err === 'object' && err !== null) {
    const { code, name } = err as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (typeof name === 'string') return name;
  }
  return 'unknown error';
}
