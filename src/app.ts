import type { Dispatcher } from 'undici';
import { startAdminServer, type AdminServer } from './admin/admin-server';
import { tokenFromFile } from './admin/admin-token';
import { healthRoutes, metricsRoute, statusRoute, wakeRoute } from './admin/routes';
import { systemClock, type Clock } from './clock';
import { OVERRIDE_MARGIN_MS, type Config } from './config/load';
import { startH2Server, type GrpcServer } from './extproc/h2-server';
import { HealthState } from './extproc/health';
import { createStreamHandler } from './extproc/stream-handler';
import type { Logger } from './logging';
import { createMetrics } from './metrics';
import { createProvider } from './provider-factory';
import { grpcTlsFrom } from './extproc/grpc-tls';
import { loadWaitingPage, WAITING_PAGE_REFRESH_SEC } from './waiting-page/waiting-page';
import { createHttpReadyProber } from './waker/http-ready-prober';
import { createReadinessCache } from './waker/readiness-cache';
import { Waker } from './waker/waker';

export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** For tests: an undici dispatcher instead of a real pool. */
  readonly dispatcher?: Dispatcher;
  /** Shown in faas_waker_build_info. */
  readonly version?: string;
}

export interface App {
  readonly waker: Waker;
  start(): Promise<{ grpcPort: number; adminPort: number }>;
  /** Graceful: drain delay, grace for held requests, then 503 for what is left; resolves when closed. */
  stop(): Promise<void>;
}

const NOTHING_HELD: ReadonlyMap<string, number> = new Map();

/** Composition root: the only place that constructs and wires objects. */
export function buildApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const metrics = createMetrics(deps.version ?? 'unknown');
  // The idle scaler (in the provider) asks the waker what it holds, and the waker needs the provider:
  // bound once the waker exists.
  const late: { waker?: Waker } = {};
  const { provider, activity } = createProvider(deps, clock, metrics, () => late.waker?.heldCounts() ?? NOTHING_HELD);
  const tls = grpcTlsFrom(config, logger);
  // Read at start (even when off by default: a function's policy can turn it on); a configured file
  // that cannot be read stops the start, and main.ts prints the reason.
  const waitingPage = loadWaitingPage(config.waitingPageTemplate);
  const prober =
    config.readyProbeUrl === undefined
      ? undefined
      : // One probe is a request to the function itself: bounded tighter than a provider call, and retried.
        createHttpReadyProber({ urlTemplate: config.readyProbeUrl, clock, logger, timeoutMs: Math.min(config.providerTimeoutMs, 2_000) });
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
      maxHoldTimeoutMs: config.envoyMaxMessageTimeoutMs - OVERRIDE_MARGIN_MS,
      ...(config.readyProbePath === undefined ? {} : { readyProbePath: config.readyProbePath }),
    },
    { provider, cache, clock, logger, observer: metrics.waker, ...(prober === undefined ? {} : { prober }) },
  );
  late.waker = waker;
  metrics.trackHeld(waker);
  const handler = createStreamHandler({
    waker,
    router: { prefixes: config.functionPrefixes, defaultNamespace: config.defaultNamespace },
    logger,
    holdTimeoutMs: config.holdTimeoutMs,
    overrideMarginMs: OVERRIDE_MARGIN_MS,
    observer: metrics.stream,
    ...(activity === undefined ? {} : { activity }),
    waitingPage: { page: waitingPage, onByDefault: config.waitingPage, refreshSec: WAITING_PAGE_REFRESH_SEC },
    clock,
  });
  const health = new HealthState();

  let grpc: GrpcServer | undefined;
  let admin: AdminServer | undefined;
  let draining = false;
  let providerSynced = provider.events === undefined;
  provider.events?.synced.then(
    () => {
      providerSynced = true;
      logger.info({ event: 'provider.synced' }, 'every watched namespace listed');
    },
    () => undefined, // stopped before it synced
  );
  const routes = [
    // Kubernetes: not ready until the informers have listed every namespace once.
    ...healthRoutes({ ready: () => grpc !== undefined && providerSynced, draining: () => draining }),
    metricsRoute(metrics.registry),
    statusRoute(waker, () => ({ draining, cache: cache.size })),
    wakeRoute(waker, config.defaultNamespace, tokenFromFile(config.adminTokenFile)),
  ];

  return {
    waker,
    async start() {
      admin = await startAdminServer(config.adminAddress, routes);
      grpc = await startH2Server(config.grpcAddress, handler, health, {}, tls === undefined ? {} : { tls });
      return { grpcPort: grpc.port, adminPort: admin.port };
    },
    async stop() {
      // 1. Tell Envoy's health checker and Kubernetes to move traffic away, but keep answering.
      draining = true;
      health.set('NOT_SERVING');
      logger.info(
        { event: 'shutdown.drain', drainDelayMs: config.drainDelayMs, heldTotal: waker.heldTotal },
        'draining: health is NOT_SERVING',
      );
      await clock.sleep(config.drainDelayMs);
      // 2. No new holds; held requests get the grace period to finish their wake.
      waker.refuseNewHolds();
      const graceEnd = clock.now() + config.shutdownGraceMs;
      while (waker.heldTotal > 0 && clock.now() < graceEnd) await clock.sleep(Math.min(50, graceEnd - clock.now()));
      // 3. Whatever is still held gets 503 + retry-after: a silent stream end would make Envoy forward it.
      logger.info({ event: 'shutdown.release', stillHeld: waker.heldTotal }, 'answering what is still held with 503');
      waker.stop();
      await grpc?.stop(1_000);
      await admin?.close();
      await provider.close();
      tls?.close();
      prober?.close();
      cache.close();
    },
  };
}
