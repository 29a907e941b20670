/**
 * scripts/check-deploy.mjs checks what no tool checks (YAML syntax, names shared with src/); this test runs
 * it, then asserts what operators rely on in the manifests, against the real settings table, so a renamed
 * setting or a changed default cannot silently break a deployment. The Dockerfile is built and run for real
 * by `npm test` (test/e2e/docker-image.test.ts), not checked here.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { OVERRIDE_MARGIN_MS } from '../../src/config/load';
import { parseDuration, parsePrefixes } from '../../src/config/parse';
import { SETTINGS } from '../../src/config/settings';
import { METADATA_NAMESPACE } from '../../src/extproc/responses';
import { list, obj, str, type Obj } from '../support/yaml-access';

const repoRoot = join(__dirname, '..', '..');
const K8S_DIR = join(repoRoot, 'deploy', 'kubernetes');
const EG_DIR = join(repoRoot, 'deploy', 'envoy-gateway');

function num(v: unknown, what: string): number {
  if (typeof v !== 'number') throw new Error(`${what}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}

/** Follows mapping keys along a dotted path, failing with the path when one is missing. */
function at(v: unknown, path: string): unknown {
  let cur = v;
  for (const key of path.split('.')) cur = obj(cur, path)[key];
  return cur;
}

function named(items: unknown, name: string, what: string): Obj {
  const found = list(items, what)
    .map((x) => obj(x, what))
    .find((x) => x['name'] === name);
  if (found === undefined) throw new Error(`${what}: no entry named ${name}`);
  return found;
}

function loadYaml(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter((d) => d !== null && d !== undefined)
    .map((d) => obj(d, file));
}

/** Every document of the resources a kustomization.yaml lists. */
function loadKustomization(dir: string): Obj[] {
  const [kustomization] = loadYaml(join(dir, 'kustomization.yaml'));
  return list(kustomization?.['resources'], 'resources').flatMap((r) => loadYaml(join(dir, str(r, 'resource'))));
}

function kind(docs: Obj[], k: string): Obj[] {
  return docs.filter((d) => d['kind'] === k);
}

function only(docs: Obj[], k: string): Obj {
  const found = kind(docs, k);
  if (found.length !== 1) throw new Error(`expected exactly one ${k}, found ${found.length}`);
  return found[0] as Obj;
}

function setting(envName: string): (typeof SETTINGS)[number] {
  const spec = SETTINGS.find((s) => s.env === envName);
  if (spec === undefined) throw new Error(`${envName} is not a setting`);
  return spec;
}

/** The container's env value for a setting, or the setting's default (what the process would use). */
function effective(env: Map<string, string>, envName: string): string {
  const value = env.get(envName) ?? setting(envName).defaultText;
  if (value === undefined) throw new Error(`${envName} has no value and no default`);
  return value;
}

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

const k8s = loadKustomization(K8S_DIR);
const deployment = only(k8s, 'Deployment');
const podSpec = obj(at(deployment, 'spec.template.spec'), 'pod spec');
const podLabels = obj(at(deployment, 'spec.template.metadata.labels'), 'pod labels');
const container = named(podSpec['containers'], 'faas-waker', 'containers');
const containerEnv = new Map(
  list(container['env'] ?? [], 'env').map((e) => {
    const entry = obj(e, 'env entry');
    return [str(entry['name'], 'env name'), str(entry['value'], `env ${String(entry['name'])} value`)] as const;
  }),
);
const containerPorts = list(container['ports'], 'ports').map((p) => obj(p, 'port'));
const containerPort = (name: string): number => num(named(containerPorts, name, 'container ports')['containerPort'], `port ${name}`);
const replicas = num(at(deployment, 'spec.replicas'), 'replicas');

const eg = loadKustomization(EG_DIR);
const extensionPolicy = only(eg, 'EnvoyExtensionPolicy');
const extProc = obj(list(at(extensionPolicy, 'spec.extProc'), 'extProc')[0], 'extProc[0]');
const patchPolicy = loadYaml(join(EG_DIR, 'patch-policy.yaml')).find((d) => d['kind'] === 'EnvoyPatchPolicy');

