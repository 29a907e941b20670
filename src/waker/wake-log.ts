import { errorMessage, FunctionNotFoundError, ProviderError, ShuttingDownError, WakeError, WakeTimeoutError } from '../errors';
import type { Logger } from '../logging';

/** One `wake.timeout` / `wake.failed` line, at the level the failure deserves. */
export function logWakeFailure(log: Logger, err: unknown, waitedMs: number): void {
  const fields = {
    waitedMs: Math.round(waitedMs),
    code: err instanceof WakeError ? err.code : 'INTERNAL',
    ...(err instanceof ProviderError && err.status !== undefined ? { providerStatus: err.status } : {}),
    err: errorMessage(err),
  };
  if (err instanceof WakeTimeoutError) log.warn({ event: 'wake.timeout', ...fields }, 'function did not become ready');
  else if (err instanceof FunctionNotFoundError) log.info({ event: 'wake.failed', ...fields }, 'function unknown to the provider');
  else if (err instanceof ShuttingDownError) log.info({ event: 'wake.failed', ...fields }, 'wake stopped by shutdown');
  else log.error({ event: 'wake.failed', ...fields }, 'wake failed');
}
