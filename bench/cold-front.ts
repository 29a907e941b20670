/**
 * The cold scenarios share one local provider (and its function processes), but every phase gets
 * its own "front": a faas-waker process that has never woken anything, and an Envoy pointing at it.
 * So a first wake really has no history, and nothing learned from an earlier phase (per function or
 * shared) can help it.
 */
import { startEnvoy, type EnvoyProcess } from '../dev/stack/envoy';
import { startProvider, startWaker, type ProviderProcess, type WakerProcess } from '../dev/stack/processes';
import { accessLogToDevNull, withoutExtProc } from './envoy-config';
import type { Scope } from './scope';
import { pidOf } from './warm';

export interface Front {
  readonly waker: WakerProcess;
  readonly envoy: EnvoyProcess;
  /** envoy, waker and provider pids, for CPU sampling. */
  readonly pids: Record<string, number>;
  readonly origin: string;
  /** Stops the Envoy, then faas-waker (idempotent). */
  stop(): Promise<void>;
}

export async function startColdProvider(args: readonly string[], scope: Scope): Promise<ProviderProcess> {
  const provider = await startProvider(args);
  scope.add(() => provider.stop());
  return provider;
}

/** A new faas-waker (never woke a function) and a new Envoy in front of it and the provider. */
export async function startFront(provider: ProviderProcess, wakerEnv: Record<string, string>, scope: Scope): Promise<Front> {
  const waker = await startWaker({ WAKER_PROVIDER_URL: provider.url, ...wakerEnv });
  const stopWaker = scope.add(() => waker.stop('SIGKILL'));
  const envoy = await startEnvoy({ grpcPort: waker.grpcPort, gatewayPort: provider.port, concurrency: 1, patch: accessLogToDevNull });
  const stopEnvoy = scope.add(() => envoy.stop());
  return {
    waker,
    envoy,
    pids: { envoy: pidOf(envoy.child), waker: pidOf(waker.child), provider: pidOf(provider.child) },
    origin: `http://127.0.0.1:${envoy.port}`,
    stop: async () => {
      await stopEnvoy();
      await stopWaker();
    },
  };
}

/**
 * The same Envoy config without the ext_proc filter, in front of the same provider (the reference
 * delivery floor). `grpcPort` only fills the unused faas_waker cluster.
 */
export async function startEnvoyAlone(
  provider: ProviderProcess,
  grpcPort: number,
  scope: Scope,
): Promise<{ envoy: EnvoyProcess; stop: () => Promise<void> }> {
  const envoy = await startEnvoy({
    grpcPort,
    gatewayPort: provider.port,
    concurrency: 1,
    patch: (doc) => {
      accessLogToDevNull(doc);
      withoutExtProc(doc);
    },
  });
  return { envoy, stop: scope.add(() => envoy.stop()) };
}
