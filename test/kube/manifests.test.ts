/**
 * The shipped Kubernetes manifests, validated by a real API server: every object of every kustomization
 * under deploy/kubernetes is created with a server-side dry run (schema, defaulting and admission, as
 * `kubectl apply --dry-run=server` would), and the kubernetes-provider overlay's strategic-merge patch is
 * applied, dry, to the base Deployment. deploy/envoy-gateway needs Envoy Gateway's CRDs and is not here.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { startKube, type KubeControlPlane } from '../../dev/stack/kube';
import { repoRoot } from '../../dev/stack/repo';

jest.setTimeout(120_000);

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
}
interface Kustomization {
  readonly namespace?: string;
  readonly resources?: readonly string[];
  readonly patches?: readonly { readonly path: string }[];
}

const DEPLOY = join(repoRoot(), 'deploy', 'kubernetes');
/** Where the kustomizations say to apply them (`kubectl apply -k ... -n openfaas`). */
const NAMESPACE = 'openfaas';

let kube: KubeControlPlane;

beforeAll(async () => {
  kube = await startKube();
  for (const name of [NAMESPACE, 'openfaas-fn'])
    expect(
      (await kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } })).status,
    ).toBe(201);
}, 180_000);

afterAll(async () => {
  await kube?.stop();
}, 60_000);

function objectsOf(kustomizationDir: string): Manifest[] {
  const kustomization = parse(readFileSync(join(kustomizationDir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  return (kustomization.resources ?? []).flatMap((resource) =>
    parseAllDocuments(readFileSync(join(kustomizationDir, resource), 'utf8'))
      .map((doc) => doc.toJSON() as Manifest | null)
      .filter((m): m is Manifest => m !== null),
  );
}

/** The collection URL of a namespaced object: /api/v1/... for the core group, /apis/GROUP/VERSION/... otherwise. */
function collection(manifest: Manifest, namespace: string): string {
  const base = manifest.apiVersion.includes('/') ? `/apis/${manifest.apiVersion}` : `/api/${manifest.apiVersion}`;
  return `${base}/namespaces/${namespace}/${manifest.kind.toLowerCase()}s`;
}

describe.each([
  ['deploy/kubernetes', DEPLOY],
  ['deploy/kubernetes/kubernetes-provider', join(DEPLOY, 'kubernetes-provider')],
])('%s', (_label, dir) => {
  const objects = objectsOf(dir);

  test('has objects to check', () => {
    expect(objects.length).toBeGreaterThan(3);
  });

  test.each(objects.map((o) => [`${o.kind}/${o.metadata.name}${o.metadata.namespace ? ` (${o.metadata.namespace})` : ''}`, o] as const))(
    '%s is accepted by the API server (dry run)',
    async (_name, manifest) => {
      const namespace = manifest.metadata.namespace ?? NAMESPACE;
      const res = await kube.request('POST', `${collection(manifest, namespace)}?dryRun=All&fieldValidation=Strict`, { body: manifest });
      expect([res.status, res.status >= 300 ? res.text : '']).toEqual([201, '']);
    },
  );
});

test("the kubernetes-provider overlay's patch applies to the base Deployment", async () => {
  const overlay = join(DEPLOY, 'kubernetes-provider');
  const base = objectsOf(DEPLOY).find((o) => o.kind === 'Deployment');
  expect(base).toBeDefined();
  if (base === undefined) return;
  expect((await kube.request('POST', collection(base, NAMESPACE), { body: base })).status).toBe(201);
  const kustomization = parse(readFileSync(join(overlay, 'kustomization.yaml'), 'utf8')) as Kustomization;
  for (const patch of kustomization.patches ?? []) {
    const body: unknown = parse(readFileSync(join(dirname(join(overlay, 'kustomization.yaml')), patch.path), 'utf8'));
    const res = await kube.request('PATCH', `${collection(base, NAMESPACE)}/${base.metadata.name}?dryRun=All&fieldValidation=Strict`, {
      body,
      contentType: 'application/strategic-merge-patch+json',
    });
    expect([res.status, res.status >= 300 ? res.text : '']).toEqual([200, '']);
    const spec = (
      res.body as {
        spec: {
          template: {
            spec: { serviceAccountName?: string; volumes?: unknown[]; containers: { env?: { name: string; value?: string }[] }[] };
          };
        };
      }
    ).spec.template.spec;
    const env = Object.fromEntries((spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect([spec.serviceAccountName, env.WAKER_PROVIDER, env.WAKER_PROVIDER_URL, spec.volumes ?? []]).toEqual([
      'faas-waker',
      'kubernetes',
      undefined,
      [],
    ]);
  }
});
