import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AppDeps } from './app';
import type { Clock } from './clock';
import type { ActivitySink } from './idle/activity';
import { kubeDeploymentWriter } from './idle/coordination';
import { IdleScaler } from './idle/idle-scaler';
import type { Metrics } from './metrics';
import { fixedCredentials, secretsDirCredentials } from './provider/credentials';
import type { DeploymentView, EndpointSliceView } from './provider/kubernetes/function-state';
import { createInformer } from './provider/kubernetes/informer';
import { createKubeClient } from './provider/kubernetes/kube-client';
import { loadKubeConnection } from './provider/kubernetes/kube-config';
import { createKubeProvider, type NamespacedObject } from './provider/kubernetes/kube-provider';
import { createProviderClient, type ProviderClient } from './provider/provider-client';
import { providerDispatcher } from './provider/provider-tls';

/** The provider port, and (Kubernetes, idle scale-down on) the activity sink of the idle scaler. */
export interface ProviderParts {
  readonly provider: ProviderClient;
  readonly activity: ActivitySink | undefined;
}

/**
 * The provider port: the OpenFaaS-style provider API, or Kubernetes itself (Deployments and EndpointSlices).
 * `held`: the requests this replica holds now, per function key (the waker's; the idle scaler waits for them).
 */
export function createProvider(deps: AppDeps, clock: Clock, metrics: Metrics, held: () => ReadonlyMap<string, number>): ProviderParts {
  const { config, logger } = deps;
  if (config.provider === 'kubernetes') {
    const connection = loadKubeConnection({
      kubeconfig: config.kubeconfig,
      env: process.env,
      readFile: (path) => readFileSync(path, 'utf8'),
    });
    const client = createKubeClient(connection, {
      timeoutMs: config.providerTimeoutMs,
      ...(deps.dispatcher === undefined ? {} : { dispatcher: deps.dispatcher }),
    });
    const informer = <T extends NamespacedObject>(basePath: string, plural: string) =>
      createInformer<T>({ client, basePath, plural, namespaces: config.namespaces, clock, logger, backoff: { minMs: 100, maxMs: 10_000 } });
    const deployments = informer<DeploymentView & NamespacedObject>('/apis/apps/v1', 'deployments');
    const slices = informer<EndpointSliceView & NamespacedObject>('/apis/discovery.k8s.io/v1', 'endpointslices');
    const provider = createKubeProvider({ client, deployments, slices, namespaces: config.namespaces, logger, observe: metrics.provider });
    const replicaId = config.replicaId ?? hostname();
    // Subscribed before the informers start, so it sees every Deployment from the first list on.
    const scaler = config.idleScaleDown
      ? new IdleScaler({
          deployments,
          writer: kubeDeploymentWriter(client, logger),
          clock,
          logger,
          replicaId,
          writeIntervalMs: config.activityWriteIntervalMs,
          writeTimeoutMs: config.providerTimeoutMs,
          defaultIdleMs: config.idleTimeoutMs,
          held,
          isWatching: () => deployments.isWatching(),
          observer: metrics.idle,
          onWritten: (deployment) => provider.noteWritten(deployment),
        })
      : undefined;
    deployments.start();
    slices.start();
    if (scaler === undefined) return { provider, activity: undefined };
    scaler.start();
    logger.info(
      {
        event: 'idle.enabled',
        replica: replicaId,
        idleTimeoutMs: config.idleTimeoutMs,
        activityWriteIntervalMs: config.activityWriteIntervalMs,
      },
      'idle scale-down on for Deployments labelled com.openfaas.scale.zero=true (Envoy needs allow_mode_override: true)',
    );
    const close = provider.close.bind(provider);
    // The scaler stops first: its timers end before the client it writes with is closed.
    return { provider: { ...provider, close: () => scaler.stop().then(close) }, activity: scaler };
  }
  if (config.providerUrl === undefined) throw new Error('WAKER_PROVIDER_URL is required with WAKER_PROVIDER=openfaas');
  const dispatcher = deps.dispatcher ?? providerDispatcher(config, logger);
  const provider = createProviderClient({
    baseUrl: config.providerUrl,
    timeoutMs: config.providerTimeoutMs,
    connections: config.providerConnections,
    auth:
      config.providerAuthFrom === 'secrets-dir' && config.providerSecretsDir !== undefined && config.providerAuth !== undefined
        ? secretsDirCredentials(config.providerSecretsDir, config.providerAuth, logger)
        : fixedCredentials(config.providerAuth),
    observe: metrics.provider,
    ...(dispatcher === undefined ? {} : { dispatcher }),
  });
  return { provider, activity: undefined };
}
