import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { functionObjects, type FunctionObjectsOptions, type KubeControlPlane } from './kube';
import { repoRoot } from './repo';

/** Objects the kube suites and the kube benchmark create through the admin client; every create must answer 201. */

async function create(kube: KubeControlPlane, path: string, body: unknown): Promise<void> {
  const res = await kube.request('POST', path, { body });
  if (res.status !== 201) throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
}

/** The Role in the shipped rbac.yaml, bound to the control plane's faas-waker user: what is tested and measured is what ships. */
export async function grantShippedRole(kube: KubeControlPlane, namespace: string): Promise<void> {
  const docs = parseAllDocuments(readFileSync(join(repoRoot(), 'deploy/kubernetes/kubernetes-provider/rbac.yaml'), 'utf8')).map(
    (d) => d.toJSON() as { kind: string; rules?: unknown },
  );
  const rules = docs.find((d) => d.kind === 'Role')?.rules;
  if (rules === undefined) throw new Error('deploy/kubernetes/kubernetes-provider/rbac.yaml has no Role');
  const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'faas-waker', namespace }, rules };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'faas-waker', namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'faas-waker' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: kube.waker.name }],
  };
  await create(kube, `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, role);
  await create(kube, `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, binding);
}

/** A function Deployment (see functionObjects) with its Service. */
export async function createFunction(
  kube: KubeControlPlane,
  namespace: string,
  name: string,
  options: FunctionObjectsOptions,
): Promise<void> {
  const { deployment, service } = functionObjects(namespace, name, options);
  await create(kube, `/apis/apps/v1/namespaces/${namespace}/deployments`, deployment);
  await create(kube, `/api/v1/namespaces/${namespace}/services`, service);
}
