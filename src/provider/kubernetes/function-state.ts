import type { FunctionRef } from '../../routing/function-ref';
import { MIN_SCALE_LABEL, minScale, stringEntries, type FunctionStatus } from '../provider-types';

/**
 * What a function is, and whether it can take traffic, read from Kubernetes objects. Pure: the
 * provider feeds it what its informers (or, without a healthy watch, its API reads) hold.
 */

/** faas-netes labels every function Deployment with its name. */
export const FUNCTION_LABEL = 'faas_function';
/** Any other Deployment opts in with this annotation set to "true". */
export const ENABLED_ANNOTATION = 'faas-waker/enabled';
/** EndpointSlices name their Service in this label. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The apps/v1 Deployment behind `fn` (append `/scale` for its scale subresource). */
export function deploymentPath(fn: FunctionRef): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(fn.namespace)}/deployments/${encodeURIComponent(fn.name)}`;
}

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly resourceVersion?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The fields of apps/v1 Deployment we read. */
export interface DeploymentView {
  readonly metadata?: ObjectMeta;
  readonly spec?: { readonly replicas?: number };
  readonly status?: { readonly availableReplicas?: number };
}

/** The fields of discovery.k8s.io/v1 EndpointSlice we read. */
export interface EndpointSliceView {
  readonly metadata?: ObjectMeta;
  readonly endpoints?: readonly { readonly conditions?: { readonly ready?: boolean | null } }[] | null;
}

/** A Deployment is a function only if it says so: anything else is 404 and never written to. */
export function isFunction(deployment: DeploymentView, name: string): boolean {
  const meta = deployment.metadata;
  return meta?.name === name && (meta.labels?.[FUNCTION_LABEL] === name || meta.annotations?.[ENABLED_ANNOTATION] === 'true');
}

/**
 * The function's status in the provider API's terms. Ready replicas come from the function's
 * Service when it has one (its EndpointSlices: what Envoy or the gateway will route to), otherwise
 * from the Deployment's `availableReplicas`; none while spec.replicas is 0. `spec.replicas` left out means 1 (the API default).
 */
export function functionStatus(deployment: DeploymentView, slices: readonly EndpointSliceView[]): FunctionStatus {
  const meta = deployment.metadata ?? {};
  const replicas = deployment.spec?.replicas ?? 1;
  return {
    name: meta.name ?? '',
    namespace: meta.namespace,
    replicas,
    // Scaled to zero means going away: endpoints still marked ready belong to pods being deleted, and a
    // request let through now would race their termination. Held and woken instead.
    availableReplicas: replicas === 0 ? 0 : slices.length > 0 ? readyEndpoints(slices) : (deployment.status?.availableReplicas ?? 0),
    minScale: minScale(meta.labels?.[MIN_SCALE_LABEL] ?? meta.annotations?.[MIN_SCALE_LABEL]),
    labels: stringEntries(meta.labels),
    annotations: stringEntries(meta.annotations),
  };
}

/** Endpoints whose `ready` condition is not false: the API says an unset condition means ready. */
export function readyEndpoints(slices: readonly EndpointSliceView[]): number {
  let ready = 0;
  for (const slice of slices) for (const endpoint of slice.endpoints ?? []) if (endpoint.conditions?.ready !== false) ready++;
  return ready;
}

/** The Service an EndpointSlice belongs to, or undefined for a slice without the label. */
export function serviceOf(slice: EndpointSliceView): string | undefined {
  return slice.metadata?.labels?.[SERVICE_NAME_LABEL];
}
