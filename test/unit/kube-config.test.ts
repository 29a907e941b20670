import { stringify } from 'yaml';
import { loadKubeConnection, SERVICE_ACCOUNT_DIR, type KubeConnection } from '../../src/provider/kubernetes/kube-config';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN EC PRIVATE KEY-----\nMHckey\n-----END EC PRIVATE KEY-----\n';
const SECRET = 'sekret-token-value-0123456789';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** An in-memory file system: missing files throw ENOENT like fs.readFileSync. */
function files(entries: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = entries[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
}

function kubeconfig(
  cluster: Record<string, unknown>,
  user: Record<string, unknown> | undefined,
  extra: Record<string, unknown> = {},
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'other', cluster: { server: 'https://other.invalid' } },
      { name: 'c', cluster },
    ],
    users: user === undefined ? [] : [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', ...(user === undefined ? {} : { user: 'u' }), namespace: 'default' } }],
    'current-context': 'ctx',
    ...extra,
  });
}

const PATH = '/etc/faas-waker/kube/config';
const load = (text: string, extraFiles: Record<string, string> = {}): KubeConnection =>
  loadKubeConnection({ kubeconfig: PATH, env: {}, readFile: files({ [PATH]: text, ...extraFiles }) });

describe('kubeconfig', () => {
  test.each<[string, string, Record<string, string>, KubeConnection]>([
    [
      'a token and CA data',
      kubeconfig({ server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64(CA) }, { token: SECRET }),
      {},
      { server: 'https://127.0.0.1:6443', ca: CA, token: SECRET },
    ],
    [
      'a tokenFile and CA file, relative to the kubeconfig directory',
      kubeconfig({ server: 'https://kube.example:443/', 'certificate-authority': 'ca.crt' }, { tokenFile: '../tokens/t' }),
      { '/etc/faas-waker/kube/ca.crt': CA },
      { server: 'https://kube.example:443', ca: CA, tokenFile: '/etc/faas-waker/tokens/t' },
    ],
    [
      'client certificate data',
      kubeconfig({ server: 'https://h:1' }, { 'client-certificate-data': b64(CERT), 'client-key-data': b64(KEY) }),
      {},
      { server: 'https://h:1', cert: CERT, key: KEY },
    ],
    [
      'client certificate files, absolute and relative',
      kubeconfig(
        { server: 'https://h:1', 'certificate-authority': '/abs/ca.pem' },
        { 'client-certificate': 'certs/c.pem', 'client-key': '/abs/k.pem' },
      ),
      { '/abs/ca.pem': CA, '/etc/faas-waker/kube/certs/c.pem': CERT, '/abs/k.pem': KEY },
      { server: 'https://h:1', ca: CA, cert: CERT, key: KEY },
    ],
    [
      'insecure-skip-tls-verify',
      kubeconfig({ server: 'https://h:1', 'insecure-skip-tls-verify': true }, { token: SECRET }),
      {},
      { server: 'https://h:1', insecureSkipTlsVerify: true, token: SECRET },
    ],
    [
      'a static token wins over tokenFile',
      kubeconfig({ server: 'https://h:1' }, { token: SECRET, tokenFile: '/x' }),
      {},
      { server: 'https://h:1', token: SECRET },
    ],
    ['a context without a user', kubeconfig({ server: 'https://h:1' }, undefined), {}, { server: 'https://h:1' }],
    [
      'data wins over a file name',
      kubeconfig({ server: 'https://h:1', 'certificate-authority-data': b64(CA), 'certificate-authority': '/missing' }, {}),
      {},
      { server: 'https://h:1', ca: CA },
    ],
  ])('%s', (_name, text, extra, expected) => {
    expect(load(text, extra)).toEqual(expected);
  });

  test.each<[string, string, RegExp]>([
    [
      'no current-context',
      kubeconfig({ server: 'https://h:1' }, { token: SECRET }, { 'current-context': '' }),
      /kubeconfig \/etc\/faas-waker\/kube\/config has no current-context/,
    ],
    [
      'a current-context that is not defined',
      kubeconfig({ server: 'https://h:1' }, { token: SECRET }, { 'current-context': 'nope' }),
      /context "nope" is not in contexts/,
    ],
    [
      'a context naming a missing cluster',
      stringify({ clusters: [], users: [], contexts: [{ name: 'x', context: { cluster: 'gone' } }], 'current-context': 'x' }),
      /cluster "gone" is not in clusters/,
    ],
    [
      'a context naming a missing user',
      stringify({
        clusters: [{ name: 'c', cluster: { server: 'https://h:1' } }],
        users: [],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
      /user "u" is not in users/,
    ],
    ['no server', kubeconfig({ 'certificate-authority-data': b64(CA) }, { token: SECRET }), /cluster "c" has no server/],
    [
      'a server that is not a URL',
      kubeconfig({ server: 'h:1:2' }, { token: SECRET }),
      /server "h:1:2" is not an http\(s\) URL|is not a URL/,
    ],
    [
      'an exec plugin',
      kubeconfig(
        { server: 'https://h:1' },
        { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws', args: ['eks', 'get-token'] } },
      ),
      /user "u" uses an exec credential plugin \(aws\), which faas-waker does not support: use a token, tokenFile or client certificate/,
    ],
    [
      'an auth-provider plugin',
      kubeconfig({ server: 'https://h:1' }, { 'auth-provider': { name: 'gcp' } }),
      /uses an auth-provider plugin, which faas-waker does not support/,
    ],
    [
      'basic auth',
      kubeconfig({ server: 'https://h:1' }, { username: 'admin', password: SECRET }),
      /uses basic auth \(username\/password\), which faas-waker does not support/,
    ],
    [
      'a missing CA file',
      kubeconfig({ server: 'https://h:1', 'certificate-authority': 'ca.crt' }, { token: SECRET }),
      /cannot read the CA of cluster "c" \/etc\/faas-waker\/kube\/ca\.crt: ENOENT/,
    ],
    [
      'CA data that is not PEM',
      kubeconfig({ server: 'https://h:1', 'certificate-authority-data': b64('garbage') }, { token: SECRET }),
      /certificate-authority-data is not PEM/,
    ],
    [
      'a certificate without a key',
      kubeconfig({ server: 'https://h:1' }, { 'client-certificate-data': b64(CERT) }),
      /client certificate without its key/,
    ],
    ['a token that is not a string', kubeconfig({ server: 'https://h:1' }, { token: 12345 }), /token is not a string/],
    ['not a mapping', '- a\n- b\n', /is not a kubeconfig \(expected a YAML mapping\)/],
  ])('refuses %s with a precise message', (_name, text, message) => {
    expect(() => load(text)).toThrow(message);
  });

  test('a missing kubeconfig file', () => {
    expect(() => loadKubeConnection({ kubeconfig: '/nope/config', env: {}, readFile: files({}) })).toThrow(
      'cannot read the kubeconfig /nope/config: ENOENT',
    );
  });

  test('invalid YAML is reported by position, never by quoting the file (it holds a token)', () => {
    const text = `apiVersion: v1\nusers:\n- name: u\n  user:\n    token: "${SECRET}\n  bad: [\n`;
    let message = '';
    try {
      load(text);
    } catch (err) {
      message = err instanceof Error ? err.message : String(err);
    }
    expect(message).toMatch(/^kubeconfig \/etc\/faas-waker\/kube\/config is not valid YAML \([A-Z_]+\)( at line \d+)?$/);
    expect(message).not.toContain(SECRET);
  });

  test('no error message contains the token', () => {
    const bad = [
      kubeconfig({ server: 'https://h:1', 'certificate-authority-data': b64('nope') }, { token: SECRET }),
      kubeconfig({ server: 'https://h:1' }, { token: SECRET, exec: { command: 'x' } }),
      kubeconfig({ server: 'https://h:1' }, { token: SECRET, 'client-key-data': b64(KEY) }),
    ];
    for (const text of bad) expect(() => load(text)).toThrow(/^(?![\s\S]*sekret)/);
  });
});

describe('in cluster', () => {
  const mounted = files({ [`${SERVICE_ACCOUNT_DIR}/ca.crt`]: CA, [`${SERVICE_ACCOUNT_DIR}/token`]: `${SECRET}\n` });
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

  test('uses the service host/port, the mounted CA and the token file (re-read by the client, since it rotates)', () => {
    expect(loadKubeConnection({ env, readFile: mounted })).toEqual({
      server: 'https://10.96.0.1:443',
      ca: CA,
      tokenFile: `${SERVICE_ACCOUNT_DIR}/token`,
    });
  });

  test('an empty kubeconfig path means in-cluster too; IPv6 hosts are bracketed', () => {
    expect(
      loadKubeConnection({
        kubeconfig: '',
        env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
        readFile: mounted,
      }).server,
    ).toBe('https://[fd00::1]:6443');
  });

  test.each<[string, Record<string, string>, (p: string) => string, RegExp]>([
    [
      'outside a pod',
      {},
      mounted,
      /no kubeconfig given and not running in a Kubernetes pod \(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set\)/,
    ],
    ['a bad port', { ...env, KUBERNETES_SERVICE_PORT: 'https' }, mounted, /KUBERNETES_SERVICE_PORT is not a port number: "https"/],
    [
      'no CA mounted',
      env,
      files({ [`${SERVICE_ACCOUNT_DIR}/token`]: SECRET }),
      /cannot read the in-cluster CA certificate \/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/ca\.crt: ENOENT/,
    ],
    [
      'no token mounted (automountServiceAccountToken: false?)',
      env,
      files({ [`${SERVICE_ACCOUNT_DIR}/ca.crt`]: CA }),
      /cannot read the in-cluster ServiceAccount token \/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token: ENOENT/,
    ],
    [
      'an empty token',
      env,
      files({ [`${SERVICE_ACCOUNT_DIR}/ca.crt`]: CA, [`${SERVICE_ACCOUNT_DIR}/token`]: '\n' }),
      /ServiceAccount token .* is empty/,
    ],
  ])('refuses %s', (_name, e, readFile, message) => {
    expect(() => loadKubeConnection({ env: e, readFile })).toThrow(message);
  });
});
