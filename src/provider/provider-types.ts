/** Wire types of the provider API and the parsers that check them instead of casting. */

export interface FunctionStatus {
  readonly name: string;
  readonly namespace: string | undefined;
  /** Desired replicas; a missing key means 0 (Go `omitempty`). */
  readonly replicas: number;
  /** Replicas that report ready; a missing key means 0. */
  readonly availableReplicas: number;
  /** `com.openfaas.scale.min`, at least 1: how many replicas a wake asks for. */
  readonly minScale: number;
  /** The function's labels and annotations (string values only): its per-function policy. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export const MIN_SCALE_LABEL = 'com.openfaas.scale.min';

/** Returns the status, or a string saying what is wrong with the payload. */
export function parseFunctionStatus(json: unknown): FunctionStatus | string {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'status is not a JSON object';
  const body = json as Record<string, unknown>;
  if (typeof body.name !== 'string') return 'status has no string "name"';
  const replicas = replicaCount(body.replicas);
  const availableReplicas = replicaCount(body.availableReplicas);
  if (replicas === null) return '"replicas" is not a non-negative integer';
  if (availableReplicas === null) return '"availableReplicas" is not a non-negative integer';
  if (body.namespace !== undefined && typeof body.namespace !== 'string') return '"namespace" is not a string';
  if (body.labels !== undefined && body.labels !== null && (typeof body.labels !== 'object' || Array.isArray(body.labels))) {
    return '"labels" is not an object';
  }
  if (
    body.annotations !== undefined &&
    body.annotations !== null &&
    (typeof body.annotations !== 'object' || Array.isArray(body.annotations))
  ) {
    return '"annotations" is not an object';
  }
  const labels = (body.labels ?? {}) as Record<string, unknown>;
  return {
    name: body.name,
    namespace: body.namespace,
    replicas,
    availableReplicas,
    minScale: minScale(labels[MIN_SCALE_LABEL]),
    labels: stringEntries(labels),
    annotations: stringEntries((body.annotations ?? {}) as Record<string, unknown>),
  };
}

/** Only string values: a provider's odd value never becomes policy by coercion. */
export function stringEntries(map: Readonly<Record<string, unknown>> | undefined): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  if (map === undefined) return out;
  for (const [key, value] of Object.entries(map)) if (typeof value === 'string') out[key] = value;
  return out;
}

function replicaCount(value: unknown): number | null {
  if (value === undefined || value === null) return 0;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null;
}

/** A malformed label must not block a wake: it falls back to 1, like the OpenFaaS gateway. */
export function minScale(label: unknown): number {
  const value = typeof label === 'string' ? Number(label.trim()) : NaN;
  return Number.isInteger(value) && value >= 1 ? value : 1;
}

export interface ScaleRequest {
  readonly serviceName: string;
  readonly namespace: string;
  readonly replicas: number;
}
