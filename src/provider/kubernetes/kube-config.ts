import { dirname, isAbsolute, resolve } from 'node:path';
import { parse, YAMLError } from 'yaml';

/** Where the kubelet mounts a pod's ServiceAccount credentials. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How to reach and authenticate to one API server. PEM texts, not file names (except tokenFile). */
export interface KubeConnection {
  /** `https://host:port`, possibly with a path prefix (API proxies). */
  readonly server: string;
  readonly ca?: string;
  /** A static bearer token. */
  readonly token?: string;
  /** A bearer token the client re-reads, because bound ServiceAccount tokens rotate. */
  readonly tokenFile?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecureSkipTlsVerify?: boolean;
}

export interface KubeConfigSources {
  /** Path of a kubeconfig; when absent or empty, the in-cluster ServiceAccount is used. */
  readonly kubeconfig?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a file as UTF-8; throws (with an errno `code`) when it cannot. */
  readonly readFile: (path: string) => string;
}

/**
 * The connection described by a kubeconfig's current context, or the in-cluster one.
 * Throws an Error with a precise message for every problem; messages never contain a credential.
 */
export function loadKubeConnection(sources: KubeConfigSources): KubeConnection {
  const { kubeconfig } = sources;
  return kubeconfig === undefined || kubeconfig === '' ? inCluster(sources) : fromKubeconfig(kubeconfig, sources.readFile);
}

type Doc = Readonly<Record<string, unknown>>;

