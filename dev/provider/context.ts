/** Mutable state of one local provider instance, shared by its route handlers (never module-level). */
import type { ServerResponse } from 'node:http';
import type { FunctionRegistry, FunctionStats, LogEvent } from './function-registry';
import type { BasicCredentials } from './http-util';

export const FAULT_MODES = ['none', 'status500', 'garbage', 'hang'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

export interface Totals {
  statusCalls: number;
  scaleCalls: number;
  unknownStatusCalls: number;
  /** `GET /system/functions` calls (faas-waker lists a namespace while several of its functions wake). */
  listCalls: number;
}

export interface ProviderStats {
  functions: Record<string, FunctionStats>;
  totals: Totals;
  lastAuthorization: string | null;
  lastScaleBody: Record<string, unknown> | null;
  /** `namespace` is the raw query parameter, null when the caller sent none. */
  lastStatusQuery: { name: string; namespace: string | null } | null;
  fault: FaultMode;
}

export interface ProviderContext {
  readonly registry: FunctionRegistry;
  readonly defaultNamespace: string;
  readonly auth: BasicCredentials | null;
  readonly scaleStatus: 200 | 202;
  readonly log: LogEvent;
  /** Requests held open by the "hang" fault, released (destroyed) on reset, fault change or close. */
  readonly hung: Set<ServerResponse>;
  fault: FaultMode;
  totals: Totals;
  lastAuthorization: string | null;
  lastScaleBody: Record<string, unknown> | null;
  lastStatusQuery: { name: string; namespace: string | null } | null;
}

export function isFaultMode(value: unknown): value is FaultMode {
  return typeof value === 'string' && (FAULT_MODES as readonly string[]).includes(value);
}

export function releaseHung(ctx: ProviderContext): void {
  for (const res of ctx.hung) res.destroy();
  ctx.hung.clear();
}

export function setFault(ctx: ProviderContext, mode: FaultMode): void {
  releaseHung(ctx);
  ctx.fault = mode;
  ctx.log('fault', { mode });
}

/** Clears counters and "last seen" records; leaves functions and their replicas alone. */
export function resetObservations(ctx: ProviderContext): void {
  ctx.totals = { statusCalls: 0, scaleCalls: 0, unknownStatusCalls: 0, listCalls: 0 };
  ctx.lastAuthorization = null;
  ctx.lastScaleBody = null;
  ctx.lastStatusQuery = null;
  ctx.registry.resetCounters();
}

export function buildStats(ctx: ProviderContext): ProviderStats {
  return {
    functions: ctx.registry.stats(),
    totals: { ...ctx.totals },
    lastAuthorization: ctx.lastAuthorization,
    lastScaleBody: ctx.lastScaleBody,
    lastStatusQuery: ctx.lastStatusQuery,
    fault: ctx.fault,
  };
}