const ms = (envName: string): number => parseDuration(effective(containerEnv, envName));

describe('scripts/check-deploy.mjs', () => {
  it('passes: YAML parses, Kubernetes objects are complete, names in deploy/, envoy/ and docs match the code', () => {
    const run = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'check-deploy.mjs'), '--json'], { cwd: repoRoot, encoding: 'utf8' });
    const report = obj(JSON.parse(run.stdout) as unknown, 'check-deploy --json');
    const checks = list(report['checks'], 'checks').map((c) => obj(c, 'check'));
    expect(checks.filter((c) => c['ok'] !== true).map((c) => `${String(c['name'])}: ${String(c['detail'])}`)).toEqual([]);
    expect(checks.map((c) => c['name'])).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^yaml parses: deploy\/kubernetes\/deployment\.yaml/),
        expect.stringMatching(/^WAKER_\* names in /),
        expect.stringMatching(/^docs\/operations\.md names only /),
      ]),
    );
    expect(run.status).toBe(0);
  });
});

describe('deploy/kubernetes', () => {
  it('lists every manifest of the directory in kustomization.yaml', () => {
    const files = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    const [kustomization] = loadYaml(join(K8S_DIR, 'kustomization.yaml'));
    expect(list(kustomization?.['resources'], 'resources').slice().sort()).toEqual(files.sort());
  });

  it('sets only real settings, each with a value the service accepts', () => {
    for (const [name, value] of containerEnv) {
      if (!name.startsWith('WAKER_')) continue;
      expect(() => setting(name).parse(value)).not.toThrow();
    }
    expect(effective(containerEnv, 'WAKER_PROVIDER_URL')).toBe('http://gateway.openfaas:8080');
    // loadConfig refuses to start when the hold does not fit in Envoy's max_message_timeout.
    expect(ms('WAKER_HOLD_TIMEOUT') + OVERRIDE_MARGIN_MS).toBeLessThanOrEqual(ms('WAKER_ENVOY_MAX_MESSAGE_TIMEOUT'));
  });

  it('probes /readyz (readiness) and /healthz (liveness) on the admin port', () => {
    const adminPort = portOf(effective(containerEnv, 'WAKER_ADMIN_ADDRESS'));
    expect(containerPort('admin')).toBe(adminPort);
    for (const [probe, path] of [
      ['readinessProbe', '/readyz'],
      ['livenessProbe', '/healthz'],
    ] as const) {
      const httpGet = obj(at(container, `${probe}.httpGet`), probe);
      expect(httpGet['path']).toBe(path);
      const port = httpGet['port'];
      expect(typeof port === 'string' ? containerPort(port) : port).toBe(adminPort);
    }
    expect(containerPort('grpc')).toBe(portOf(effective(containerEnv, 'WAKER_GRPC_ADDRESS')));
  });

  it('runs as non-root with a read-only root filesystem and no capabilities', () => {
    const pod = obj(podSpec['securityContext'] ?? {}, 'pod securityContext');
    const ctr = obj(container['securityContext'], 'container securityContext');
    expect(ctr['runAsNonRoot'] ?? pod['runAsNonRoot']).toBe(true);
    const uid = ctr['runAsUser'] ?? pod['runAsUser'];
    if (uid !== undefined) expect(uid).not.toBe(0);
    expect(ctr['readOnlyRootFilesystem']).toBe(true);
    expect(ctr['allowPrivilegeEscalation']).toBe(false);
    expect(list(at(ctr, 'capabilities.drop'), 'capabilities.drop')).toContain('ALL');
  });

  it('requests resources and limits memory', () => {
    expect(at(container, 'resources.requests.cpu')).toEqual(expect.anything());
    expect(at(container, 'resources.requests.memory')).toEqual(expect.anything());
    expect(at(container, 'resources.limits.memory')).toEqual(expect.anything());
  });

  it('gives the graceful shutdown time to finish: terminationGracePeriodSeconds > drain delay + grace + 1s', () => {
    const grace = num(podSpec['terminationGracePeriodSeconds'], 'terminationGracePeriodSeconds') * 1000;
    // stop(): drain delay, then up to the shutdown grace, then up to 1s to close the gRPC server.
    expect(grace).toBeGreaterThan(ms('WAKER_DRAIN_DELAY') + ms('WAKER_SHUTDOWN_GRACE') + 1000);
  });

  it("mounts OpenFaaS' basic-auth Secret where WAKER_PROVIDER_SECRETS_DIR points", () => {
    const dir = effective(containerEnv, 'WAKER_PROVIDER_SECRETS_DIR');
    const mount = list(container['volumeMounts'], 'volumeMounts')
      .map((m) => obj(m, 'volumeMount'))
      .find((m) => m['mountPath'] === dir);
    expect(mount?.['readOnly']).toBe(true);
    const volume = named(podSpec['volumes'], str(mount?.['name'], 'mount name'), 'volumes');
    expect(at(volume, 'secret.secretName')).toBe('basic-auth');
    const keys = list(at(volume, 'secret.items'), 'items').map((i) => obj(i, 'item'));
    for (const file of ['basic-auth-user', 'basic-auth-password']) expect(keys).toContainEqual({ key: file, path: file });
  });

  it('has a PodDisruptionBudget that keeps a replica up', () => {
    const pdb = only(k8s, 'PodDisruptionBudget');
    const minAvailable = num(at(pdb, 'spec.minAvailable'), 'minAvailable');
    expect(minAvailable).toBeGreaterThanOrEqual(1);
    expect(minAvailable).toBeLessThan(replicas); // otherwise no node could ever be drained
    expect(podLabels).toEqual(expect.objectContaining(obj(at(pdb, 'spec.selector.matchLabels'), 'pdb selector')));
  });

  it('exposes gRPC (h2c) and admin ports through a Service that selects the pods', () => {
    const service = kind(k8s, 'Service').find((s) => at(s, 'metadata.name') === 'faas-waker');
    expect(service).toBeDefined();
    expect(podLabels).toEqual(expect.objectContaining(obj(at(service, 'spec.selector'), 'service selector')));
    const ports = list(at(service, 'spec.ports'), 'service ports').map((p) => obj(p, 'service port'));
    const grpc = ports.find((p) => p['port'] === 50051);
    expect(grpc).toBeDefined();
    const appProtocol = typeof grpc?.['appProtocol'] === 'string' ? grpc['appProtocol'] : '';
    expect(`${appProtocol} ${str(grpc?.['name'], 'grpc port name')}`).toMatch(/grpc|h2c/);
    expect(containerPort(str(grpc?.['targetPort'], 'grpc targetPort'))).toBe(portOf(effective(containerEnv, 'WAKER_GRPC_ADDRESS')));
    const admin = ports.find((p) => p['port'] === 9090);
    expect(containerPort(str(admin?.['targetPort'], 'admin targetPort'))).toBe(portOf(effective(containerEnv, 'WAKER_ADMIN_ADDRESS')));
  });
});

