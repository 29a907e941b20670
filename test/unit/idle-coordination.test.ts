import { intentOwner, intentValue, kubeDeploymentWriter } from '../../src/idle/coordination';
import { createLogger } from '../../src/logging';
import { functionRef } from '../../src/routing/function-ref';
import { FakeKubeClient, statusAnswer } from '../fakes/fake-kube-client';

const fn = functionRef('hello', 'fns');
const at = new Date('2026-12-01T10:00:00.123Z');
const PATH = '/apis/apps/v1/namespaces/fns/deployments/hello';
const deployment = (replicas: number, rv: string) => ({
  status: 200,
  body: { metadata: { name: 'hello', resourceVersion: rv }, spec: { replicas } },
});

function writer(...answers: Parameters<FakeKubeClient['answer']>[1][]) {
  const client = new FakeKubeClient().answer(PATH, ...answers);
  return { client, writer: kubeDeploymentWriter(client, createLogger('silent')) };
}

test('activity: a merge patch of the two activity annotations that also deletes any intent; no precondition', async () => {
  const { client, writer: w } = writer(deployment(1, '7'));
  await expect(w.activity(fn, 'pod-a', at)).resolves.toMatchObject({ kind: 'ok', replicas: 1, resourceVersion: '7' });
  expect(client.requests).toEqual([
    {
      method: 'PATCH',
      path: PATH,
      contentType: 'application/merge-patch+json',
      body: {
        metadata: {
          annotations: {
            'faas-waker/last-activity': '2026-12-01T10:00:00.123Z',
            'faas-waker/last-activity-by': 'pod-a',
            'faas-waker/scale-down': null,
          },
        },
      },
    },
  ]);
});

test('intent: a merge patch with the resourceVersion the decision was made on', async () => {
  const { client, writer: w } = writer(deployment(1, '8'));
  await w.intent(fn, 'pod-a', at, '7');
  expect(client.requests[0]?.body).toEqual({
    metadata: { resourceVersion: '7', annotations: { 'faas-waker/scale-down': 'pod-a@2026-12-01T10:00:00.123Z' } },
  });
});

test('scale to zero: a JSON patch that tests the intent and the replicas, then sets 0 and clears the intent', async () => {
  const { client, writer: w } = writer(deployment(0, '9'));
  await expect(w.scaleToZero(fn, 'pod-a', at, 'pod-a@x', 2)).resolves.toMatchObject({ kind: 'ok', replicas: 0 });
  expect(client.requests[0]).toMatchObject({ contentType: 'application/json-patch+json' });
  expect(client.requests[0]?.body).toEqual([
    { op: 'test', path: '/metadata/annotations/faas-waker~1scale-down', value: 'pod-a@x' },
    { op: 'test', path: '/spec/replicas', value: 2 },
    { op: 'remove', path: '/metadata/annotations/faas-waker~1scale-down' },
    { op: 'add', path: '/metadata/annotations/faas-waker~1scaled-down', value: 'pod-a@2026-12-01T10:00:00.123Z' },
    { op: 'replace', path: '/spec/replicas', value: 0 },
  ]);
});

test.each([
  [statusAnswer(409, 'the object has been modified'), 'conflict'],
  [statusAnswer(422, 'testing value /metadata/annotations/faas-waker~1scale-down failed'), 'conflict'],
  [statusAnswer(403, 'forbidden'), 'denied'],
  [statusAnswer(404, 'not found'), 'gone'],
  [statusAnswer(500, 'etcd'), 'error'],
  [new Error('ECONNREFUSED'), 'error'],
] as const)('an answer %#: %s (never a throw)', async (answer, kind) => {
  const { writer: w } = writer(answer);
  await expect(w.activity(fn, 'pod-a', at)).resolves.toMatchObject({ kind });
});

test('intent values name their replica, even one with @ in its name', () => {
  expect(intentOwner(intentValue('pod-a', at))).toBe('pod-a');
  expect(intentOwner(intentValue('a@b', at))).toBe('a@b');
  expect([intentOwner('garbage'), intentOwner(undefined)]).toEqual([undefined, undefined]);
});
