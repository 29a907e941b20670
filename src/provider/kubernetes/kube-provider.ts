import { FunctionNotFoundError, ProviderError, ProviderUnavailableError } from '../../errors';
import type { Logger } from '../../logging';
import { functionRef, type FunctionRef } from '../../routing/function-ref';
import type { ProviderCallObserver, ProviderClient, ProviderEvents, StatusListener } from '../provider-client';
import type { FunctionStatus } from '../provider-types';
import {
  deploymentPath,
  functionStatus,
  isFunction,
  serviceOf,
  SERVICE_NAME_LABEL,
  type DeploymentView,
  type EndpointSliceView,
} from './function-state';
import type { Informer } from './informer';
import { KubeUnavailableError, type KubeClient } from './kube-client';

/** Objects of namespaced lists and watches always carry their name and namespace. */
export interface NamespacedObject {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

export interface KubeProviderDeps {
  readonly client: KubeClient;
  readonly deployments: Informer<DeploymentView & NamespacedObject>;
  readonly slices: Informer<EndpointSliceView & NamespacedObject>;
  /** The only namespaces read or written; a function elsewhere is 404 and never touched. */
  readonly namespaces: readonly string[];
  readonly logger: Logger;
  readonly observe?: ProviderCallObserver;
  readonly now?: () => number;
}

/** The provider, plus a way to learn of a Deployment write before the watch delivers it. */
export interface KubeProvider extends ProviderClient {
  /**
   * A Deployment as one of our own writes returned it (idle scale-down). Used instead of the store's
   * copy until the watch catches up (a numerically newer or equal resourceVersion), so a scale to zero we
   * just observed is never answered from an older "ready" copy; listeners are told at once.
   */
  noteWritten(deployment: DeploymentView & NamespacedObject): void;
}

/**
 * The provider API on Kubernetes itself: a function is a Deployment that says so (function-state.ts),
 * a wake patches its scale subresource, and readiness comes from its Service's EndpointSlices.
 * While both informers watch, status reads are answered from their stores (no API call) and every
 * change is pushed to the waker as it arrives; without a healthy watch each read goes to the API, so
 * the waker's bounded polling is real polling and never a guess from a stale store.
 */
export function createKubeProvider(deps: KubeProviderDeps): KubeProvider {
  const { client, deployments, slices, logger } = deps;
  const watched = new Set(deps.namespaces);
  const now = deps.now ?? (() => performance.now());
  const listeners = new Set<StatusListener>();
  /** namespace/service → its slices by name: readiness without scanning a namespace's slices. */
  const byService = new Map<string, Map<string, EndpointSliceView>>();

  /** Copies from our own writes, newer than the store's until the watch delivers them (noteWritten). */
  const written = new Map<string, { readonly object: DeploymentView; readonly version: bigint }>();
  const deploymentOf = (namespace: string, name: string): DeploymentView | undefined => {
    const stored = deployments.get(namespace, name);
    if (written.size === 0) return stored; // almost always: our writes are seen by the watch within ms
    const key = `${namespace}/${name}`;
    const note = written.get(key);
    if (note === undefined) return stored;
    const storedVersion = numericVersion(stored?.metadata?.resourceVersion);
    if (stored !== undefined && (storedVersion === undefined || storedVersion >= note.version)) {
      written.delete(key);
      return stored;
    }
    return note.object;
  };

  const live = (): boolean => deployments.isWatching() && slices.isWatching();
  const slicesOf = (namespace: string, service: string): EndpointSliceView[] => [
    ...(byService.get(`${namespace}/${service}`)?.values() ?? []),
  ];

  function statusFromStore(fn: FunctionRef): FunctionStatus | undefined {
    const deployment = deploymentOf(fn.namespace, fn.name);
    if (deployment === undefined || !isFunction(deployment, fn.name)) return undefined;
    return functionStatus(deployment, slicesOf(fn.namespace, fn.name));
  }

  function emit(namespace: string, name: string): void {
    if (listeners.size === 0) return;
    const fn = functionRef(name, namespace);
    const status = statusFromStore(fn);
    for (const listener of listeners) listener(fn.key, status);
  }

  deployments.onChange((type, deployment) => {
    const namespace = deployment.metadata?.namespace ?? '';
    const name = deployment.metadata?.name ?? '';
    if (type === 'deleted') written.delete(`${namespace}/${name}`);
    emit(namespace, name);
  });
  slices.onChange((type, slice, previous) => {
    const namespace = slice.metadata?.namespace ?? '';
    const name = slice.metadata?.name ?? '';
    const before = previous === undefined ? undefined : serviceOf(previous);
    const after = type === 'deleted' ? undefined : serviceOf(slice);
    if (before !== undefined) {
      const entries = byService.get(`${namespace}/${before}`);
      entries?.delete(name);
      if (entries?.size === 0) byService.delete(`${namespace}/${before}`);
    }
    if (after !== undefined) {
      const key = `${namespace}/${after}`;
      const entries = byService.get(key) ?? new Map<string, EndpointSliceView>();
      byService.set(key, entries.set(name, slice));
    }
    const gone = type === 'deleted' ? serviceOf(slice) : undefined;
    for (const service of new Set([before, after, gone])) if (service !== undefined) emit(namespace, service);
  });

  /** One API call, counted and typed: 403 is an RBAC problem, said plainly in the log and the error. */
  async function api(
    call: 'status' | 'scale',
    fn: FunctionRef,
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string } = {},
  ): Promise<{ status: number; body: unknown }> {
    const started = now();
    let res: { status: number; body: unknown };
    try {
      res = await client.request(method, path, options);
    } catch (err) {
      deps.observe?.(call, 'error', now() - started);
      if (err instanceof KubeUnavailableError)
        throw new ProviderUnavailableError(`Kubernetes API unreachable for ${fn.key}: ${err.message}`, { cause: err });
      throw err;
    }
    deps.observe?.(call, `${Math.floor(res.status / 100)}xx`, now() - started);
    if (res.status === 403 && deployments.isSynced() && !live()) {
      // We had access (every namespace listed) and the watch is down: an API server that just
      // restarted answers 403 until its own RBAC caches have synced. Retried like an outage (the
      // wake tolerates 15 s of failures); a 403 with healthy watches is a real denial, final.
      logger.warn(
        { event: 'kubernetes.forbidden_while_recovering', fn: fn.key, method, path },
        'the Kubernetes API refused this call while the watch is down (API server restarting?): retrying',
      );
      throw new ProviderUnavailableError(`Kubernetes API refused ${method} ${path} (403) while its watch is down`);
    }
    if (res.status === 403) {
      logger.error(
        { event: 'kubernetes.forbidden', fn: fn.key, method, path },
        'the Kubernetes API refused this call: the ServiceAccount lacks RBAC for it (see deploy/kubernetes/rbac.yaml)',
      );
      throw new ProviderError(`Kubernetes API refused ${method} ${path} (403): missing RBAC`, 403);
    }
    return res;
  }