describe('deploy/envoy-gateway', () => {
  it('attaches faas-waker to the OpenFaaS HTTPRoute through its Service', () => {
    expect(extensionPolicy['apiVersion']).toBe('gateway.envoyproxy.io/v1alpha1');
    const targets = list(at(extensionPolicy, 'spec.targetRefs'), 'targetRefs').map((t) => obj(t, 'targetRef'));
    expect(targets).toContainEqual({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'openfaas-functions' });
    for (const t of targets) expect(['HTTPRoute', 'Gateway']).toContain(t['kind']);
    const route = only(eg, 'HTTPRoute');
    expect(at(route, 'metadata.name')).toBe('openfaas-functions');

    const backends = list(extProc['backendRefs'], 'backendRefs').map((b) => obj(b, 'backendRef'));
    expect(backends).toHaveLength(1);
    expect(backends[0]).toEqual(expect.objectContaining({ kind: 'Service', name: 'faas-waker', port: 50051 }));
  });

  it('routes every default function prefix through the policy', () => {
    const route = only(eg, 'HTTPRoute');
    const values = list(at(route, 'spec.rules'), 'rules')
      .flatMap((r) => list(obj(r, 'rule')['matches'], 'matches'))
      .map((m) => at(m, 'path.value'));
    for (const prefix of parsePrefixes(effective(containerEnv, 'WAKER_FUNCTION_PREFIXES'))) {
      expect(values).toContain(prefix.replace(/\/$/, ''));
    }
  });

  it('sends request headers only, fails closed, and accepts the cold-start metadata', () => {
    const mode = obj(extProc['processingMode'], 'processingMode');
    expect(Object.keys(mode).sort()).toEqual(['allowModeOverride', 'request']); // no response phase: no second round trip
    expect(mode['allowModeOverride']).toBe(true); // faas-waker's end-of-request signal for scale-to-zero functions
    expect(obj(mode['request'], 'processingMode.request')['body']).toBeUndefined();
    expect(extProc['failOpen']).toBe(false);
    expect(parseDuration(str(extProc['messageTimeout'], 'messageTimeout'))).toBeGreaterThanOrEqual(1000);
    expect(list(at(extProc, 'metadata.writableNamespaces'), 'writableNamespaces')).toContain(METADATA_NAMESPACE);
  });

  it('lets a hold outlast Envoy: messageTimeout, or the patched max_message_timeout, covers the hold + 1s', () => {
    const needed = ms('WAKER_HOLD_TIMEOUT') + OVERRIDE_MARGIN_MS;
    const messageTimeout = parseDuration(str(extProc['messageTimeout'], 'messageTimeout'));
    if (messageTimeout >= needed) return;
    // Otherwise the EnvoyPatchPolicy must raise max_message_timeout on exactly this policy's filter.
    expect(patchPolicy).toBeDefined();
    const policyName = str(at(extensionPolicy, 'metadata.name'), 'policy name');
    const patch = list(at(patchPolicy, 'spec.jsonPatches'), 'jsonPatches')
      .map((p) => obj(p, 'jsonPatch'))
      .find((p) => at(p, 'operation.path') === '/max_message_timeout');
    expect(str(at(patch, 'operation.jsonPath'), 'jsonPath')).toContain(`envoy.filters.http.ext_proc/envoyextensionpolicy/`);
    expect(str(at(patch, 'operation.jsonPath'), 'jsonPath')).toContain(`/${policyName}/extproc/0`);
    const max = parseDuration(str(at(patch, 'operation.value'), 'max_message_timeout'));
    expect(max).toBeGreaterThanOrEqual(needed);
    expect(max).toBe(ms('WAKER_ENVOY_MAX_MESSAGE_TIMEOUT')); // faas-waker checks its hold against this value
  });

  it('sizes the ext_proc cluster: circuit breaker above every replica holding its maximum, health check inside the drain delay', () => {
    const heldPerReplica = Number(effective(containerEnv, 'WAKER_MAX_HELD_TOTAL'));
    const breaker = obj(at(extProc, 'backendSettings.circuitBreaker'), 'circuitBreaker');
    expect(num(breaker['maxParallelRequests'], 'maxParallelRequests')).toBeGreaterThan(replicas * heldPerReplica);
    const active = obj(at(extProc, 'backendSettings.healthCheck.active'), 'healthCheck.active');
    expect(active['type']).toBe('GRPC');
    expect(parseDuration(str(active['interval'], 'interval'))).toBeLessThan(ms('WAKER_DRAIN_DELAY'));
    expect(active['unhealthyThreshold']).toBe(1);
  });
});
