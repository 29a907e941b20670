import type { HttpAnswer } from '../errors';
import { HeaderValueOption_HeaderAppendAction, type HeaderValueOption } from '../gen/envoy/config/core/v3/base';
import type { StatusCode } from '../gen/envoy/type/v3/http_status';
import { ProcessingResponse } from '../gen/envoy/service/ext_proc/v3/external_processor';

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

/**
 * CONTINUE after a hold: tells the upstream (headers) and Envoy's logs (dynamic metadata) what happened.
 * Encoded by hand: a released burst writes one per waiter, and the generic encoder (fromPartial, a
 * writer per nested message) cost ~50 µs each, i.e. 50 ms of event loop for 1,000 held requests.
 * test/unit/responses.test.ts decodes it with the generated decoder.
 */
export function continueAfterHold(result: HeldResult): Buffer {
  const waitMs = Math.round(result.waitedMs);
  const setHeaders = Buffer.concat([
    headerOption(HEADER_COLD_START, result.coldStart ? 'true' : 'false'),
    headerOption(HEADER_WAIT_MS, String(waitMs)),
  ]);
  const headersResponse = len(1, len(2, setHeaders)); // HeadersResponse.response (CommonResponse).header_mutation
  // `cold_start_ms` only on a real cold start: envoy.yaml turns it into the client's
  // x-faas-waker-cold-start-ms header, which Envoy leaves out when the value is empty.
  const fields = [
    structField('function', stringValue(result.fn)),
    structField('cold_start', boolValue(result.coldStart)),
    structField('wait_ms', numberValue(waitMs)),
    structField('outcome', stringValue(result.coldStart ? 'cold' : 'held')),
  ];
  if (result.coldStart) fields.push(structField('cold_start_ms', numberValue(waitMs)));
  const metadata = structField(METADATA_NAMESPACE, len(5, Buffer.concat(fields))); // Value.struct_value
  return Buffer.concat([len(1, headersResponse), len(8, metadata)]); // request_headers, dynamic_metadata
}

/** HeaderValueOption{header{key, raw_value}, append: BoolValue{} (false: overwrite), append_action: OVERWRITE_IF_EXISTS_OR_ADD}. */
function headerOption(key: string, value: string): Buffer {
  const headerValue = Buffer.concat([len(1, Buffer.from(key, 'latin1')), len(3, Buffer.from(value, 'latin1'))]);
  return len(1, Buffer.concat([len(1, headerValue), EMPTY_BOOL_VALUE, OVERWRITE_IF_EXISTS_OR_ADD]));
}
const EMPTY_BOOL_VALUE = Buffer.from([(2 << 3) | 2, 0]);
const OVERWRITE_IF_EXISTS_OR_ADD = Buffer.from([3 << 3, HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD]);

/** One entry of google.protobuf.Struct's `map<string, Value> fields = 1`. */
function structField(key: string, value: Buffer): Buffer {
  return len(1, Buffer.concat([len(1, Buffer.from(key, 'utf8')), len(2, value)]));
}
function stringValue(text: string): Buffer {
  return len(3, Buffer.from(text, 'utf8'));
}
function boolValue(flag: boolean): Buffer {
  return Buffer.from([4 << 3, flag ? 1 : 0]);
}
function numberValue(n: number): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = (2 << 3) | 1;
  out.writeDoubleLE(n, 1);
  return out;
}

/** A length-delimited field: tag, varint length, payload. */
function len(field: number, payload: Buffer): Buffer {
  const head: number[] = [(field << 3) | 2];
  for (let n = payload.length; ; n >>>= 7) {
    if (n < 0x80) {
      head.push(n);
      break;
    }
    head.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from(head), payload]);
}

/** A local reply from Envoy: the router never runs. */
export function immediate(answer: HttpAnswer, fn?: string): Buffer {
  const headers = [header('content-type', 'text/plain; charset=utf-8')];
  if (answer.retryAfterSec !== undefined) headers.push(header('retry-after', String(answer.retryAfterSec)));
  return encode({
    response: {
      $case: 'immediateResponse',
      value: {
        status: { code: answer.status as StatusCode },
        headers: { setHeaders: headers, removeHeaders: [] as string[] },
        body: Buffer.from(answer.body),
        details: answer.details,
      },
    },
    dynamicMetadata: {
      [METADATA_NAMESPACE]: { outcome: 'rejected', status: answer.status, ...(fn === undefined ? {} : { function: fn }) },
    },
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
