/**
 * grpc.health.v1 serving status, shared by both gRPC servers. '' is the whole server (what Envoy's
 * grpc_health_check and Kubernetes gRPC probes ask by default).
 */
export type ServingStatus = 'SERVING' | 'NOT_SERVING';

export const HEALTH_SERVICES = ['', 'envoy.service.ext_proc.v3.ExternalProcessor'] as const;

export class HealthState {
  private status: ServingStatus = 'SERVING';
  private readonly listeners = new Set<(status: ServingStatus) => void>();

  /** Status of `service`, or undefined for a service we do not serve. */
  get(service: string): ServingStatus | undefined {
    return (HEALTH_SERVICES as readonly string[]).includes(service) ? this.status : undefined;
  }

  set(status: ServingStatus): void {
    if (status === this.status) return;
    this.status = status;
    for (const listener of this.listeners) listener(status);
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: (status: ServingStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** HealthCheckResponse { ServingStatus status = 1 } with SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3. */
export function encodeHealthResponse(status: ServingStatus | 'SERVICE_UNKNOWN'): Buffer {
  const code = status === 'SERVING' ? 1 : status === 'NOT_SERVING' ? 2 : 3;
  return Buffer.from([0x08, code]);
}

/** HealthCheckRequest { string service = 1 }; unknown fields skipped. Throws on malformed input. */
export function decodeHealthRequest(bytes: Buffer): string {
  let pos = 0;
  let service = '';
  while (pos < bytes.length) {
    const tag = bytes[pos++] as number;
    if (tag >= 0x80) throw new Error('unexpected long tag in HealthCheckRequest');
    const wireType = tag & 7;
    if (wireType === 2) {
      let len = 0;
      let shift = 0;
      for (;;) {
        if (pos >= bytes.length) throw new Error('truncated HealthCheckRequest');
        const b = bytes[pos++] as number;
        len |= (b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7;
        if (shift > 28) throw new Error('length too long');
      }
      if (pos + len > bytes.length) throw new Error('truncated HealthCheckRequest');
      if (tag >>> 3 === 1) service = bytes.toString('utf8', pos, pos + len);
      pos += len;
    } else if (wireType === 0) {
      while (pos < bytes.length && (bytes[pos++] as number) >= 0x80);
    } else {
      throw new Error(`unsupported wire type ${wireType} in HealthCheckRequest`);
    }
  }
  return service;
}
