import type { Clock } from '../../clock';
import { errorMessage } from '../../errors';
import type { Logger } from '../../logging';
import { KubeUnavailableError, statusMessage, type KubeClient, type KubeObject, type WatchEnd, type WatchEvent } from './kube-client';

export type ChangeType = 'added' | 'modified' | 'deleted';
/** For 'deleted', `object` is the last state the server sent and `previous` the stored one. */
export type ChangeListener<T> = (type: ChangeType, object: T, previous?: T) => void;

export interface InformerOptions {
  readonly client: Pick<KubeClient, 'request' | 'watch'>;
  /** `/apis/apps/v1`, `/api/v1`, `/apis/discovery.k8s.io/v1`. */
  readonly basePath: string;
  readonly plural: string;
  readonly namespaces: readonly string[];
  readonly labelSelector?: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly backoff: { readonly minMs: number; readonly maxMs: number };
  /** Jitter source, injected so tests get exact delays. */
  readonly random?: () => number;
  readonly pageSize?: number;
}

export interface Informer<T extends KubeObject> {
  /** Starts listing and watching every namespace; a second call does nothing. */
  start(): void;
  /** Aborts every request, watch and backoff sleep; resolves when all loops ended. */
  stop(): Promise<void>;
  /** Resolves once every namespace was listed once; rejects if stop() comes first. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  /** Every namespace's watch is connected now; when false, the store may be behind (poll instead). */
  isWatching(): boolean;
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): T[];
  /** Listeners run synchronously per change, after the store changed; a throwing listener is logged. */
  onChange(listener: ChangeListener<T>): () => void;
}

export const LIST_PAGE_SIZE = 500;
/** A watch that the server ends this quickly with nothing delivered counts as a failure, so we never spin. */
const HEALTHY_WATCH_MS = 1_000;

interface Failure {
  readonly verb: 'list' | 'watch';
  readonly status?: number;
  readonly message: string;
}

interface NamespaceState<T> {
  readonly namespace: string;
  readonly objects: Map<string, T>;
  listed: boolean;
  watching: boolean;
  /** Where the next watch starts; undefined means "relist first". */
  resourceVersion: string | undefined;
  failures: number;
  /** Kinds of failure already logged in the current streak: one line each per streak. */
  readonly logged: Set<string>;
}

/** Exponential backoff with jitter: between half and all of min(max, min * 2^attempt), never below min. */
export function backoffDelayMs(attempt: number, backoff: { readonly minMs: number; readonly maxMs: number }, random: () => number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(attempt, 30));
  return Math.max(backoff.minMs, Math.round(ceiling * (0.5 + 0.5 * random())));
}

