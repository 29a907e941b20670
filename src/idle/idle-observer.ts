import type { WriteResult } from './coordination';

/**
 * How a scale-down attempt ended: `scaled`; `conflict` (the Deployment changed under the intent or the
 * scale write: another replica recorded activity); `aborted` (activity here during the fence);
 * `denied` (RBAC); `error` (anything else, e.g. the API unreachable).
 */
export const SCALE_DOWN_RESULTS = ['scaled', 'conflict', 'aborted', 'denied', 'error'] as const;
export type ScaleDownResult = (typeof SCALE_DOWN_RESULTS)[number];

/** Metrics hooks of idle scale-down; all optional. */
export interface IdleObserver {
  scaleDown?(result: ScaleDownResult, idleMs?: number): void;
  /** A tracked request started (+1) or ended (-1). */
  inFlightChanged?(delta: 1 | -1): void;
  activityWrite?(result: WriteResult['kind']): void;
}
