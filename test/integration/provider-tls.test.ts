import { unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { loadConfig, type Config } from '../../src/config/load';
import { ProviderUnavailableError } from '../../src/errors';
import type { Logger } from '../../src/logging';
import { fixedCredentials } from '../../src/provider/credentials';
import { createProviderClient, type ProviderClient } from '../../src/provider/provider-client';
import { providerDispatcher } from '../../src/provider/provider-tls';
import { functionRef } from '../../src/routing/function-ref';
import { certDir, type CertDir, type CertPair } from '../support/certs';
import { capture, configWith, replaceFile } from '../support/tls-files';

/** The OpenFaaS provider client over https with WAKER_PROVIDER_CA_FILE and a client certificate. */

interface LogLine {
  event?: string;
  level: string;
  err?: string;
}

let certs: CertDir;
let ca: CertPair;
let otherCa: CertPair;
let provider: Server;
let url: string;
/** Client certificates the provider saw (CN), per request; '-' for none. */
const seen: string[] = [];

const FN = functionRef('hello', 'openfaas-fn');

beforeAll(async () => {
  certs = certDir();
  ca = certs.ca('ca');
  otherCa = certs.ca('other-ca');
  const server = certs.leaf('provider', ca, { usage: 'server' });
  // Asks for a client certificate signed by either CA but does not insist: each test decides what it needs.
  provider = createServer(
    {
      cert: certs.read(server.cert),
      key: certs.read(server.key),
      ca: [certs.read(ca.cert), certs.read(otherCa.cert)],
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.authorized ? socket.getPeerCertificate().subject.CN : '-';
      seen.push(String(peer));
      // `connection: close`: every call opens a new connection, which is when the files are checked.
      if (requireClientCert && !socket.authorized) return void res.writeHead(403, { connection: 'close' }).end();
      res
        .writeHead(200, { 'content-type': 'application/json', connection: 'close' })
        .end(JSON.stringify({ name: 'hello', replicas: 1, availableReplicas: 1 }));
    },
  );
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(provider.address() as AddressInfo).port}`;
});

let requireClientCert = false;
afterEach(() => {
  requireClientCert = false;
});

afterAll(async () => {
  await new Promise((resolve) => provider.close(resolve));
  certs.remove();
});

function clientFor(config: Config, logger: Logger): ProviderClient {
  const dispatcher = providerDispatcher(config, logger);
  if (dispatcher === undefined) throw new Error('no dispatcher');
  return createProviderClient({
    baseUrl: url,
    timeoutMs: config.providerTimeoutMs,
    connections: config.providerConnections,
    auth: fixedCredentials(undefined),
    dispatcher,
  });
}

/** `ok <replicas>` or the error's class and message. */
async function status(client: ProviderClient): Promise<string> {
  try {
    return `ok ${(await client.getStatus(FN)).replicas}`;
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

test('no TLS settings: no dispatcher of our own (createProviderClient builds its default pool)', () => {
  expect(providerDispatcher(configWith({}), capture<LogLine>().logger)).toBeUndefined();
});

test('a provider certificate from a custom CA is trusted with WAKER_PROVIDER_CA_FILE', async () => {
  const client = clientFor(configWith({ WAKER_PROVIDER_CA_FILE: ca.cert }), capture<LogLine>().logger);
  expect(await status(client)).toBe('ok 1');
  await client.close();
});

test('the wrong CA fails the call with ProviderUnavailableError naming the TLS failure', async () => {
  const client = clientFor(configWith({ WAKER_PROVIDER_CA_FILE: otherCa.cert }), capture<LogLine>().logger);
  const outcome = await status(client);
  expect(outcome).toMatch(/^ProviderUnavailableError: provider status call for hello\.openfaas-fn failed: /);
  const err: unknown = await client.getStatus(FN).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProviderUnavailableError);
  // The TLS verdict, which is also the message's last word outside jest (there, node's errors fail
  // provider-client's `instanceof Error`: another realm).
  expect((err as { cause?: { code?: string } }).cause?.code).toMatch(/^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)$/);
  await client.close();
});

test('a client certificate is presented to a provider that asks for one', async () => {
  requireClientCert = true;
  const waker = certs.leaf('faas-waker', ca, { usage: 'client' });
  const without = clientFor(configWith({ WAKER_PROVIDER_CA_FILE: ca.cert }), capture<LogLine>().logger);
  expect(await status(without)).toMatch(/answered 403$/);
  await without.close();
  seen.length = 0;
  const withCert = clientFor(
    configWith({ WAKER_PROVIDER_CA_FILE: ca.cert, WAKER_PROVIDER_CERT_FILE: waker.cert, WAKER_PROVIDER_KEY_FILE: waker.key }),
    capture<LogLine>().logger,
  );
  expect(await status(withCert)).toBe('ok 1');
  expect(seen).toEqual(['faas-waker']);
  await withCert.close();
});

test('rotated CA and client certificate files are used by new connections, without a restart', async () => {
  requireClientCert = true;
  const live = { ca: join(certs.dir, 'live-ca.crt'), cert: join(certs.dir, 'live-client.crt'), key: join(certs.dir, 'live-client.key') };
  const first = certs.leaf('waker-one', ca, { usage: 'client' });
  const second = certs.leaf('waker-two', otherCa, { usage: 'client' });
  replaceFile(otherCa.cert, live.ca); // wrong at first: the provider's certificate is from `ca`
  replaceFile(first.cert, live.cert);
  replaceFile(first.key, live.key);
  const { logger, lines } = capture<LogLine>();
  const client = clientFor(
    configWith({ WAKER_PROVIDER_CA_FILE: live.ca, WAKER_PROVIDER_CERT_FILE: live.cert, WAKER_PROVIDER_KEY_FILE: live.key }),
    logger,
  );
  expect(await status(client)).toMatch(/^ProviderUnavailableError: /);

  replaceFile(ca.cert, live.ca);
  seen.length = 0;
  expect(await status(client)).toBe('ok 1');
  expect(seen).toEqual(['waker-one']);

  // A new client certificate: key and certificate swapped (a moment of mismatch in between keeps the old pair).
  replaceFile(second.key, live.key);
  expect(await status(client)).toBe('ok 1');
  replaceFile(second.cert, live.cert);
  seen.length = 0;
  expect(await status(client)).toBe('ok 1');
  expect(seen).toEqual(['waker-two']);
  expect(lines.filter((l) => l.event === 'tls.files_reloaded')).toHaveLength(2);
  expect(lines.filter((l) => l.event === 'tls.files_unusable')).toHaveLength(1); // the mismatch, once

  // A broken file keeps the last good material.
  writeFileSync(live.ca, 'not a certificate');
  seen.length = 0;
  expect(await status(client)).toBe('ok 1');
  expect(seen).toEqual(['waker-two']);

  // Good again (the streak of failures ends), then gone (a Secret unmounted): the last good material
  // stays, and the report names the setting.
  replaceFile(ca.cert, live.ca);
  expect(await status(client)).toBe('ok 1');
  unlinkSync(live.ca);
  const reported = lines.filter((l) => l.event === 'tls.files_unusable').length;
  seen.length = 0;
  expect(await status(client)).toBe('ok 1');
  expect(seen).toEqual(['waker-two']);
  const gone = lines.filter((l) => l.event === 'tls.files_unusable').slice(reported);
  expect(gone.map((l) => l.err)).toEqual([expect.stringMatching(/^WAKER_PROVIDER_CA_FILE: cannot read .*live-ca\.crt: ENOENT/)]);
  await client.close();
});

test('an unreadable file fails at start, naming the setting; an http:// provider URL is warned about', () => {
  const { logger } = capture<LogLine>();
  expect(() => providerDispatcher(configWith({ WAKER_PROVIDER_CA_FILE: join(certs.dir, 'nope.crt') }), logger)).toThrow(
    /^WAKER_PROVIDER_CA_FILE: cannot read .*nope\.crt: ENOENT/,
  );
  const { logger: warnLogger, lines } = capture<LogLine>();
  const parsed = loadConfig({ env: { WAKER_PROVIDER_URL: 'http://127.0.0.1:1', WAKER_PROVIDER_CA_FILE: ca.cert }, argv: [] });
  if (parsed.kind !== 'run') throw new Error('config');
  void providerDispatcher(parsed.config, warnLogger)?.close();
  expect(lines.find((l) => l.event === 'provider.tls_unused')?.level).toBe('warn');
});
