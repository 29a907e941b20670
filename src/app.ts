import type { Dispatcher } from 'undici';
import { json, startAdminServer, type AdminRoute, type AdminServer } from './admin/admin-server';
import { systemClock, type Clock } from './clock';
import { OVERRIDE_MARGIN_MS, type Config } from './config/load';
import { startGrpcServer, type GrpcServer } from './extproc/server';
import { createStreamHandler } from './extproc/stream-handler';
import type { Logger } from './logging';
import { createProviderClient } from './provider/provider-client';
import { createReadinessCache } from './waker/readiness-cache';
import { Waker } from './waker/waker';

export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** For tests: an undici dispatcher instead of a real pool. */
  readonly dispatcher?: Dispatcher;
}

export interface App {
  readonly waker: Waker;
  start(): Promise<{ grpcPort: number; adminPort: number }>;
  /** Graceful: drain delay, grace for held requests, then 503 for what is left; resolves when closed. */
  stop(): Promise<void>;
}

/** Composition root: the only place that constructs and wires objects. */
export function buildApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const provider = createProviderClient({
    baseUrl: config.providerUrl,
    timeoutMs: config.providerTimeoutMs,
    connections: config.providerConnections,
    auth: config.providerAuth,
    ...(deps.dispatcher === undefined ? {} : { dispatcher: deps.dispatcher }),
  });
  const cache = createReadinessCache({ readyTtlMs: config.readyTtlMs, notFoundTtlMs: config.notFoundTtlMs, maxKeys: config.cacheMaxKeys });
  const waker = new Waker(
    {
      holdTimeoutMs: config.holdTimeoutMs,
      wakeTimeoutMs: config.wakeTimeoutMs,
      maxHeldPerFunction: config.maxHeldPerFunction,
      maxHeldTotal: config.maxHeldTotal,
      pollMinIntervalMs: config.pollMinIntervalMs,
      pollMaxIntervalMs: config.pollMaxIntervalMs,
      maxLearned: config.cacheMaxKeys,
    },
    { provider, cache, clock, logger },
  );
  const handler = createStreamHandler({
    waker,
    router: { prefixes: config.functionPrefixes, defaultNamespace: config.defaultNamespace },
    logger,
    holdTimeoutMs: config.holdTimeoutMs,
    overrideMarginMs: OVERRIDE_MARGIN_MS,
  });

  let grpc: GrpcServer | undefined;
  let admin: AdminServer | undefined;
  let draining = false;
  const routes: AdminRoute[] = [
    (_req, url) => (url.pathname === '/healthz' ? { status: 200, body: 'ok\n' } : undefined),
    (_req, url) => (url.pathname === '/readyz' ? (grpc !== undefined && !draining ? { status: 200, body: 'ready\n' } : { status: 503, body: 'not ready\n' }) : undefined),
    (_req, url) => (url.pathname === '/status' ? json(200, { draining, heldTotal: waker.heldTotal, ...waker.snapshot(), cache: cache.size }) : undefined),
  ];

  return {
    waker,
    async start() {
      admin = await startAdminServer(config.adminAddress, routes);
      grpc = await startGrpcServer(config.grpcAddress, handler);
      return { grpcPort: grpc.port, adminPort: admin.port };
    },
    async stop() {
      draining = true;
      await clock.sleep(config.drainDelayMs);
      const graceEnd = clock.now() + config.shutdownGraceMs;
      while (waker.heldTotal > 0 && clock.now() < graceEnd) await clock.sleep(Math.min(50, graceEnd - clock.now()));
      waker.stop();
      await grpc?.stop(1_000);
      await admin?.close();
      await provider.close();
      cache.close();
    },
  };
}
