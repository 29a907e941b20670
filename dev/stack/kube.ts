import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { stringify } from 'yaml';
import { startChild, type Child } from './child';

/**
 * A real Kubernetes control plane on 127.0.0.1 for tests: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and kwok (a fake kubelet managing one fake Node), built by scripts/install-kube.mjs into
 * a cache directory outside the clone. Pod, Node and Service IPs are fake (documentation ranges): never
 * connect to them; use the objects only to decide readiness.
 */

export const KUBE_VERSION = 'v1.37.2';
/** Pod annotation read by the pod-ready kwok stage: a Go duration ("1500ms") before the pod turns Ready. */
export const POD_READY_DELAY_ANNOTATION = 'pod-ready.stage.kwok.x-k8s.io/delay';
/** Put these into a pod template's spec so the pods land on kwok's fake node. */
export const FAKE_NODE_PLACEMENT = {
  nodeSelector: { type: 'kwok' },
  tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
} as const;

const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';
/** Documentation ranges (RFC 5737): nothing listens there, and the API accepts them (not loopback). */
const POD_CIDR = '198.51.100.0/24';
const NODE_IP = '203.0.113.10';
const SERVICE_CIDR = '192.0.2.0/24';
const SERVICE_IP = '192.0.2.1';
const COMPONENTS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd', 'kwok'] as const;
const STAGE_FILES = ['node-initialize.yaml', 'node-heartbeat-with-lease.yaml', 'pod-ready.yaml', 'pod-complete.yaml', 'pod-delete.yaml'];

export interface KubeOptions {
  /** Echo every component's log lines to stderr (default: KUBE_ECHO=1). */
  readonly echo?: boolean;
  /** Fixed ports instead of free ephemeral ones. */
  readonly apiServerPort?: number;
  readonly etcdPort?: number;
  /** Name of the fake node (default kwok-node-0). */
  readonly nodeName?: string;
  /** Extra kube-apiserver flags (e.g. feature gates). */
  readonly apiServerArgs?: readonly string[];
  /** Bound for the whole start-up (default 90 s; ~3-7 s on an idle machine). */
  readonly startTimeoutMs?: number;
}

export interface KubeUser {
  readonly name: string;
  readonly token: string;
  /** A kubeconfig with this user's bearer token and the cluster CA. */
  readonly kubeconfig: string;
}

export interface KubeResponse {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
}

export interface KubeRequestOptions {
  readonly body?: unknown;
  /** Default: the admin token. */
  readonly token?: string;
  /** Default application/json; use application/merge-patch+json etc. for PATCH. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: KubeObject;
}

export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly labels?: Record<string, string>;
  };
  readonly [key: string]: unknown;
}

export interface KubeControlPlane {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** PEM of the CA that signed the API server's certificate, and its file. */
  readonly ca: string;
  readonly caFile: string;
  readonly admin: KubeUser;
  /** User `faas-waker`, no groups: only what RBAC grants it (nothing, at start). */
  readonly waker: KubeUser;
  readonly adminToken: string;
  readonly wakerToken: string;
  readonly adminKubeconfig: string;
  readonly wakerKubeconfig: string;
  readonly nodeName: string;
  readonly runDir: string;
  /**
   * An undici dispatcher that trusts the cluster CA, used by request() and watch(). restartApiServer()
   * replaces it (destroying the old one) and stop() destroys it: read it again after a restart.
   */
  readonly dispatcher: Agent;
  /** One API request with a bearer token (admin by default); JSON in and out. Never throws on HTTP status. */
  request(method: string, path: string, options?: KubeRequestOptions): Promise<KubeResponse>;
  /** A plain HTTP watch (`?watch=1&resourceVersion=`) of `path` (a collection URL, may carry a query). */
  watch(
    path: string,
    resourceVersion: string,
    options?: { readonly token?: string; readonly signal?: AbortSignal },
  ): AsyncGenerator<WatchEvent>;
  /** Log lines of a component so far. */
  logs(component: (typeof COMPONENTS)[number]): readonly string[];
  /**
   * Stops kube-apiserver (SIGTERM: watches are closed within 1 s, ~1 s in all; or SIGKILL: connections
   * reset), stays down for `downtimeMs` (default 0), then starts it again with the same port, certificates
   * and etcd data and waits for /readyz (~2-3 s).
   */
  restartApiServer(options?: {
    readonly signal?: 'SIGTERM' | 'SIGKILL';
    readonly downtimeMs?: number;
  }): Promise<{ readonly stopMs: number; readonly startMs: number }>;
  /** Stops every process and removes the run directory. Idempotent. */
  stop(): Promise<void>;
}

