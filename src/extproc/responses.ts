import type { HttpAnswer } from '../errors';
import { HeaderValueOption_HeaderAppendAction, type HeaderValueOption } from '../gen/envoy/config/core/v3/base';
import type { StatusCode } from '../gen/envoy/type/v3/http_status';
import { ProcessingResponse, CommonResponse_ResponseStatus } from '../gen/envoy/service/ext_proc/v3/external_processor';

/**
 * Pure builders for every answer except the 2-byte warm CONTINUE (see wire.ts). Header values go
 * only in `raw_value`: Envoy rejects a HeaderValue with both fields set and reads raw_value.
 */

/** The metadata namespace Envoy must list in `metadata_options.receiving_namespaces.untyped`. */
export const METADATA_NAMESPACE = 'faas_waker';

export const HEADER_COLD_START = 'x-faas-waker-cold-start';
export const HEADER_WAIT_MS = 'x-faas-waker-wait-ms';

/** A ProcessingResponse with only `override_message_timeout`: Envoy ignores any other field in it. */
export function overrideTimeout(ms: number): Buffer {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return encode({ overrideMessageTimeout: { seconds, nanos } });
}

export interface HeldResult {
  readonly fn: string;
  readonly coldStart: boolean;
  readonly waitedMs: number;
}

/** CONTINUE after a hold: tells the upstream (headers) and Envoy's logs (dynamic metadata) what happened. */
export function continueAfterHold(result: HeldResult): Buffer {
  const waitMs = Math.round(result.waitedMs);
  return encode({
    response: {
      $case: 'requestHeaders',
      value: {
        response: {
          status: CommonResponse_ResponseStatus.CONTINUE,
          headerMutation: { setHeaders: [header(HEADER_COLD_START, String(result.coldStart)), header(HEADER_WAIT_MS, String(waitMs))], removeHeaders: [] as string[] },
          clearRouteCache: false,
        },
      },
    },
    // `cold_start_ms` only on a real cold start: envoy.yaml turns it into the client's
    // x-faas-waker-cold-start-ms header, which Envoy leaves out when the value is empty.
    dynamicMetadata: {
      [METADATA_NAMESPACE]: {
        function: result.fn,
        cold_start: result.coldStart,
        wait_ms: waitMs,
        outcome: result.coldStart ? 'cold' : 'held',
        ...(result.coldStart ? { cold_start_ms: waitMs } : {}),
      },
    },
  });
}

/** A local reply from Envoy: the router never runs. */
export function immediate(answer: HttpAnswer, fn?: string): Buffer {
  const headers = [header('content-type', 'text/plain; charset=utf-8')];
  if (answer.retryAfterSec !== undefined) headers.push(header('retry-after', String(answer.retryAfterSec)));
  return encode({
    response: {
      $case: 'immediateResponse',
      value: { status: { code: answer.status as StatusCode }, headers: { setHeaders: headers, removeHeaders: [] as string[] }, body: Buffer.from(answer.body), details: answer.details },
    },
    dynamicMetadata: { [METADATA_NAMESPACE]: { outcome: 'rejected', status: answer.status, ...(fn === undefined ? {} : { function: fn }) } },
  });
}

function header(key: string, value: string): HeaderValueOption {
  return {
    header: { key, value: '', rawValue: Buffer.from(value, 'latin1') },
    append: false,
    appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    keepEmptyValue: false,
  };
}

function encode(partial: Partial<ProcessingResponse>): Buffer {
  return Buffer.from(ProcessingResponse.encode(ProcessingResponse.fromPartial(partial)).finish());
}
