import { Agent, buildConnector, type Dispatcher } from 'undici';
import type { Config } from '../config/load';
import type { Logger } from '../logging';
import { realFileIo, type FileIo } from '../reread-files';
import { pemFiles, type PemFiles, type PemMaterial } from '../tls-material';

/**
 * The provider pool's options, shared by createProviderClient's own Pool and the TLS Agent below (a
 * dispatcher passed in replaces that Pool whole, so both must be built from here).
 */
export function providerPoolOptions(config: Pick<Config, 'providerConnections' | 'providerTimeoutMs'>): Agent.Options {
  return {
    connections: config.providerConnections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: config.providerTimeoutMs,
    bodyTimeout: config.providerTimeoutMs,
  };
}

/** The connect timeout of that pool: short, a provider that does not accept within 2 s is down. */
export function providerConnectTimeoutMs(config: Pick<Config, 'providerTimeoutMs'>): number {
  return Math.min(config.providerTimeoutMs, 2_000);
}

/**
 * The undici dispatcher for an https:// provider with WAKER_PROVIDER_CA_FILE or a client
 * certificate; `undefined` when the defaults (system roots, no client certificate) apply.
 *
 * The files are checked (one stat each) whenever the pool opens a connection, and re-read when they
 * changed: a rotated CA or client certificate applies to every new connection without a restart.
 * Open keep-alive connections keep the material they were made with (they were verified then, and
 * close within keepAliveTimeout of going idle). Unusable new files keep the last good material
 * (tls-material.ts). Throws at start when a file cannot be read or does not parse.
 */
export function providerDispatcher(config: Config, logger: Logger, io: FileIo = realFileIo): Dispatcher | undefined {
  if (config.providerCaFile === undefined && config.providerCertFile === undefined) return undefined;
  if (config.providerUrl !== undefined && new URL(config.providerUrl).protocol !== 'https:')
    logger.warn(
      { event: 'provider.tls_unused', providerUrl: new URL(config.providerUrl).origin },
      'WAKER_PROVIDER_CA_FILE / WAKER_PROVIDER_CERT_FILE are set but the provider URL is not https://: they have no effect',
    );
  const files: PemFiles = {
    ...(config.providerCaFile === undefined ? {} : { ca: { path: config.providerCaFile, setting: 'WAKER_PROVIDER_CA_FILE' } }),
    ...(config.providerCertFile === undefined ? {} : { cert: { path: config.providerCertFile, setting: 'WAKER_PROVIDER_CERT_FILE' } }),
    ...(config.providerKeyFile === undefined ? {} : { key: { path: config.providerKeyFile, setting: 'WAKER_PROVIDER_KEY_FILE' } }),
  };
  const source = pemFiles(files, 'provider TLS', logger, io);
  const timeout = providerConnectTimeoutMs(config);
  let built: { material: PemMaterial; connector: buildConnector.connector } | undefined;
  // A new connector per material: its TLS session cache must not resume sessions made with the old one.
  const connector = (): buildConnector.connector => {
    const material = source();
    if (built?.material !== material) built = { material, connector: buildConnector({ timeout, ...material }) };
    return built.connector;
  };
  return new Agent({
    ...providerPoolOptions(config),
    connect: (options, callback) => connector()(options, callback),
  });
}