  async function readDeployment(fn: FunctionRef): Promise<DeploymentView> {
    const res = await api('status', fn, 'GET', deploymentPath(fn));
    if (res.status === 404) throw new FunctionNotFoundError(`no Deployment ${fn.key}`);
    if (res.status !== 200) throw new ProviderError(`Kubernetes API answered ${res.status} for Deployment ${fn.key}`, res.status);
    return res.body as DeploymentView;
  }

  async function statusFromApi(fn: FunctionRef): Promise<FunctionStatus> {
    const deployment = await readDeployment(fn);
    if (!isFunction(deployment, fn.name)) throw new FunctionNotFoundError(`Deployment ${fn.key} is not a function`);
    const selector = encodeURIComponent(`${SERVICE_NAME_LABEL}=${fn.name}`);
    const list = await api(
      'status',
      fn,
      'GET',
      `/apis/discovery.k8s.io/v1/namespaces/${fn.namespace}/endpointslices?labelSelector=${selector}`,
    );
    if (list.status !== 200)
      throw new ProviderError(`Kubernetes API answered ${list.status} for the EndpointSlices of ${fn.key}`, list.status);
    return functionStatus(deployment, (list.body as { items?: EndpointSliceView[] }).items ?? []);
  }

  function checkWatched(fn: FunctionRef): void {
    // Never a read, let alone a write, outside the configured namespaces.
    if (!watched.has(fn.namespace)) throw new FunctionNotFoundError(`namespace ${fn.namespace} is not watched (WAKER_NAMESPACES)`);
  }

