/**
 * A function's own settings, read from its labels and annotations (the provider API's `labels`
 * and `annotations`, or the Deployment's). Every field left undefined means "use the global
 * setting". Built by `policyFrom` (policy-parse.ts) and cached with the function's readiness entry.
 */
export interface FunctionPolicy {
  /** `faas-waker/hold-timeout`: this function's hold budget, ms (already bounded by the Envoy ceiling). */
  readonly holdTimeoutMs: number | undefined;
  /** `com.openfaas.ready.http.path` or `faas-waker/ready-path`: probed before release. */
  readonly readyPath: string | undefined;
  /** `faas-waker/waiting-page`: `on` | `off`. */
  readonly waitingPage: boolean | undefined;
  /** `faas-waker/no-wake-paths`: path prefixes (after /function/NAME) that never wake the function. */
  readonly noWakePaths: readonly string[];
}

export const NO_POLICY: FunctionPolicy = Object.freeze({
  holdTimeoutMs: undefined,
  readyPath: undefined,
  waitingPage: undefined,
  noWakePaths: Object.freeze([]),
});

export const POLICY_KEYS = {
  holdTimeout: 'faas-waker/hold-timeout',
  readyPathOpenFaaS: 'com.openfaas.ready.http.path',
  readyPath: 'faas-waker/ready-path',
  waitingPage: 'faas-waker/waiting-page',
  noWakePaths: 'faas-waker/no-wake-paths',
} as const;
