import { renameSync, writeFileSync } from 'node:fs';
import { connect, type SecureClientSessionOptions } from 'node:http2';
import { join } from 'node:path';
import type { Config } from '../../src/config/load';
import { grpcTlsFrom, type GrpcTls } from '../../src/extproc/grpc-tls';
import { startH2Server, type GrpcServer } from '../../src/extproc/h2-server';
import { HealthState } from '../../src/extproc/health';
import type { Logger } from '../../src/logging';
import { certDir, type CertDir, type CertPair } from '../support/certs';
import { capture, configWith, replaceFile } from '../support/tls-files';
import { waitUntil } from '../e2e/http';

/** TLS and mutual TLS on the node:http2 gRPC listener, with certificates made by the openssl CLI. */

interface LogLine {
  event?: string;
  level: string;
  reasons?: Record<string, number>;
  refused?: number;
}

let certs: CertDir;
let ca: CertPair;
let otherCa: CertPair;
let serverCert: CertPair;
let client: CertPair;
let foreignClient: CertPair;
let expiredClient: CertPair;

beforeAll(() => {
  certs = certDir();
  ca = certs.ca('ca');
  otherCa = certs.ca('other-ca');
  serverCert = certs.leaf('faas-waker', ca, { usage: 'server' });
  client = certs.leaf('envoy', ca, { usage: 'client' });
  foreignClient = certs.leaf('intruder', otherCa, { usage: 'client' });
  expiredClient = certs.leaf('envoy-expired', ca, { usage: 'client', days: -1 });
});

afterAll(() => certs.remove());

interface Listener {
  readonly server: GrpcServer;
  readonly tls: GrpcTls;
  /** Process streams that reached the handler. */
  readonly calls: () => number;
  stop(): Promise<void>;
}

async function listen(config: Config, logger: Logger, address = '127.0.0.1:0'): Promise<Listener> {
  const tls = grpcTlsFrom(config, logger, { checkIntervalMs: 50, refusedLogIntervalMs: 0 });
  if (tls === undefined) throw new Error('no TLS');
  let calls = 0;
  const server = await startH2Server(
    address,
    (call) => {
      calls += 1;
      call.listen({ data: () => undefined, end: () => call.end(), gone: () => undefined });
    },
    new HealthState(),
    {},
    { tls },
  );
  return {
    server,
    tls,
    calls: () => calls,
    stop: async () => {
      await server.stop(100);
      tls.close();
    },
  };
}

const PROCESS = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';

/**
 * Opens one Process stream: `response 200` once the server answered its headers, else `error <code>`
 * (the connection's error when there was one: it says why better than the stream's CANCEL).
 */
