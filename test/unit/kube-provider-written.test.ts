import { ProviderError, ProviderUnavailableError } from '../../src/errors';
import { createLogger } from '../../src/logging';
import type { DeploymentView, EndpointSliceView } from '../../src/provider/kubernetes/function-state';
import type { ChangeListener, Informer } from '../../src/provider/kubernetes/informer';
import { createKubeProvider, type NamespacedObject } from '../../src/provider/kubernetes/kube-provider';
import { functionRef } from '../../src/routing/function-ref';
import { FakeKubeClient } from '../fakes/fake-kube-client';

/** An informer whose store the test sets; always watching. */
function stubInformer<T extends NamespacedObject & { metadata?: { resourceVersion?: string } }>(): Informer<T> & {
  set(object: T): void;
} {
  const store = new Map<string, T>();
  const listeners = new Set<ChangeListener<T>>();
  return {
    start: () => undefined,
    stop: () => Promise.resolve(),
    synced: Promise.resolve(),
    isSynced: () => true,
    isWatching: () => true,
    get: (ns, name) => store.get(`${ns}/${name}`),
    list: () => [...store.values()],
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(object) {
      const key = `${object.metadata?.namespace}/${object.metadata?.name}`;
      const previous = store.get(key);
      store.set(key, object);
      for (const l of listeners) l(previous === undefined ? 'added' : 'modified', object, previous);
    },
  };
}

const dep = (rv: string, replicas: number): DeploymentView & NamespacedObject => ({
  metadata: { name: 'hello', namespace: 'fns', resourceVersion: rv, labels: { faas_function: 'hello' } },
  spec: { replicas },
  status: { availableReplicas: replicas },
});

test('a Deployment from our own write answers status until the watch delivers that version (or a newer one)', async () => {
  const deployments = stubInformer<DeploymentView & NamespacedObject>();
  const slices = stubInformer<EndpointSliceView & NamespacedObject>();
  const provider = createKubeProvider({
    client: new FakeKubeClient(),
    deployments,
    slices,
    namespaces: ['fns'],
    logger: createLogger('silent'),
  });
  const seen: (number | undefined)[] = [];
  provider.events?.subscribe((_key, status) => seen.push(status?.availableReplicas));
  const fn = functionRef('hello', 'fns');
  deployments.set(dep('10', 1));
  expect((await provider.getStatus(fn)).availableReplicas).toBe(1);
  provider.noteWritten(dep('12', 0)); // our write's answer: scaled to zero; the watch has not caught up
  expect(await provider.getStatus(fn)).toMatchObject({ replicas: 0, availableReplicas: 0 });
  expect(seen.at(-1)).toBe(0); // the waker's cache is told at once
  deployments.set(dep('11', 1)); // an older event still arriving: not taken for the truth
  expect((await provider.getStatus(fn)).replicas).toBe(0);
  deployments.set(dep('13', 1)); // the watch moved past our write: it is the truth again
  expect((await provider.getStatus(fn)).replicas).toBe(1);
  provider.noteWritten(dep('12', 0)); // older than the store: ignored
  expect((await provider.getStatus(fn)).replicas).toBe(1);
  await provider.close();
});

describe('a 403 from the API', () => {
  function providerWith(state: { synced: boolean; watching: boolean }) {
    const deployments = {
      ...stubInformer<DeploymentView & NamespacedObject>(),
      isSynced: () => state.synced,
      isWatching: () => state.watching,
    };
    const slices = { ...stubInformer<EndpointSliceView & NamespacedObject>(), isWatching: () => state.watching };
    const client = new FakeKubeClient().answer('/deployments/hello', { status: 403, body: {} });
    return createKubeProvider({ client, deployments, slices, namespaces: ['fns'], logger: createLogger('silent') });
  }
  const fn = functionRef('hello', 'fns');

  test('after we had access, while the watch is down (an API server restarting): transient, retried like an outage', async () => {
    await expect(providerWith({ synced: true, watching: false }).getStatus(fn)).rejects.toBeInstanceOf(ProviderUnavailableError);
  });

  test('without ever having had access: a real denial, final (502 at once)', async () => {
    const err = await providerWith({ synced: false, watching: false })
      .getStatus(fn)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).status).toBe(403);
  });
});