interface Installed {
  readonly bin: string;
  readonly stages: string;
}

/** Same resolution as scripts/install-kube.mjs. */
export function kubeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.FAAS_WAKER_KUBE_DIR;
  if (explicit !== undefined && explicit !== '') return explicit;
  const xdg = env.XDG_CACHE_HOME;
  const cache = xdg !== undefined && xdg !== '' ? xdg : join(env.HOME ?? homedir(), '.cache');
  return join(cache, 'faas-waker', `kube-${KUBE_VERSION}`);
}

/** The installed binaries and stage files, or an error that says how to install them. */
export function installedKube(): Installed {
  const dir = kubeCacheDir();
  const hint = `run \`node scripts/install-kube.mjs\` (cold build ~8-14 min; FAAS_WAKER_KUBE_DIR=${dir})`;
  const stampFile = join(dir, 'stamp.json');
  if (!existsSync(stampFile)) throw new Error(`no Kubernetes control plane in ${dir}: ${hint}`);
  const stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as { components?: Record<string, { version?: string }> };
  const kube = stamp.components?.kubernetes?.version;
  if (kube !== KUBE_VERSION)
    throw new Error(`the Kubernetes control plane in ${dir} is ${kube ?? 'not built'}, not ${KUBE_VERSION}: ${hint}`);
  const bin = join(dir, 'bin');
  const stages = join(dir, 'stages');
  const missing = [...COMPONENTS.map((c) => join(bin, c)), ...STAGE_FILES.map((f) => join(stages, f))].filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`the Kubernetes control plane in ${dir} is incomplete (missing ${missing.join(', ')}): ${hint}`);
  return { bin, stages };
}

