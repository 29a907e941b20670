/** The local provider: an OpenFaaS faas-provider API whose functions are real child processes.
 * Used by the demo, the e2e tests and the benchmarks; tests can embed it with `startLocalProvider`. */
import { existsSync } from 'node:fs';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildStats, releaseHung, type ProviderContext, type ProviderStats } from './context';
import { FunctionRegistry, type LogEvent } from './function-registry';
import { handleHook } from './hook-routes';
import { BadRequestError, sendText, splitTarget, type BasicCredentials } from './http-util';
import { proxyRequest } from './proxy';
import { parseAddress, parseSpec, SpecError, type FunctionSpec } from './spec';
import { handleSystem } from './system-routes';

export type { ProviderStats } from './context';
export type { FunctionStats, FunctionStatus, LogEvent } from './function-registry';

export interface LocalProviderOptions {
  /** 0 (the default) picks an ephemeral port. */
  readonly port?: number;
  readonly host?: string;
  readonly defaultNamespace?: string;
  /** Specs (`name[.ns]:delay[:min][:listen-delay=MS]`) or parsed specs (with labels/annotations); every function starts at 0 replicas. */
  readonly functions?: readonly (string | FunctionSpec)[];
  /** When set, every /system/* route requires these HTTP Basic credentials. */
  readonly auth?: BasicCredentials | null;
  /** 202 like faas-netes (default) or 200 like faasd. */
  readonly scaleStatus?: 200 | 202;
  /** Compiled JS of the function process; defaults to ../function/main.js next to this file's output. */
  readonly functionEntry?: string;
  /** Event sink (`scale`, `start`, `ready`, `exit`, ...); silent by default. */
  readonly log?: LogEvent;
}

export interface LocalProvider {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
  stats(): ProviderStats;
}

const FUNCTION_ROUTE = /^\/(?:async-)?function\/([^/]+)(\/.*)?$/;

export async function startLocalProvider(opts: LocalProviderOptions = {}): Promise<LocalProvider> {
  const defaultNamespace = opts.defaultNamespace ?? 'openfaas-fn';
  const functionEntry = opts.functionEntry ?? join(__dirname, '..', 'function', 'main.js');
  if (!existsSync(functionEntry)) throw new Error(`function entry not found: ${functionEntry} (build with tsc -p tsconfig.tools.json)`);
  const log = opts.log ?? ((): void => undefined);
  const ctx = createContext(new FunctionRegistry(functionEntry, log), defaultNamespace, opts, log);
  for (const spec of opts.functions ?? []) {
    const parsed = typeof spec === 'string' ? parseSpec(spec, defaultNamespace) : spec;
    if (!ctx.registry.add(parsed)) throw new SpecError(`duplicate function: ${parsed.name}.${parsed.namespace}`);
  }
  // Keep-alive towards the children: benchmarks push many requests through this hop.
  const agent = new Agent({ keepAlive: true, timeout: 30_000 });
  const server = createServer((req, res) => {
    handleRequest(ctx, agent, req, res).catch((err: unknown) => answerError(res, err));
  });
  // Longer than Envoy's upstream idle reuse, so Envoy never picks a connection we are closing.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // No orphans even if the embedding process exits without calling close().
  const killChildren = (): void => ctx.registry.killAllNow();
  process.on('exit', killChildren);
  const port = await listen(server, opts.port ?? 0, opts.host ?? '127.0.0.1');
  return {
    port,
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    stats: () => buildStats(ctx),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      releaseHung(ctx);
      server.closeAllConnections();
      await ctx.registry.stopAll();
      agent.destroy();
      await closed;
      process.removeListener('exit', killChildren);
    },
  };
}

function createContext(registry: FunctionRegistry, defaultNamespace: string, opts: LocalProviderOptions, log: LogEvent): ProviderContext {
  return {
    registry,
    defaultNamespace,
    log,
    auth: opts.auth ?? null,
    scaleStatus: opts.scaleStatus ?? 202,
    hung: new Set<ServerResponse>(),
    fault: 'none',
    totals: { statusCalls: 0, scaleCalls: 0, unknownStatusCalls: 0, listCalls: 0 },
    lastAuthorization: null,
    lastScaleBody: null,
    lastStatusQuery: null,
  };
}

async function handleRequest(ctx: ProviderContext, agent: Agent, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { pathname, search } = splitTarget(req.url ?? '/');
  if (pathname === '/healthz') return sendText(res, 200, 'OK');
  if (pathname.startsWith('/system/')) return handleSystem(ctx, req, res, pathname, search);
  if (pathname.startsWith('/_/')) return handleHook(ctx, req, res, pathname);
  const fnRoute = FUNCTION_ROUTE.exec(pathname);
  if (fnRoute?.[1] !== undefined) return handleFunction(ctx, agent, req, res, fnRoute[1], (fnRoute[2] ?? '/') + search);
  sendText(res, 404, 'Not Found');
}

/** Like faas-provider's proxy: no replica means 503 at once, as a Service without endpoints; a replica
 * whose process does not accept connections yet (listen delay) means 500 "Can't reach service". */
function handleFunction(
  ctx: ProviderContext,
  agent: Agent,
  req: IncomingMessage,
  res: ServerResponse,
  address: string,
  target: string,
): void {
  const fn = parseAddress(address, ctx.defaultNamespace);
  const method = req.method ?? 'GET';
  const port = ctx.registry.readyPort(fn);
  if (port === null) {
    ctx.registry.countProxy(fn, 'no-endpoints', method);
    req.resume(); // drain the body so the connection stays usable
    sendText(res, 503, `No endpoints available for: ${address}.`);
    return;
  }
  ctx.registry.countProxy(fn, 'proxied', method);
  proxyRequest(req, res, { port, path: target, name: address }, agent, () => ctx.registry.countProxy(fn, 'failed', method));
}

function answerError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof BadRequestError || err instanceof SpecError) sendText(res, 400, err.message);
  else sendText(res, 500, 'internal error');
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A cold burst releases thousands of requests at once; Node's default backlog (511) would drop SYNs.
    server.listen({ port, host, backlog: 4096 }, () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
