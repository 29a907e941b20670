import type { Dispatcher } from 'undici';
import type { Config } from '../config/load';
import type { Logger } from '../logging';

/**
 * The undici dispatcher for an https:// provider with WAKER_PROVIDER_CA_FILE or a client
 * certificate; `undefined` when the defaults (system roots, no client certificate) apply.
 */
export function providerDispatcher(config: Config, logger: Logger): Dispatcher | undefined {
  void logger;
  if (config.providerCaFile === undefined && config.providerCertFile === undefined) return undefined;
  throw new Error('WAKER_PROVIDER_CA_FILE / WAKER_PROVIDER_CERT_FILE: not implemented yet');
}
