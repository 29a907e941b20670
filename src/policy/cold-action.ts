import type { FunctionPolicy } from './policy';
import { isNoWakePath } from './policy-parse';

/** What to do with a request for a function that is not known to be ready. */
export type ColdAction = 'hold' | 'no-wake' | 'waiting-page';

export interface ColdRequest {
  /** The path after `/function/NAME`, query excluded (`functionPathOf`). */
  readonly functionPath: string;
  /** A top-level browser navigation (`isBrowserNavigation`). */
  readonly browser: boolean;
}

/**
 * Pure. A no-wake path never wakes (checked first: a health check must never scale, whatever it
 * accepts); a browser navigation gets the waiting page when the function's policy, or else the
 * global setting, has it on; everything else is held.
 */
export function coldAction(policy: FunctionPolicy, request: ColdRequest, waitingPageByDefault: boolean): ColdAction {
  if (policy.noWakePaths.length > 0 && isNoWakePath(request.functionPath, policy.noWakePaths)) return 'no-wake';
  if (request.browser && (policy.waitingPage ?? waitingPageByDefault)) return 'waiting-page';
  return 'hold';
}