/** A free TCP port on 127.0.0.1 (closed again, so there is a small race with other processes). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function token(): string {
  return randomBytes(24).toString('hex');
}

function openssl(args: readonly string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(
      `openssl ${args.slice(0, 2).join(' ')} failed (needs the openssl CLI): ${err instanceof Error ? err.message : String(err)}\n${stderr}`,
      { cause: err },
    );
  }
}

/** A CA and an API server serving certificate for 127.0.0.1/localhost/kubernetes.default.svc (EC P-256). */
function writeCertificates(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '7',
      '-subj',
      '/CN=faas-waker-test-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(['req', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], dir);
  const sans = [
    'IP:127.0.0.1',
    `IP:${SERVICE_IP}`,
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ];
  writeFileSync(
    join(dir, 'apiserver.ext'),
    `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'apiserver.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'apiserver.crt',
      '-days',
      '7',
      '-extfile',
      'apiserver.ext',
    ],
    dir,
  );
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
}

function writeKubeconfig(path: string, server: string, ca: string, user: string, bearer: string): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'faas-waker-test', cluster: { server, 'certificate-authority-data': Buffer.from(ca).toString('base64') } }],
    users: [{ name: user, user: { token: bearer } }],
    contexts: [{ name: user, context: { cluster: 'faas-waker-test', user, namespace: 'default' } }],
    'current-context': user,
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}

function exitedOf(child: Child): boolean {
  return child.proc.exitCode !== null || child.proc.signalCode !== null;
}

function tail(child: Child, n = 25): string {
  return child.lines.slice(-n).join('\n');
}

/** Polls `check` every `everyMs` until it returns a value; fails at once if a watched child exits. */
async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  watched: readonly [string, Child][],
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    for (const [name, child] of watched) {
      if (exitedOf(child))
        throw new Error(
          `kube: ${name} exited (${child.proc.exitCode ?? child.proc.signalCode}) while waiting for ${what}; its last output:\n${tail(child)}`,
        );
    }
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      const logs = watched.map(([name, child]) => `--- ${name}:\n${tail(child, 10)}`).join('\n');
      throw new Error(
        `kube: timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}\n${logs}`,
      );
    }
    await sleep(everyMs);
  }
}

interface NodeStatus {
  readonly spec?: { readonly taints?: readonly { readonly key: string }[] };
  readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}

/**
 * Starts the control plane in a fresh temp directory and waits until pods can run (node Ready, `default`
 * ServiceAccount): ~3-7 s. Free ports are picked first and bound later, so another process can take one
 * in between: that start is retried (twice) with new ports.
 */
export async function startKube(options: KubeOptions = {}): Promise<KubeControlPlane> {
  const fixedPorts = options.apiServerPort !== undefined || options.etcdPort !== undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startKubeOnce(options);
    } catch (err) {
      const portTaken = err instanceof Error && /address already in use/i.test(err.message);
      if (!portTaken || fixedPorts || attempt >= 3) throw err;
    }
  }
}

async function startKubeOnce(options: KubeOptions): Promise<KubeControlPlane> {
  const started = Date.now();
  const installed = installedKube();
  const echo = options.echo ?? process.env.KUBE_ECHO === '1';
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const deadline = (): number => Math.max(1_000, started + timeoutMs - Date.now());
  const nodeName = options.nodeName ?? 'kwok-node-0';
  const runDir = mkdtempSync(join(tmpdir(), 'faas-waker-kube-'));
  const children = new Map<string, Child>();
  let dispatcher: Agent | undefined;
  let stopped = false;

  const bin = (name: string): string => join(installed.bin, name);
  const spawnComponent = (name: string, args: readonly string[], env?: NodeJS.ProcessEnv): Child => {
    const child = startChild(bin(name), args, {
      name,
      echo,
      cwd: runDir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(runDir, 'home'), ...env },
    });
    children.set(name, child);
    return child;
  };
  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const get = (n: string): Child | undefined => children.get(n);
    // Clients first, so the API server has no watches to drain; the data is thrown away, so the graces are short.
    await Promise.all(
      ['kwok', 'kube-scheduler', 'kube-controller-manager'].map(async (n) => {
        await get(n)?.stop('SIGTERM', 2_000);
      }),
    );
    await dispatcher?.destroy(); // see restartApiServer
    await get('kube-apiserver')?.stop('SIGTERM', 2_000);
    await get('etcd')?.stop('SIGTERM', 2_000);
    rmSync(runDir, { recursive: true, force: true });
  };

  try {
    mkdirSync(join(runDir, 'home'));
    mkdirSync(join(runDir, 'flexvolume'));
    writeCertificates(runDir);
    const ca = readFileSync(join(runDir, 'ca.crt'), 'utf8');
    const caFile = join(runDir, 'ca.crt');
    const newAgent = (): Agent => new Agent({ connect: { ca }, keepAliveTimeout: 10_000 });
    dispatcher = newAgent();
    let agent = dispatcher;

    const apiPort = options.apiServerPort ?? (await freePort());
    const etcdPort = options.etcdPort ?? (await freePort());
    const peerPort = await freePort();
    const server = `https://127.0.0.1:${apiPort}`;
    const adminToken = token();
    const wakerToken = token();
    writeFileSync(join(runDir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n${wakerToken},faas-waker,faas-waker-uid\n`, {
      mode: 0o600,
    });
    const adminKubeconfig = join(runDir, 'admin.kubeconfig');
    const wakerKubeconfig = join(runDir, 'faas-waker.kubeconfig');
    writeKubeconfig(adminKubeconfig, server, ca, 'admin', adminToken);
    writeKubeconfig(wakerKubeconfig, server, ca, 'faas-waker', wakerToken);

    const request = async (method: string, path: string, opts: KubeRequestOptions = {}): Promise<KubeResponse> => {
      const res = await fetch(`${server}${path}`, {
        method,
        dispatcher: agent,
        headers: {
          authorization: `Bearer ${opts.token ?? adminToken}`,
          accept: 'application/json',
          ...(opts.body === undefined ? {} : { 'content-type': opts.contentType ?? 'application/json' }),
        },
        ...(opts.body === undefined ? {} : { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        // not JSON (e.g. /readyz): keep the text
      }
      return { status: res.status, body, text };
    };

    async function* watch(
      path: string,
      resourceVersion: string,
      opts: { readonly token?: string; readonly signal?: AbortSignal } = {},
    ): AsyncGenerator<WatchEvent> {
      const sep = path.includes('?') ? '&' : '?';
      const res = await fetch(
        `${server}${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`,
        {
          dispatcher: agent,
          headers: { authorization: `Bearer ${opts.token ?? adminToken}`, accept: 'application/json' },
          ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        },
      );
      if (res.status !== 200 || res.body === null) throw new Error(`kube: watch ${path} answered ${res.status}: ${await res.text()}`);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let buffered = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          buffered += decoder.decode(value, { stream: true });
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line !== '') yield JSON.parse(line) as WatchEvent;
          }
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    }

    // etcd
    const etcd = spawnComponent('etcd', [
      '--name',
      'faas-waker-test',
      '--data-dir',
      join(runDir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdPort}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-cluster',
      `faas-waker-test=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level',
      'warn',
    ]);
    await waitUntil(
      'etcd /health',
      deadline(),
      async () => {
        const res = await fetch(`http://127.0.0.1:${etcdPort}/health`, { signal: AbortSignal.timeout(5_000) });
        const body = (await res.json()) as { health?: string };
        return res.status === 200 && body.health === 'true' ? true : undefined;
      },
      [['etcd', etcd]],
    );

    // kube-apiserver
    const apiServerArgs = [
      '--etcd-servers',
      `http://127.0.0.1:${etcdPort}`,
      '--bind-address',
      '127.0.0.1',
      '--advertise-address',
      '127.0.0.1',
      '--secure-port',
      String(apiPort),
      '--endpoint-reconciler-type',
      'none',
      '--tls-cert-file',
      join(runDir, 'apiserver.crt'),
      '--tls-private-key-file',
      join(runDir, 'apiserver.key'),
      '--cert-dir',
      join(runDir, 'apiserver-certs'),
      '--token-auth-file',
      join(runDir, 'tokens.csv'),
      '--authorization-mode',
      'RBAC',
      '--service-account-issuer',
      'https://kubernetes.default.svc.cluster.local',
      '--service-account-key-file',
      join(runDir, 'sa.pub'),
      '--service-account-signing-key-file',
      join(runDir, 'sa.key'),
      '--service-cluster-ip-range',
      SERVICE_CIDR,
      '--profiling=false',
      // Without a bound, a SIGTERM'd API server waits for the controllers' watches forever (> 20 s).
      '--shutdown-watch-termination-grace-period',
      '1s',
      ...(options.apiServerArgs ?? []),
    ];
    const waitApiServer = async (child: Child, limitMs: number): Promise<void> => {
      await waitUntil(
        'kube-apiserver /readyz',
        limitMs,
        async () => {
          const res = await request('GET', '/readyz', { signal: AbortSignal.timeout(5_000) });
          return res.status === 200 ? true : undefined;
        },
        [
          ['kube-apiserver', child],
          ['etcd', etcd],
        ],
      );
    };
    await waitApiServer(spawnComponent('kube-apiserver', apiServerArgs), deadline());

    // controllers, scheduler, fake kubelet
    spawnComponent('kube-controller-manager', [
      '--kubeconfig',
      adminKubeconfig,
      '--leader-elect=false',
      '--secure-port',
      '0',
      '--bind-address',
      '127.0.0.1',
      '--service-account-private-key-file',
      join(runDir, 'sa.key'),
      '--root-ca-file',
      caFile,
      '--flex-volume-plugin-dir',
      join(runDir, 'flexvolume'),
      '--profiling=false',
    ]);
    spawnComponent('kube-scheduler', [
      '--kubeconfig',
      adminKubeconfig,
      '--leader-elect=false',
      '--secure-port',
      '0',
      '--bind-address',
      '127.0.0.1',
      '--profiling=false',
    ]);
    spawnComponent('kwok', [
      '--kubeconfig',
      adminKubeconfig,
      '--config',
      STAGE_FILES.map((f) => join(installed.stages, f)).join(','),
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector',
      `${KWOK_NODE_ANNOTATION}=fake`,
      '--node-lease-duration-seconds',
      '40',
      '--cidr',
      POD_CIDR,
      '--node-ip',
      NODE_IP,
    ]);
    const all: [string, Child][] = [...children.entries()];

    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: nodeName,
        annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          type: 'kwok',
          'kubernetes.io/hostname': nodeName,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'kubernetes.io/role': 'agent',
        },
      },
      spec: { taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }] },
    };
    const created = await request('POST', '/api/v1/nodes', { body: node, signal: AbortSignal.timeout(10_000) });
    if (created.status !== 201) throw new Error(`kube: creating the fake node answered ${created.status}: ${created.text}`);

    await waitUntil(
      `node ${nodeName} Ready and schedulable`,
      deadline(),
      async () => {
        const res = await request('GET', `/api/v1/nodes/${nodeName}`, { signal: AbortSignal.timeout(5_000) });
        const n = res.body as NodeStatus;
        const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
        const tainted = n.spec?.taints?.some((t) => t.key.startsWith('node.kubernetes.io/')) === true;
        return ready && !tainted ? true : undefined;
      },
      all,
    );
    await waitUntil(
      'the default ServiceAccount',
      deadline(),
      async () => {
        const res = await request('GET', '/api/v1/namespaces/default/serviceaccounts/default', { signal: AbortSignal.timeout(5_000) });
        return res.status === 200 ? true : undefined;
      },
      all,
    );
    if (echo) process.stderr.write(`[kube] control plane ready at ${server} in ${Date.now() - started} ms (run dir ${runDir})\n`);

    return {
      server,
      ca,
      caFile,
      admin: { name: 'admin', token: adminToken, kubeconfig: adminKubeconfig },
      waker: { name: 'faas-waker', token: wakerToken, kubeconfig: wakerKubeconfig },
      adminToken,
      wakerToken,
      adminKubeconfig,
      wakerKubeconfig,
      nodeName,
      runDir,
      get dispatcher(): Agent {
        return agent;
      },
      request,
      watch,
      logs: (component) => children.get(component)?.lines ?? [],
      restartApiServer: async (restart = {}) => {
        if (stopped) throw new Error('kube: restartApiServer after stop()');
        const t0 = Date.now();
        // undici opens a fresh connection after an aborted request (e.g. a cancelled watch) and leaves it
        // unused; net/http's graceful shutdown then waits 5 s for it. Drop ours before the SIGTERM.
        const previous = agent;
        agent = newAgent();
        dispatcher = agent;
        await previous.destroy();
        await children.get('kube-apiserver')?.stop(restart.signal ?? 'SIGTERM', 10_000);
        const stopMs = Date.now() - t0;
        if (restart.downtimeMs !== undefined && restart.downtimeMs > 0) await sleep(restart.downtimeMs);
        const t1 = Date.now();
        await waitApiServer(spawnComponent('kube-apiserver', apiServerArgs), 60_000);
        return { stopMs, startMs: Date.now() - t1 };
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export interface FunctionObjectsOptions {
  /** Pod readiness delay read by kwok's pod-ready stage, e.g. "1500ms" (none: ready at once). */
  readonly readyDelay?: string;
  readonly replicas?: number;
  /** Without the faas_function label: a Deployment that is not a function. */
  readonly plain?: boolean;
  /** More Deployment labels, e.g. `com.openfaas.scale.zero`. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * A function as faas-netes would deploy it, for tests and the bench: a Deployment labelled
 * `faas_function=NAME` (pods on kwok's fake node, selected by `app=NAME`) and a Service for it.
 * Nothing listens at the pods' fake addresses: the objects only decide readiness.
 */
export function functionObjects(
  namespace: string,
  name: string,
  options: FunctionObjectsOptions = {},
): { deployment: KubeObject; service: KubeObject } {
  const labels = { app: name, ...(options.plain === true ? {} : { faas_function: name }), ...options.labels };
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels },
    spec: {
      replicas: options.replicas ?? 0,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: {
          labels: { app: name },
          annotations: options.readyDelay === undefined ? {} : { [POD_READY_DELAY_ANNOTATION]: options.readyDelay },
        },
        spec: {
          ...FAKE_NODE_PLACEMENT,
          containers: [{ name: 'function', image: 'example.invalid/function:1', ports: [{ containerPort: 8080 }] }],
        },
      },
    },
  };
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] },
  };
  return { deployment, service };
}