export function createInformer<T extends KubeObject>(options: InformerOptions): Informer<T> {
  const { client, clock, logger } = options;
  const random = options.random ?? Math.random;
  const resource = resourceName(options.basePath, options.plural);
  const states = options.namespaces.map((namespace): NamespaceState<T> => ({
    namespace,
    objects: new Map(),
    listed: false,
    watching: false,
    resourceVersion: undefined,
    failures: 0,
    logged: new Set(),
  }));
  const listeners = new Set<ChangeListener<T>>();
  const abort = new AbortController();
  let loops: Promise<void>[] | undefined;
  let markSynced: () => void = () => undefined;
  let failSync: (err: Error) => void = () => undefined;
  const synced = new Promise<void>((resolve, reject) => {
    markSynced = resolve;
    failSync = reject;
  });
  // Nobody has to await `synced`; a stop before sync must not become an unhandled rejection.
  synced.catch(() => undefined);

  const collection = (ns: string): string => `${options.basePath}/namespaces/${encodeURIComponent(ns)}/${options.plural}`;
  const selector =
    options.labelSelector === undefined || options.labelSelector === '' ? '' : `labelSelector=${encodeURIComponent(options.labelSelector)}`;
  const listPath = (ns: string, token: string | undefined): string =>
    `${collection(ns)}?${[selector, `limit=${options.pageSize ?? LIST_PAGE_SIZE}`, token === undefined ? '' : `continue=${encodeURIComponent(token)}`].filter((q) => q !== '').join('&')}`;
  const watchPath = (ns: string): string => (selector === '' ? collection(ns) : `${collection(ns)}?${selector}`);

  function emit(type: ChangeType, object: T, previous?: T): void {
    for (const listener of [...listeners]) {
      try {
        listener(type, object, previous);
      } catch (err) {
        logger.error(
          { event: 'kube.informer.listener_failed', resource, err: errorMessage(err) },
          `a listener of the ${resource} informer threw: ${errorMessage(err)}`,
        );
      }
    }
  }

  /** All pages of one namespace's list, at one resourceVersion (the server keeps pages consistent). */
  async function listAll(ns: string): Promise<{ items: T[]; resourceVersion: string } | Failure> {
    const items: T[] = [];
    let token: string | undefined;
    for (;;) {
      const res = await client.request('GET', listPath(ns, token), { signal: abort.signal });
      if (res.status !== 200) return { verb: 'list', status: res.status, message: statusMessage(res.body) };
      const page = parseList<T>(res.body);
      if (typeof page === 'string') return { verb: 'list', message: page };
      items.push(...page.items);
      if (page.continue === undefined) return { items, resourceVersion: page.resourceVersion };
      token = page.continue;
    }
  }

  /** Replaces the namespace's store with a fresh list, emitting only what differs: never a blind reset. */
  function replace(state: NamespaceState<T>, items: readonly T[]): void {
    const fresh = new Map(items.map((o) => [nameOf(o), o] as const));
    for (const [name, object] of fresh) {
      const previous = state.objects.get(name);
      state.objects.set(name, object);
      if (previous === undefined) emit('added', object);
      else if (previous.metadata?.resourceVersion !== object.metadata?.resourceVersion) emit('modified', object, previous);
    }
    for (const [name, previous] of state.objects) {
      if (fresh.has(name)) continue;
      state.objects.delete(name);
      emit('deleted', previous, previous);
    }
  }

  function apply(state: NamespaceState<T>, event: WatchEvent): void {
    const rv = event.object.metadata?.resourceVersion;
    const name = event.object.metadata?.name;
    if (event.type !== 'BOOKMARK' && name !== undefined && name !== '') {
      const object = event.object as T;
      const previous = state.objects.get(name);
      if (event.type === 'DELETED') {
        state.objects.delete(name);
        if (previous !== undefined) emit('deleted', object, previous);
      } else {
        state.objects.set(name, object);
        // ADDED for a known object (or MODIFIED for an unknown one) follows a relist race: report what changed.
        if (previous === undefined) emit('added', object);
        else emit('modified', object, previous);
      }
    }
    if (rv !== undefined && rv !== '') state.resourceVersion = rv;
  }

  function report(state: NamespaceState<T>, failure: Failure): void {
    state.watching = false;
    const kind = `${failure.verb}:${failure.status ?? 'network'}`;
    const fields = {
      event: 'kube.informer.failed',
      resource,
      namespace: state.namespace,
      verb: failure.verb,
      status: failure.status,
      failures: state.failures + 1,
    };
    if (state.logged.has(kind)) {
      logger.debug(fields, `${failure.verb} ${resource} in ${state.namespace} still failing: ${failure.message}`);
      return;
    }
    state.logged.add(kind);
    if (failure.status === 403) {
      logger.error(
        { ...fields, event: 'kube.rbac_denied' },
        `RBAC denied: cannot ${failure.verb} ${resource} in namespace ${state.namespace}; the ServiceAccount needs a Role and RoleBinding granting get, list, watch on ${resource} in ${state.namespace} (API server: ${failure.message}); retrying with backoff`,
      );
    } else {
      logger.warn(
        fields,
        `cannot ${failure.verb} ${resource} in namespace ${state.namespace}: ${failure.status === undefined ? '' : `HTTP ${failure.status} `}${failure.message}; retrying with backoff`,
      );
    }
  }

  function recovered(state: NamespaceState<T>): void {
    if (state.logged.size > 0)
      logger.info(
        { event: 'kube.informer.recovered', resource, namespace: state.namespace, failures: state.failures },
        `${resource} in namespace ${state.namespace}: list/watch works again`,
      );
    state.logged.clear();
    state.failures = 0;
  }

  async function relist(state: NamespaceState<T>): Promise<boolean> {
    const listed = await listAll(state.namespace);
    if ('verb' in listed) {
      report(state, listed);
      return false;
    }
    replace(state, listed.items);
    state.resourceVersion = listed.resourceVersion;
    recovered(state);
    if (!state.listed) {
      state.listed = true;
      if (states.every((s) => s.listed)) markSynced();
    }
    return true;
  }

  /** One list-if-needed plus one watch; true when the next cycle may start at once, false to back off first. */
  async function cycle(state: NamespaceState<T>): Promise<boolean> {
    const relisted = state.resourceVersion === undefined;
    if (relisted && !(await relist(state))) return false;
    const from = state.resourceVersion ?? '';
    const started = clock.now();
    let connected = false;
    let delivered = false;
    // Only a watch that did some work ends a failure streak: a server that accepts and drops at once
    // must still see the backoff grow.
    const healthy = (): boolean => connected && (delivered || clock.now() - started >= HEALTHY_WATCH_MS);
    let end: WatchEnd;
    try {
      end = await client.watch(
        watchPath(state.namespace),
        from,
        (event) => {
          if (!delivered) {
            delivered = true;
            recovered(state);
          }
          apply(state, event);
        },
        abort.signal,
        () => {
          connected = true;
          state.watching = true;
        },
      );
    } finally {
      state.watching = false;
      if (healthy()) recovered(state);
    }
    if (end.reason === 'gone') {
      logger.info(
        { event: 'kube.informer.relist', resource, namespace: state.namespace },
        `${resource} in ${state.namespace}: resourceVersion ${from} is too old, relisting`,
      );
      state.resourceVersion = undefined;
      // A watch from a list we just made should not be gone at once: back off rather than relist in a loop.
      return !relisted || healthy();
    }
    if (end.reason === 'error') {
      report(state, { verb: 'watch', status: end.status, message: end.message });
      return false;
    }
    return healthy();
  }

  async function run(state: NamespaceState<T>): Promise<void> {
    while (!abort.signal.aborted) {
      let again: boolean;
      try {
        again = await cycle(state);
      } catch (err) {
        if (abort.signal.aborted) break;
        report(state, {
          verb: state.resourceVersion === undefined ? 'list' : 'watch',
          message: err instanceof KubeUnavailableError ? err.message : `unexpected: ${errorMessage(err)}`,
        });
        again = false;
      }
      if (again) continue;
      try {
        await clock.sleep(backoffDelayMs(state.failures++, options.backoff, random), abort.signal);
      } catch {
        break;
      }
    }
    state.watching = false;
  }

  return {
    start() {
      if (loops !== undefined || abort.signal.aborted) return;
      if (states.length === 0) markSynced();
      loops = states.map((s) => run(s));
    },
    async stop() {
      abort.abort(new Error('informer stopped'));
      if (!states.every((s) => s.listed)) failSync(new Error(`the ${resource} informer stopped before it synced`));
      await Promise.allSettled(loops ?? []);
    },
    synced,
    isSynced: () => states.every((s) => s.listed),
    isWatching: () => loops !== undefined && !abort.signal.aborted && states.every((s) => s.watching),
    get: (namespace, name) => states.find((s) => s.namespace === namespace)?.objects.get(name),
    list: (namespace) => states.filter((s) => namespace === undefined || s.namespace === namespace).flatMap((s) => [...s.objects.values()]),
    onChange(listener) {
      // A wrapper per subscription, so subscribing the same function twice unsubscribes independently.
      const entry: ChangeListener<T> = (type, object, previous) => listener(type, object, previous);
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
  };
}

/** `deployments.apps`, `endpointslices.discovery.k8s.io`, `pods` (core): the name RBAC rules use. */
function resourceName(basePath: string, plural: string): string {
  const group = /^\/apis\/([^/]+)\//.exec(basePath)?.[1];
  return group === undefined ? plural : `${plural}.${group}`;
}

function nameOf(object: KubeObject): string {
  return object.metadata?.name ?? '';
}

/** A LIST page, checked: every item needs a name, or the store could not be keyed. */
function parseList<T>(body: unknown): { items: T[]; resourceVersion: string; continue: string | undefined } | string {
  if (!isRecord(body) || !Array.isArray(body.items)) return 'list answer has no items array';
  const metadata = isRecord(body.metadata) ? body.metadata : {};
  const rv = metadata.resourceVersion;
  if (typeof rv !== 'string' || rv === '') return 'list answer has no resourceVersion';
  const items = body.items as unknown[];
  if (!items.every((i) => isRecord(i) && isRecord(i.metadata) && typeof i.metadata.name === 'string' && i.metadata.name !== ''))
    return 'list answer has an item without metadata.name';
  const token = metadata.continue;
  return { items: items as T[], resourceVersion: rv, continue: typeof token === 'string' && token !== '' ? token : undefined };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