function openProcess(url: string, options: SecureClientSessionOptions): Promise<string> {
  return new Promise((resolve) => {
    const session = connect(url, options);
    let sessionError: string | undefined;
    let streamError: string | undefined;
    let done = false;
    const finish = (outcome: string): void => {
      if (done) return;
      done = true;
      session.destroy();
      resolve(outcome);
    };
    session.on('error', (err: NodeJS.ErrnoException) => (sessionError = err.code ?? err.message));
    session.on('close', () => finish(`error ${sessionError ?? streamError ?? 'closed'}`));
    const stream = session.request({ ':method': 'POST', ':path': PROCESS, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('response', (headers) => finish(`response ${String(headers[':status'])}`));
    stream.on('error', (err: NodeJS.ErrnoException) => (streamError = err.code ?? err.message));
    // A failed handshake may reach the stream first and the connection a moment later, or never.
    stream.on('close', () => setImmediate(() => finish(`error ${sessionError ?? streamError ?? 'closed'}`)));
  });
}

const trusting = (pem: string, extra: SecureClientSessionOptions = {}): SecureClientSessionOptions => ({
  ca: certs.read(pem),
  servername: 'faas-waker',
  ...extra,
});
const withCert = (pair: CertPair): SecureClientSessionOptions => ({ cert: certs.read(pair.cert), key: certs.read(pair.key) });

/** Bounded polling for a condition that a background file check makes true (it looks every second). */
const eventually = (check: () => Promise<boolean>, what: string): Promise<void> => waitUntil(check, 60_000, what);

describe('TLS without client certificates', () => {
  let listener: Listener;
  beforeAll(async () => {
    listener = await listen(
      configWith({ WAKER_GRPC_TLS_CERT_FILE: serverCert.cert, WAKER_GRPC_TLS_KEY_FILE: serverCert.key }),
      capture<LogLine>().logger,
    );
  });
  afterAll(() => listener.stop());

  test('a client trusting the CA opens streams over h2; no client certificate is asked for', async () => {
    expect(listener.tls.requireClientCert).toBe(false);
    expect(await openProcess(`https://127.0.0.1:${listener.server.port}`, trusting(ca.cert))).toBe('response 200');
    expect(listener.calls()).toBe(1);
  });

  test('a client that does not trust the CA fails the handshake; a plain-text client gets no stream', async () => {
    expect(await openProcess(`https://127.0.0.1:${listener.server.port}`, trusting(otherCa.cert))).toMatch(
      /^error (UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
    );
    expect(await openProcess(`http://127.0.0.1:${listener.server.port}`, {})).toMatch(/^error /);
    expect(listener.calls()).toBe(1);
  });

  test('ALPN is h2 only: a client offering only http/1.1 fails the handshake', async () => {
    const { connect: tlsConnect } = await import('node:tls');
    const outcome = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: listener.server.port, ...trusting(ca.cert), ALPNProtocols: ['http/1.1'] });
      socket.on('secureConnect', () => {
        socket.destroy();
        resolve(`connected ${String(socket.alpnProtocol)}`);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    });
    expect(outcome).toMatch(/^error .*ALPN|^error ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL$/);
  });
});

describe('mutual TLS (WAKER_GRPC_CLIENT_CA_FILE)', () => {
  let listener: Listener;
  let lines: LogLine[];
  let url: string;
  beforeAll(async () => {
    const captured = capture<LogLine>();
    lines = captured.lines;
    listener = await listen(
      configWith({
        WAKER_GRPC_TLS_CERT_FILE: serverCert.cert,
        WAKER_GRPC_TLS_KEY_FILE: serverCert.key,
        WAKER_GRPC_CLIENT_CA_FILE: ca.cert,
      }),
      captured.logger,
    );
    url = `https://127.0.0.1:${listener.server.port}`;
  });
  afterAll(() => listener.stop());

  test('a client with a certificate signed by the client CA opens streams', async () => {
    expect(listener.tls.requireClientCert).toBe(true);
    expect(await openProcess(url, trusting(ca.cert, withCert(client)))).toBe('response 200');
    expect(listener.calls()).toBe(1);
  });

  test('no client certificate: the handshake fails and no stream reaches the handler', async () => {
    expect(await openProcess(url, trusting(ca.cert))).toMatch(/^error /);
    expect(listener.calls()).toBe(1);
    await eventually(async () => Promise.resolve(refusals(lines)['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'] !== undefined), 'logged');
  });

  test('a certificate from another CA, or an expired one, is refused before any stream', async () => {
    expect(await openProcess(url, trusting(ca.cert, withCert(foreignClient)))).toMatch(/^error /);
    expect(await openProcess(url, trusting(ca.cert, withCert(expiredClient)))).toMatch(/^error /);
    expect(listener.calls()).toBe(1);
    await eventually(
      async () =>
        Promise.resolve(
          refusals(lines)['UNABLE_TO_VERIFY_LEAF_SIGNATURE'] !== undefined && refusals(lines)['CERT_HAS_EXPIRED'] !== undefined,
        ),
      'both refusals logged',
    );
    expect(lines.filter((l) => l.event === 'grpc.tls_refused').every((l) => l.level === 'warn')).toBe(true);
  });
});

/** Reasons summed over every `grpc.tls_refused` line so far. */
function refusals(lines: readonly LogLine[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const line of lines)
    if (line.event === 'grpc.tls_refused') for (const [why, n] of Object.entries(line.reasons ?? {})) sum[why] = (sum[why] ?? 0) + n;
  return sum;
}

describe('rotation without a restart', () => {
  let dir: string;
  let listener: Listener;
  let lines: LogLine[];
  let url: string;
  const live = { cert: '', key: '', ca: '' };

  beforeAll(async () => {
    dir = certs.dir;
    live.cert = join(dir, 'live-server.crt');
    live.key = join(dir, 'live-server.key');
    live.ca = join(dir, 'live-client-ca.crt');
    replaceFile(serverCert.cert, live.cert);
    replaceFile(serverCert.key, live.key);
    replaceFile(ca.cert, live.ca);
    const captured = capture<LogLine>();
    lines = captured.lines;
    listener = await listen(
      configWith({ WAKER_GRPC_TLS_CERT_FILE: live.cert, WAKER_GRPC_TLS_KEY_FILE: live.key, WAKER_GRPC_CLIENT_CA_FILE: live.ca }),
      captured.logger,
    );
    url = `https://127.0.0.1:${listener.server.port}`;
  });
  afterAll(() => listener.stop());

  test('a new server certificate (from a new CA) is served to new connections', async () => {
    const next = certs.leaf('faas-waker-next', otherCa, { dns: ['faas-waker'], usage: 'server' });
    const viaOther = trusting(otherCa.cert, withCert(client));
    expect(await openProcess(url, viaOther)).toMatch(/^error /);
    // Key first, then certificate: in between the pair does not match, which must keep the old one.
    replaceFile(next.key, live.key);
    expect(await openProcess(url, trusting(ca.cert, withCert(client)))).toBe('response 200');
    replaceFile(next.cert, live.cert);
    await eventually(async () => (await openProcess(url, viaOther)) === 'response 200', 'new server certificate served');
    expect(await openProcess(url, trusting(ca.cert, withCert(client)))).toMatch(/^error /);
    expect(lines.some((l) => l.event === 'tls.files_reloaded')).toBe(true);
  });

  test('a new client CA: clients it signs get in, clients of the old CA no longer do', async () => {
    const server = trusting(otherCa.cert); // the server certificate is the rotated one from the test above
    expect(await openProcess(url, { ...server, ...withCert(foreignClient) })).toMatch(/^error /);
    replaceFile(otherCa.cert, live.ca);
    await eventually(
      async () => (await openProcess(url, { ...server, ...withCert(foreignClient) })) === 'response 200',
      'new client CA used',
    );
    expect(await openProcess(url, { ...server, ...withCert(client) })).toMatch(/^error /);
  });

  test('a broken new file keeps the last good certificates and is reported once', async () => {
    const before = listener.calls();
    const unusable = (): number => lines.filter((l) => l.event === 'tls.files_unusable').length;
    const reportedBefore = unusable(); // the half-done key rotation above was one
    const good = trusting(otherCa.cert, withCert(foreignClient));
    writeFileSync(`${live.cert}.new`, '-----BEGIN CERTIFICATE-----\ntruncated');
    renameSync(`${live.cert}.new`, live.cert);
    await eventually(async () => Promise.resolve(unusable() > reportedBefore), 'unusable file reported');
    expect(await openProcess(url, good)).toBe('response 200');
    expect(await openProcess(url, good)).toBe('response 200');
    expect(listener.calls()).toBe(before + 2);
    expect(unusable()).toBe(reportedBefore + 1);
  });
});

test('TLS on a unix socket address works like on TCP', async () => {
  const path = join(certs.dir, 'grpc.sock');
  const listener = await listen(
    configWith({ WAKER_GRPC_TLS_CERT_FILE: serverCert.cert, WAKER_GRPC_TLS_KEY_FILE: serverCert.key, WAKER_GRPC_CLIENT_CA_FILE: ca.cert }),
    capture<LogLine>().logger,
    `unix:${path}`,
  );
  try {
    const { connect: tlsConnect } = await import('node:tls');
    const options = {
      ...trusting(ca.cert, withCert(client)),
      createConnection: () => tlsConnect({ path, ...trusting(ca.cert, withCert(client)), ALPNProtocols: ['h2'] }),
    };
    expect(await openProcess('https://faas-waker', options)).toBe('response 200');
    expect(
      await openProcess('https://faas-waker', {
        ...options,
        createConnection: () => tlsConnect({ path, ...trusting(ca.cert), ALPNProtocols: ['h2'] }),
      }),
    ).toMatch(/^error /);
  } finally {
    await listener.stop();
  }
});

test('unreadable or mismatched files fail at start, naming the setting', () => {
  const logger = capture<LogLine>().logger;
  expect(() =>
    grpcTlsFrom(configWith({ WAKER_GRPC_TLS_CERT_FILE: join(certs.dir, 'missing.crt'), WAKER_GRPC_TLS_KEY_FILE: serverCert.key }), logger),
  ).toThrow(/^WAKER_GRPC_TLS_CERT_FILE: cannot read .*missing\.crt/);
  expect(() => grpcTlsFrom(configWith({ WAKER_GRPC_TLS_CERT_FILE: serverCert.cert, WAKER_GRPC_TLS_KEY_FILE: client.key }), logger)).toThrow(
    /WAKER_GRPC_TLS_CERT_FILE \/ WAKER_GRPC_TLS_KEY_FILE: .*key values mismatch/,
  );
  expect(() =>
    grpcTlsFrom(
      configWith({
        WAKER_GRPC_TLS_CERT_FILE: serverCert.cert,
        WAKER_GRPC_TLS_KEY_FILE: serverCert.key,
        WAKER_GRPC_CLIENT_CA_FILE: serverCert.key,
      }),
      logger,
    ),
  ).toThrow(/^WAKER_GRPC_CLIENT_CA_FILE: no PEM certificate/);
});