function inCluster(sources: KubeConfigSources): KubeConnection {
  const host = sources.env.KUBERNETES_SERVICE_HOST;
  const port = sources.env.KUBERNETES_SERVICE_PORT;
  if (host === undefined || host === '' || port === undefined || port === '') {
    throw new Error(
      'no kubeconfig given and not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set): set a kubeconfig path',
    );
  }
  if (!/^\d{1,5}$/.test(port)) throw new Error(`KUBERNETES_SERVICE_PORT is not a port number: "${port}"`);
  const ca = readText(sources.readFile, `${SERVICE_ACCOUNT_DIR}/ca.crt`, 'the in-cluster CA certificate');
  const tokenFile = `${SERVICE_ACCOUNT_DIR}/token`;
  // Read once now so a pod without a mounted token fails at start, not at the first request.
  if (readText(sources.readFile, tokenFile, 'the in-cluster ServiceAccount token').trim() === '') {
    throw new Error(`the in-cluster ServiceAccount token ${tokenFile} is empty`);
  }
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${bracketed}:${port}`, ca: requirePem(ca, `${SERVICE_ACCOUNT_DIR}/ca.crt`), tokenFile };
}

function fromKubeconfig(path: string, readFile: (path: string) => string): KubeConnection {
  const where = `kubeconfig ${path}`;
  const doc = parseYaml(readText(readFile, path, 'the kubeconfig'), where);
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') throw new Error(`${where} has no current-context`);
  const context = named(doc, 'contexts', 'context', contextName, where);
  const clusterName = context.cluster;
  if (typeof clusterName !== 'string' || clusterName === '') throw new Error(`${where}: context "${contextName}" names no cluster`);
  const cluster = named(doc, 'clusters', 'cluster', clusterName, where);
  const userName = context.user;
  // A context without a user is legal (an anonymous or proxy-authenticated cluster).
  const user = typeof userName === 'string' && userName !== '' ? named(doc, 'users', 'user', userName, where) : {};
  const base = dirname(path);
  const file = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const material = (dataKey: string, fileKey: string, of: Doc, what: string): string | undefined => {
    const data = optionalString(of, dataKey, where);
    if (data !== undefined) return requirePem(Buffer.from(data, 'base64').toString('utf8'), `${where}: ${dataKey}`);
    const name = optionalString(of, fileKey, where);
    return name === undefined ? undefined : requirePem(readText(readFile, file(name), what), file(name));
  };
  return {
    server: serverUrl(cluster.server, `${where}: cluster "${clusterName}"`),
    ...defined('ca', material('certificate-authority-data', 'certificate-authority', cluster, `the CA of cluster "${clusterName}"`)),
    ...(cluster['insecure-skip-tls-verify'] === true ? { insecureSkipTlsVerify: true } : {}),
    ...userCredentials(user, userName, where, file, material),
  };
}

function userCredentials(
  user: Doc,
  userName: unknown,
  where: string,
  file: (p: string) => string,
  material: (dataKey: string, fileKey: string, of: Doc, what: string) => string | undefined,
): Partial<KubeConnection> {
  const label = `${where}: user "${String(userName)}"`;
  if (user.exec !== undefined && user.exec !== null) {
    const command = typeof (user.exec as Doc).command === 'string' ? ` (${String((user.exec as Doc).command)})` : '';
    throw new Error(
      `${label} uses an exec credential plugin${command}, which faas-waker does not support: use a token, tokenFile or client certificate`,
    );
  }
  if (user['auth-provider'] !== undefined && user['auth-provider'] !== null) {
    throw new Error(
      `${label} uses an auth-provider plugin, which faas-waker does not support: use a token, tokenFile or client certificate`,
    );
  }
  if (user.username !== undefined || user.password !== undefined) {
    throw new Error(
      `${label} uses basic auth (username/password), which faas-waker does not support: use a token, tokenFile or client certificate`,
    );
  }
  const token = optionalString(user, 'token', label);
  const tokenFile = optionalString(user, 'tokenFile', label);
  const cert = material('client-certificate-data', 'client-certificate', user, `the client certificate of ${label}`);
  const key = material('client-key-data', 'client-key', user, `the client key of ${label}`);
  if ((cert === undefined) !== (key === undefined))
    throw new Error(`${label} has a client certificate without its key, or a key without its certificate`);
  return {
    ...defined('token', token),
    // A static token wins over tokenFile, as in client-go.
    ...(token === undefined && tokenFile !== undefined ? { tokenFile: file(tokenFile) } : {}),
    ...defined('cert', cert),
    ...defined('key', key),
  };
}

function parseYaml(text: string, where: string): Doc {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    // yaml's own message quotes the offending line, which may hold a token: give only the position.
    const at = err instanceof YAMLError && err.linePos !== undefined ? ` at line ${err.linePos[0].line}` : '';
    const code = err instanceof YAMLError ? ` (${err.code})` : '';
    // No `cause` on purpose: it would carry that quoted line to whoever logs the error.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`${where} is not valid YAML${code}${at}`);
  }
  if (!isRecord(doc)) throw new Error(`${where} is not a kubeconfig (expected a YAML mapping)`);
  return doc;
}

/** The `field` of the entry called `name` in the list `listKey` (kubeconfig's `{name, <field>: {...}}` shape). */
function named(doc: Doc, listKey: string, field: string, name: string, where: string): Doc {
  const list = doc[listKey];
  const entry = Array.isArray(list) ? (list as unknown[]).find((e) => isRecord(e) && e.name === name) : undefined;
  if (!isRecord(entry)) throw new Error(`${where}: ${field} "${name}" is not in ${listKey}`);
  const value = entry[field];
  if (!isRecord(value)) throw new Error(`${where}: ${field} "${name}" has no ${field} section`);
  return value;
}

function serverUrl(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`${where} has no server`);
  let url: URL;
  try {
    url = new URL(value);
  } catch (err) {
    throw new Error(`${where}: server "${value}" is not a URL`, { cause: err });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${where}: server "${value}" is not an http(s) URL`);
  return value.replace(/\/+$/, '');
}

function optionalString(of: Doc, key: string, where: string): string | undefined {
  const value = of[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`${where}: ${key} is not a string`);
  return value;
}

function readText(readFile: (path: string) => string, path: string, what: string): string {
  try {
    return readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new Error(`cannot read ${what} ${path}: ${code}`, { cause: err });
  }
}

function requirePem(text: string, where: string): string {
  if (!text.includes('-----BEGIN ')) throw new Error(`${where} is not PEM`);
  return text;
}

function defined<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Partial<Record<K, V>>);
}

function isRecord(value: unknown): value is Doc {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
