import { errorMessage } from '../errors';
import type { Logger } from '../logging';
import type { FunctionRef } from '../routing/function-ref';
import { deploymentPath, type DeploymentView } from '../provider/kubernetes/function-state';
import type { KubeClient } from '../provider/kubernetes/kube-client';

/**
 * The shared state of idle scale-down: annotations on the function's Deployment, nothing else.
 *
 * - ACTIVITY (+ ACTIVITY_BY): "someone served this function at about this time". Renewed by every
 *   replica that serves it, at most once per write interval. Every activity write also deletes INTENT.
 * - INTENT: "replica X will scale this to zero" (`X@time`), written with a resourceVersion precondition
 *   (X decided on the latest activity); the scale write then requires INTENT unchanged.
 * - SCALED_DOWN: who scaled it to zero and when (for people reading `kubectl describe`).
 */
export const ACTIVITY_ANNOTATION = 'faas-waker/last-activity';
export const ACTIVITY_BY_ANNOTATION = 'faas-waker/last-activity-by';
export const INTENT_ANNOTATION = 'faas-waker/scale-down';
export const SCALED_DOWN_ANNOTATION = 'faas-waker/scaled-down';

/** What one write to the Deployment came to. */
export type WriteResult =
  | { readonly kind: 'ok'; readonly replicas: number; readonly resourceVersion: string | undefined; readonly object: DeploymentView }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'denied' }
  | { readonly kind: 'gone' }
  | { readonly kind: 'error'; readonly message: string };

/** The three writes of the protocol; each is one PATCH of the Deployment. */
export interface DeploymentWriter {
  /** Records activity by `replica` at `at` and clears any scale-down intent. No precondition: it must always land. */
  activity(fn: FunctionRef, replica: string, at: Date): Promise<WriteResult>;
  /** Announces a scale-down by `replica`; only if the Deployment is still at `resourceVersion`. */
  intent(fn: FunctionRef, replica: string, at: Date, resourceVersion: string): Promise<WriteResult>;
  /**
   * spec.replicas 0 and the intent cleared, in one write, only if INTENT is still `intent` (every activity
   * write deletes it) and spec.replicas still `replicas`: a JSON patch whose `test` operations the API
   * server evaluates atomically with the change. Not a resourceVersion precondition: the Deployment
   * controller's status writes change that too, and would abort every scale-down.
   */
  scaleToZero(fn: FunctionRef, replica: string, at: Date, intent: string, replicas: number): Promise<WriteResult>;
}

export const intentValue = (replica: string, at: Date): string => `${replica}@${at.toISOString()}`;

/** The replica that wrote an intent value (everything before the last `@`), or undefined. */
export function intentOwner(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const at = value.lastIndexOf('@');
  return at > 0 ? value.slice(0, at) : undefined;
}

const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';

/** An annotation key as a JSON pointer segment (RFC 6901: `~` and `/` escaped). */
const pointer = (key: string): string => `/metadata/annotations/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * The writer over the Kubernetes API (merge patches of apps/v1 Deployments: RBAC `patch` on
 * `deployments`). Never throws: every outcome is a WriteResult, and a network failure is `error`.
 */
export function kubeDeploymentWriter(client: Pick<KubeClient, 'request'>, logger: Logger): DeploymentWriter {
  async function patch(fn: FunctionRef, body: unknown, contentType = MERGE_PATCH): Promise<WriteResult> {
    const path = deploymentPath(fn);
    try {
      const res = await client.request('PATCH', path, { body, contentType });
      if (res.status === 200) {
        const object = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as DeploymentView;
        return { kind: 'ok', replicas: object.spec?.replicas ?? 1, resourceVersion: object.metadata?.resourceVersion, object };
      }
      // 409: a resourceVersion precondition failed; 422: a JSON patch `test` failed.
      if (res.status === 409 || res.status === 422) return { kind: 'conflict' };
      if (res.status === 403) return { kind: 'denied' };
      if (res.status === 404) return { kind: 'gone' };
      return { kind: 'error', message: `HTTP ${res.status}` };
    } catch (err) {
      logger.debug({ event: 'idle.write_failed', fn: fn.key, err: String(err) }, 'Deployment write failed');
      return { kind: 'error', message: errorMessage(err) };
    }
  }
  return {
    activity: (fn, replica, at) =>
      patch(fn, {
        metadata: {
          annotations: { [ACTIVITY_ANNOTATION]: at.toISOString(), [ACTIVITY_BY_ANNOTATION]: replica, [INTENT_ANNOTATION]: null },
        },
      }),
    intent: (fn, replica, at, resourceVersion) =>
      patch(fn, { metadata: { resourceVersion, annotations: { [INTENT_ANNOTATION]: intentValue(replica, at) } } }),
    scaleToZero: (fn, replica, at, intent, replicas) =>
      patch(
        fn,
        [
          { op: 'test', path: pointer(INTENT_ANNOTATION), value: intent },
          { op: 'test', path: '/spec/replicas', value: replicas },
          { op: 'remove', path: pointer(INTENT_ANNOTATION) },
          { op: 'add', path: pointer(SCALED_DOWN_ANNOTATION), value: intentValue(replica, at) },
          { op: 'replace', path: '/spec/replicas', value: 0 },
        ],
        JSON_PATCH,
      ),
  };
}
