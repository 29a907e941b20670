import type { Clock } from '../clock';
import { ClientGoneError, HoldTimeoutError, ShuttingDownError, toError } from '../errors';

/** `work`, unless the budget runs out (HoldTimeoutError), the client leaves or the waker stops first. */
export function raceBudget<T>(
  work: Promise<T>,
  signal: AbortSignal,
  clock: Clock,
  budgetMs: number,
  stopping: AbortSignal,
  key: string,
): Promise<T> {
  if (signal.aborted) return Promise.reject(new ClientGoneError(`client went away before ${key} was checked`));
  return new Promise<T>((resolve, reject) => {
    const timer = new AbortController();
    const done = (): void => {
      timer.abort();
      signal.removeEventListener('abort', onGone);
      stopping.removeEventListener('abort', onStop);
    };
    const onGone = (): void => (done(), reject(new ClientGoneError(`client went away while ${key} was checked`)));
    const onStop = (): void => (done(), reject(new ShuttingDownError('shutting down')));
    signal.addEventListener('abort', onGone, { once: true });
    stopping.addEventListener('abort', onStop, { once: true });
    clock.sleep(budgetMs, timer.signal).then(
      () => (done(), reject(new HoldTimeoutError(`${key} status not known after ${budgetMs} ms`))),
      () => undefined,
    );
    work.then(
      (value) => (done(), resolve(value)),
      (err: unknown) => (done(), reject(toError(err))),
    );
  });
}
