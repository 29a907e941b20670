import {
  functionStatus,
  isFunction,
  readyEndpoints,
  serviceOf,
  type DeploymentView,
  type EndpointSliceView,
} from '../../src/provider/kubernetes/function-state';

const deployment = (
  overrides: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    replicas?: number;
    available?: number;
    name?: string;
  } = {},
): DeploymentView => ({
  metadata: {
    name: overrides.name ?? 'hello',
    namespace: 'fns',
    labels: overrides.labels ?? { faas_function: 'hello' },
    ...(overrides.annotations ? { annotations: overrides.annotations } : {}),
  },
  ...(overrides.replicas === undefined ? {} : { spec: { replicas: overrides.replicas } }),
  ...(overrides.available === undefined ? {} : { status: { availableReplicas: overrides.available } }),
});
const slice = (...ready: (boolean | null | undefined)[]): EndpointSliceView => ({
  metadata: { name: `hello-${ready.length}`, labels: { 'kubernetes.io/service-name': 'hello' } },
  endpoints: ready.map((r) => (r === undefined ? {} : { conditions: { ready: r } })),
});

describe('isFunction: only Deployments that say so', () => {
  test.each([
    ['faas-netes label', deployment(), true],
    ['annotation', deployment({ labels: {}, annotations: { 'faas-waker/enabled': 'true' } }), true],
    ['annotation not "true"', deployment({ labels: {}, annotations: { 'faas-waker/enabled': 'yes' } }), false],
    ['label naming another function', deployment({ labels: { faas_function: 'other' } }), false],
    ['no label, no annotation', deployment({ labels: { app: 'hello' } }), false],
    ['another name', deployment({ name: 'other' }), false],
  ])('%s -> %s', (_label, dep, expected) => {
    expect(isFunction(dep, 'hello')).toBe(expected);
  });
});

describe('functionStatus: readiness from the Service when there is one', () => {
  test.each<[string, DeploymentView, EndpointSliceView[], { replicas: number; availableReplicas: number }]>([
    ['no Service: Deployment availableReplicas', deployment({ replicas: 2, available: 1 }), [], { replicas: 2, availableReplicas: 1 }],
    ['no Service, no status yet', deployment({ replicas: 1 }), [], { replicas: 1, availableReplicas: 0 }],
    ['spec.replicas unset means 1', deployment({}), [], { replicas: 1, availableReplicas: 0 }],
    ['scaled to zero', deployment({ replicas: 0, available: 0 }), [slice()], { replicas: 0, availableReplicas: 0 }],
    [
      'scaled to zero while its old endpoints still look ready: none available (they are going away)',
      deployment({ replicas: 0, available: 1 }),
      [slice(true)],
      { replicas: 0, availableReplicas: 0 },
    ],
    [
      'Service with a not-ready endpoint only, Deployment says available',
      deployment({ replicas: 1, available: 1 }),
      [slice(false)],
      { replicas: 1, availableReplicas: 0 },
    ],
    ['ready endpoint', deployment({ replicas: 1, available: 0 }), [slice(true)], { replicas: 1, availableReplicas: 1 }],
    [
      'unset ready condition counts as ready (API semantics)',
      deployment({ replicas: 1 }),
      [slice(undefined, null)],
      { replicas: 1, availableReplicas: 2 },
    ],
    [
      'endpoints over several slices',
      deployment({ replicas: 3 }),
      [slice(true, false), slice(true)],
      { replicas: 3, availableReplicas: 2 },
    ],
    [
      'a placeholder slice without endpoints',
      deployment({ replicas: 1, available: 1 }),
      [{ metadata: { labels: { 'kubernetes.io/service-name': 'hello' } }, endpoints: null }],
      { replicas: 1, availableReplicas: 0 },
    ],
  ])('%s', (_label, dep, slices, expected) => {
    expect(functionStatus(dep, slices)).toMatchObject({ name: 'hello', namespace: 'fns', ...expected });
  });

  test.each([
    [{ 'com.openfaas.scale.min': '3' }, undefined, 3],
    [{}, { 'com.openfaas.scale.min': '2' }, 2],
    [{ 'com.openfaas.scale.min': 'zero' }, undefined, 1],
    [{}, undefined, 1],
  ])('minScale from labels %j / annotations %j -> %d', (labels, annotations, expected) => {
    expect(
      functionStatus(deployment({ labels: { faas_function: 'hello', ...labels }, ...(annotations ? { annotations } : {}) }), []).minScale,
    ).toBe(expected);
  });
});

test('readyEndpoints and serviceOf', () => {
  expect(readyEndpoints([])).toBe(0);
  expect(serviceOf(slice(true))).toBe('hello');
  expect(serviceOf({ metadata: {} })).toBeUndefined();
});
