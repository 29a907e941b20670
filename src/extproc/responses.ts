import type { HttpAnswer } from '../errors';
import { HeaderValueOption_HeaderAppendAction, type HeaderValueOption } from '../gen/envoy/config/core/v3/base';
import type { StatusCode } from '../gen/envoy/type/v3/http_status';
import { ProcessingResponse } from '../gen/envoy/service/ext_proc/v3/external_processor';
import { TRACKING_MODE_OVERRIDE } from './wire';

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
 * test/unit/responses.test.ts decodes it with the generated decoder. `tracked`: the request is followed
 * by the idle tracker, so the answer also carries the tracking mode_override (see ActivitySink).
 * A burst shares one answer but for the wait: `heldAnswer` keeps the rest encoded (HeldAnswer.encode).
 */
export function continueAfterHold(result: HeldResult, tracked = false): Buffer {
  return heldAnswer(result.fn, result.coldStart, tracked).encode(result.waitedMs);
}

/**
 * Every byte of a CONTINUE after a hold that does not depend on the wait, for one function and kind
 * of answer. `encode(waitedMs)` writes the whole ProcessingResponse into one buffer: the wait's
 * digits (header value) and the two doubles (metadata) are all that changes between waiters.
 */
export interface HeldAnswer {
  encode(waitedMs: number): Buffer;
}

export function heldAnswer(fn: string, coldStart: boolean, tracked: boolean): HeldAnswer {
  const coldHeader = headerOption(HEADER_COLD_START, coldStart ? 'true' : 'false');
  const waitKey = len(1, Buffer.from(HEADER_WAIT_MS, 'latin1')); // HeaderValue.key
  // `cold_start_ms` only on a real cold start: envoy.yaml turns it into the client's
  // x-faas-waker-cold-start-ms header, which Envoy leaves out when the value is empty.
  const fields = [
    structField('function', stringValue(fn)),
    structField('cold_start', boolValue(coldStart)),
    structField('wait_ms', numberValue(0)),
    structField('outcome', stringValue(coldStart ? 'cold' : 'held')),
  ];
  if (coldStart) fields.push(structField('cold_start_ms', numberValue(0)));
  const body = Buffer.concat(fields);
  const struct = len(5, body); // Value.struct_value
  const metadata = len(8, structField(METADATA_NAMESPACE, struct)); // ProcessingResponse.dynamic_metadata
  // Each number field ends with its 8-byte double: where those lie in `metadata`.
  const bodyStart = metadata.length - body.length;
  const ends: number[] = [];
  for (let i = 0, at = bodyStart; i < fields.length; i++) {
    at += (fields[i] as Buffer).length;
    if (i === 2 || i === 4) ends.push(at - 8);
  }
  const tail = tracked ? TRACKING_MODE_OVERRIDE : EMPTY;
  return {
    encode(waitedMs) {
      const waitMs = Math.round(waitedMs);
      const digits = String(waitMs);
      // Sizes from the innermost message out: HeaderValue, HeaderValueOption, HeaderMutation,
      // CommonResponse, HeadersResponse.
      const value = waitKey.length + 1 + varintSize(digits.length) + digits.length;
      const option = 1 + varintSize(value) + value + EMPTY_BOOL_VALUE.length + OVERWRITE_IF_EXISTS_OR_ADD.length;
      const mutation = coldHeader.length + 1 + varintSize(option) + option;
      const common = 1 + varintSize(mutation) + mutation;
      const headers = 1 + varintSize(common) + common;
      const out = Buffer.allocUnsafe(1 + varintSize(headers) + headers + metadata.length + tail.length);
      let at = writeTag(out, 0, 1, headers); // ProcessingResponse.request_headers
      at = writeTag(out, at, 1, common); // HeadersResponse.response
      at = writeTag(out, at, 2, mutation); // CommonResponse.header_mutation
      at += coldHeader.copy(out, at);
      at = writeTag(out, at, 1, option); // HeaderMutation.set_headers
      at = writeTag(out, at, 1, value); // HeaderValueOption.header
      at += waitKey.copy(out, at);
      at = writeTag(out, at, 3, digits.length); // HeaderValue.raw_value
      at += out.write(digits, at, 'latin1');
      at += EMPTY_BOOL_VALUE.copy(out, at);
      at += OVERWRITE_IF_EXISTS_OR_ADD.copy(out, at);
      metadata.copy(out, at);
      for (const end of ends) out.writeDoubleLE(waitMs, at + end);
      tail.copy(out, at + metadata.length);
      return out;
    },
  };
}
const EMPTY = Buffer.alloc(0);

/** Writes a length-delimited field's tag and length at `at`; returns where its payload starts. */
function writeTag(out: Buffer, at: number, field: number, length: number): number {
  let pos = at;
  out[pos++] = (field << 3) | 2;
  let n = length;
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
  return pos;
}

function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v >= 0x80; v >>>= 7) size++;
  return size;
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

/**
 * The waiting page for a browser (see src/waiting-page): 503 so no cache or crawler keeps it, with
 * `retry-after`, a `refresh` header (the page has a meta refresh too) and `cache-control: no-store`.
 */
export function waitingPageResponse(html: string, fn: string, refreshSec: number): Buffer {
  return encode({
    response: {
      $case: 'immediateResponse',
      value: {
        status: { code: 503 as StatusCode },
        headers: {
          setHeaders: [
            header('content-type', 'text/html; charset=utf-8'),
            header('retry-after', String(refreshSec)),
            header('refresh', String(refreshSec)),
            header('cache-control', 'no-store'),
          ],
          removeHeaders: [] as string[],
        },
        body: Buffer.from(html, 'utf8'),
        details: 'faas_waker_waiting_page',
      },
    },
    dynamicMetadata: { [METADATA_NAMESPACE]: { outcome: 'waiting_page', status: 503, function: fn } },
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
