import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startEnvoy, type EnvoyProcess } from '../../dev/stack/envoy';
import { startStack, type Stack } from '../../dev/stack/stack';
import { certDir, type CertDir, type CertPair } from '../support/certs';
import { agent, get, waitUntil } from './http';

/**
 * Mutual TLS between the real Envoy and faas-waker: the shipped envoy.yaml with the documented
 * envoy/snippets/faas-waker-mtls-cluster.yaml merged into its faas_waker cluster. Envoy runs as the
 * local binary or in Docker (ENVOY_DOCKER_IMAGE): there only Envoy's own temp dir is mounted, so the
 * certificates go in as `inline_string` instead of `filename` (same TLS context otherwise).
 */

type Yaml = Record<string, unknown>;

const SNIPPET = join(__dirname, '..', '..', 'envoy', 'snippets', 'faas-waker-mtls-cluster.yaml');
const IN_DOCKER = (process.env.ENVOY_DOCKER_IMAGE ?? '') !== '';

let certs: CertDir;
let ca: CertPair;
let stack: Stack;

/** The snippet's file names, bound to this test's files (or their contents in Docker); `null` drops the key. */
function tlsCluster(files: Record<string, string | null>): Yaml {
  const bind = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(bind).filter((n) => n !== null);
    if (typeof node !== 'object' || node === null) return node;
    const entries = Object.entries(node as Yaml);
    const name = (node as { filename?: unknown }).filename;
    if (typeof name === 'string') {
      if (!(name in files)) throw new Error(`snippet names ${name}, which the test does not provide`);
      const path = files[name];
      if (path === null || path === undefined) return null;
      return IN_DOCKER ? { inline_string: readFileSync(path, 'utf8') } : { filename: path };
    }
    const out: Yaml = {};
    for (const [key, value] of entries) {
      const bound = bind(value);
      if (bound !== null && !(Array.isArray(bound) && bound.length === 0)) out[key] = bound;
    }
    // A certificate entry that lost its files is no certificate at all.
    return 'certificate_chain' in (node as Yaml) && !('certificate_chain' in out) ? null : out;
  };
  return bind(parse(readFileSync(SNIPPET, 'utf8'))) as Yaml;
}

function envoyPatch(client: CertPair | undefined): (bootstrap: Yaml) => void {
  const merge = tlsCluster({
    '/etc/envoy/tls/envoy-client.crt': client?.cert ?? null,
    '/etc/envoy/tls/envoy-client.key': client?.key ?? null,
    '/etc/envoy/tls/faas-waker-ca.crt': ca.cert,
  });
  return (bootstrap) => {
    const clusters = (bootstrap.static_resources as { clusters: Yaml[] }).clusters;
    const cluster = clusters.find((c) => c.name === 'faas_waker');
    if (cluster === undefined) throw new Error('cluster faas_waker missing');
    Object.assign(cluster, merge);
  };
}

beforeAll(async () => {
  certs = certDir();
  ca = certs.ca('ca');
  const server = certs.leaf('faas-waker', ca, { usage: 'server' });
  const envoyClient = certs.leaf('envoy', ca, { usage: 'client' });
  stack = await startStack({
    providerArgs: ['--function', 'cold:300', '--function', 'warm:100:1'],
    wakerEnv: {
      WAKER_HOLD_TIMEOUT: '10s',
      WAKER_WAKE_TIMEOUT: '20s',
      // The warm request after the cold one must find its entry: not expired (2 s by default) on a loaded machine.
      WAKER_READY_TTL: '30s',
      WAKER_GRPC_TLS_CERT_FILE: server.cert,
      WAKER_GRPC_TLS_KEY_FILE: server.key,
      WAKER_GRPC_CLIENT_CA_FILE: ca.cert,
    },
    envoy: { patch: envoyPatch(envoyClient) },
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
  certs?.remove();
});

test('the snippet is a complete UpstreamTlsContext with a client certificate and a trusted CA', () => {
  const snippet = parse(readFileSync(SNIPPET, 'utf8')) as {
    transport_socket: { name: string; typed_config: { '@type': string; sni: string; common_tls_context: Yaml } };
  };
  expect(snippet.transport_socket.name).toBe('envoy.transport_sockets.tls');
  expect(snippet.transport_socket.typed_config['@type']).toBe(
    'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  );
  expect(Object.keys(snippet.transport_socket.typed_config.common_tls_context).sort()).toEqual([
    'alpn_protocols',
    'tls_certificates',
    'validation_context',
  ]);
});

test('Envoy with its client certificate: a warm request and a cold wake both go through faas-waker over mTLS', async () => {
  const warm = await get(stack.url('/function/warm'));
  expect(warm.status).toBe(200);
  const cold = await get(stack.url('/function/cold/x'));
  expect(cold.status).toBe(200);
  expect((JSON.parse(cold.text) as { headers: Record<string, string> }).headers['x-faas-waker-cold-start']).toBe('true');
  const again = await get(stack.url('/function/cold/x'));
  expect(again.status).toBe(200);
  expect((JSON.parse(again.text) as { headers: Record<string, string> }).headers['x-faas-waker-cold-start']).toBeUndefined();
  const loaded = stack.waker.logs().find((l) => l.event === 'tls.files_loaded');
  expect(loaded?.what).toBe('gRPC listener TLS');
  expect(stack.waker.logs().some((l) => l.event === 'grpc.tls_refused')).toBe(false);
});

describe.each([
  ['without a client certificate', (): CertPair | undefined => undefined, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'],
  [
    'with an expired client certificate',
    (): CertPair | undefined => certs.leaf('envoy-expired', ca, { usage: 'client', days: -1 }),
    'CERT_HAS_EXPIRED',
  ],
  [
    'with a client certificate from another CA',
    (): CertPair | undefined => certs.leaf('envoy-foreign', certs.ca('foreign-ca'), { usage: 'client' }),
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  ],
])('Envoy %s', (_name, clientCert, reason) => {
  let envoy: EnvoyProcess;
  beforeAll(async () => {
    envoy = await startEnvoy({ grpcPort: stack.waker.grpcPort, gatewayPort: stack.provider.port, patch: envoyPatch(clientCert()) });
  }, 60_000);
  afterAll(() => envoy?.stop());

  test('gets 503 (status_on_error), and faas-waker refuses the handshake and says why', async () => {
    const before = (await stack.provider.stats()).functions['warm.openfaas-fn']?.proxied ?? 0;
    const res = await get(`http://127.0.0.1:${envoy.port}/function/warm`);
    expect(res.status).toBe(503);
    await waitUntil(
      () =>
        Promise.resolve(
          stack.waker.logs().some((l) => l.event === 'grpc.tls_refused' && reason in ((l.reasons as Yaml | undefined) ?? {})),
        ),
      30_000,
      `grpc.tls_refused with ${reason}`,
    );
    // Fail closed: the request never reached the function unprocessed.
    expect((await stack.provider.stats()).functions['warm.openfaas-fn']?.proxied ?? 0).toBe(before);
    // The trusted Envoy is unaffected.
    expect((await get(stack.url('/function/warm'))).status).toBe(200);
  });
});