  const events: ProviderEvents = {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    live,
    synced: Promise.all([deployments.synced, slices.synced]).then(() => undefined),
  };

  return {
    events,
    async getStatus(fn) {
      checkWatched(fn);
      if (!live()) return statusFromApi(fn);
      const status = statusFromStore(fn);
      if (status === undefined) throw new FunctionNotFoundError(`no function Deployment ${fn.key}`);
      return status;
    },
    async scale(fn, replicas) {
      checkWatched(fn);
      // Only ever from zero: the patch carries the resourceVersion the decision was made on, so the API
      // refuses it (409) if anyone changed the Deployment since; then we look again. A wake never
      // lowers a count an autoscaler or an operator raised meanwhile.
      let deployment = live() ? deploymentOf(fn.namespace, fn.name) : undefined;
      for (let attempt = 0; attempt < 3; attempt++) {
        deployment ??= await readDeployment(fn);
        if (!isFunction(deployment, fn.name)) throw new FunctionNotFoundError(`Deployment ${fn.key} is not a function`);
        if ((deployment.spec?.replicas ?? 1) >= replicas) return;
        const res = await api('scale', fn, 'PATCH', `${deploymentPath(fn)}/scale`, {
          contentType: 'application/merge-patch+json',
          body: { metadata: { resourceVersion: deployment.metadata?.resourceVersion }, spec: { replicas } },
        });
        if (res.status === 200) return;
        if (res.status === 404) throw new FunctionNotFoundError(`no Deployment ${fn.key}`);
        if (res.status !== 409)
          throw new ProviderError(`Kubernetes API answered ${res.status} to the scale patch of ${fn.key}`, res.status);
        deployment = undefined;
      }
      throw new ProviderError(`the Deployment ${fn.key} kept changing while it was scaled`, 409);
    },
    listStatuses(namespace) {
      if (!watched.has(namespace)) return Promise.resolve([]);
      const statuses: FunctionStatus[] = [];
      for (const deployment of deployments.list(namespace)) {
        const status = statusFromStore(functionRef(deployment.metadata?.name ?? '', namespace));
        if (status !== undefined) statuses.push(status);
      }
      return Promise.resolve(statuses);
    },
    noteWritten(deployment) {
      const namespace = deployment.metadata?.namespace ?? '';
      const name = deployment.metadata?.name ?? '';
      const version = numericVersion(deployment.metadata?.resourceVersion);
      // resourceVersions are opaque; the API server's are etcd revisions (integers). Anything else: no shortcut.
      if (version === undefined || !watched.has(namespace)) return;
      const current = numericVersion(deploymentOf(namespace, name)?.metadata?.resourceVersion);
      if (current !== undefined && current >= version) return;
      written.set(`${namespace}/${name}`, { object: deployment, version });
      emit(namespace, name);
    },
    async close() {
      listeners.clear();
      await Promise.all([deployments.stop(), slices.stop()]);
      await client.close();
    },
  };
}

function numericVersion(resourceVersion: string | undefined): bigint | undefined {
  return resourceVersion !== undefined && /^\d{1,30}$/.test(resourceVersion) ? BigInt(resourceVersion) : undefined;
}
