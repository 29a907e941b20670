import { HeaderValueOption_HeaderAppendAction } from '../../src/gen/envoy/config/core/v3/base';
import { CommonResponse_ResponseStatus, ProcessingResponse } from '../../src/gen/envoy/service/ext_proc/v3/external_processor';
import { FunctionNotFoundError, InvalidFunctionNameError, QueueFullError, toHttpAnswer } from '../../src/errors';
import {
  continueAfterHold,
  HEADER_COLD_START,
  heldAnswer,
  HEADER_WAIT_MS,
  immediate,
  METADATA_NAMESPACE,
  overrideTimeout,
  waitingPageResponse,
} from '../../src/extproc/responses';

function header(key: string, value: string): unknown {
  return {
    header: { key, value: '', rawValue: Buffer.from(value, 'latin1') },
    append: false,
    appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    keepEmptyValue: false,
  };
}

describe('overrideTimeout', () => {
  test.each([
    [61_000, { seconds: 61, nanos: 0 }],
    [1500, { seconds: 1, nanos: 500_000_000 }],
    [1, { seconds: 0, nanos: 1_000_000 }],
    [121_000, { seconds: 121, nanos: 0 }],
  ])('%d ms -> only overrideMessageTimeout %j', (ms, duration) => {
    const decoded = ProcessingResponse.decode(overrideTimeout(ms));
    expect(decoded).toEqual(ProcessingResponse.fromPartial({ overrideMessageTimeout: duration }));
  });

  test('encodes nothing but field 10', () => {
    expect(overrideTimeout(61_000)[0]).toBe((10 << 3) | 2);
  });
});

describe('immediate', () => {
  test('QueueFullError -> 503 with retry-after in raw_value, body and details', () => {
    const decoded = ProcessingResponse.decode(immediate(toHttpAnswer(new QueueFullError('x'))));
    expect(decoded.response).toEqual({
      $case: 'immediateResponse',
      value: {
        status: { code: 503 },
        headers: { setHeaders: [header('content-type', 'text/plain; charset=utf-8'), header('retry-after', '1')], removeHeaders: [] },
        body: Buffer.from('too many requests waiting for this function\n'),
        grpcStatus: undefined,
        details: 'faas_waker_hold_queue_full',
      },
    });
    expect(decoded.dynamicMetadata).toEqual({ [METADATA_NAMESPACE]: { outcome: 'rejected', status: 503 } });
    expect(decoded.overrideMessageTimeout).toBeUndefined();
  });

  test('404 with the function named: no retry-after, function in metadata', () => {
    const decoded = ProcessingResponse.decode(
      immediate(toHttpAnswer(new FunctionNotFoundError('secret provider text')), 'ghost.openfaas-fn'),
    );
    const value = decoded.response?.$case === 'immediateResponse' ? decoded.response.value : undefined;
    expect(value?.status).toEqual({ code: 404 });
    expect(value?.headers?.setHeaders.map((h) => h.header?.key)).toEqual(['content-type']);
    expect(value?.body.toString()).toBe('function not found\n');
    expect(decoded.dynamicMetadata).toEqual({ faas_waker: { outcome: 'rejected', status: 404, function: 'ghost.openfaas-fn' } });
  });

  test('every header value is only in raw_value', () => {
    const decoded = ProcessingResponse.decode(immediate(toHttpAnswer(new InvalidFunctionNameError('x'))));
    const value = decoded.response?.$case === 'immediateResponse' ? decoded.response.value : undefined;
    expect(value?.headers?.setHeaders.every((h) => h.header?.value === '' && (h.header?.rawValue.length ?? 0) > 0)).toBe(true);
  });
});

describe('continueAfterHold', () => {
  // cold_start_ms only on a real cold start (envoy.yaml turns it into a client header, left out when empty).
  test.each([
    [true, 1234.6, 'true', '1235', { wait_ms: 1235, outcome: 'cold', cold_start_ms: 1235 }],
    [false, 80, 'false', '80', { wait_ms: 80, outcome: 'held' }],
    [false, 0, 'false', '0', { wait_ms: 0, outcome: 'held' }],
  ])('coldStart %s, waited %d ms', (coldStart, waitedMs, coldHeader, waitHeader, meta) => {
    const decoded = ProcessingResponse.decode(continueAfterHold({ fn: 'hello.openfaas-fn', coldStart, waitedMs }));
    expect(decoded.response).toEqual({
      $case: 'requestHeaders',
      value: {
        response: {
          status: CommonResponse_ResponseStatus.CONTINUE,
          headerMutation: { setHeaders: [header(HEADER_COLD_START, coldHeader), header(HEADER_WAIT_MS, waitHeader)], removeHeaders: [] },
          bodyMutation: undefined,
          trailers: undefined,
          clearRouteCache: false,
        },
      },
    });
    expect(decoded.dynamicMetadata).toStrictEqual({ faas_waker: { function: 'hello.openfaas-fn', cold_start: coldStart, ...meta } });
    expect(decoded.overrideMessageTimeout).toBeUndefined();
  });

  test('header names', () => {
    expect([HEADER_COLD_START, HEADER_WAIT_MS, METADATA_NAMESPACE]).toEqual([
      'x-faas-waker-cold-start',
      'x-faas-waker-wait-ms',
      'faas_waker',
    ]);
  });
});

describe('heldAnswer: one encoding per wake, reused for every waiter', () => {
  const fn = 'a-function-with-a-long-name-to-cross-the-one-byte-length.openfaas-fn';
  // Digit counts and sizes where a varint length grows a byte.
  const waits = [0, 9, 10, 99, 127, 128, 999, 1000, 16_383, 16_384, 99_999_999, 1e12];

  test.each([
    [true, false],
    [false, false],
    [true, true],
    [false, true],
  ])('coldStart %s, tracked %s: every wait decodes to its own headers and metadata', (coldStart, tracked) => {
    const answer = heldAnswer(fn, coldStart, tracked);
    for (const waitedMs of waits) {
      const decoded = ProcessingResponse.decode(answer.encode(waitedMs));
      const mutation = decoded.response?.$case === 'requestHeaders' ? decoded.response.value.response?.headerMutation : undefined;
      expect(mutation?.setHeaders).toEqual([header(HEADER_COLD_START, String(coldStart)), header(HEADER_WAIT_MS, String(waitedMs))]);
      expect(decoded.dynamicMetadata).toStrictEqual({
        faas_waker: {
          function: fn,
          cold_start: coldStart,
          wait_ms: waitedMs,
          outcome: coldStart ? 'cold' : 'held',
          ...(coldStart ? { cold_start_ms: waitedMs } : {}),
        },
      });
      expect(decoded.modeOverride === undefined).toBe(!tracked);
    }
  });

  test('reuse changes nothing: the same bytes as a fresh encoding, whatever came before', () => {
    const answer = heldAnswer(fn, true, false);
    const first = answer.encode(42);
    answer.encode(123_456);
    expect(answer.encode(42)).toEqual(first);
    expect(first).toEqual(continueAfterHold({ fn, coldStart: true, waitedMs: 42 }));
  });
});

describe('continueAfterHold for a tracked request', () => {
  test('the same answer plus exactly the tracking mode_override; untracked has none', () => {
    const result = { fn: 'hello.openfaas-fn', coldStart: true, waitedMs: 812 };
    const plain = ProcessingResponse.decode(continueAfterHold(result));
    const tracked = ProcessingResponse.decode(continueAfterHold(result, true));
    expect(plain.modeOverride).toBeUndefined();
    expect(tracked.modeOverride).toEqual({
      requestHeaderMode: 1,
      responseHeaderMode: 2,
      requestBodyMode: 0,
      responseBodyMode: 0,
      requestTrailerMode: 0,
      responseTrailerMode: 1,
    });
    expect({ ...tracked, modeOverride: undefined }).toEqual(plain);
  });
});

describe('waitingPageResponse', () => {
  test('503, HTML, retry-after + refresh, no-store, the page as body, metadata outcome', () => {
    const decoded = ProcessingResponse.decode(waitingPageResponse('<p>starting é</p>', 'hello.openfaas-fn', 2));
    expect(decoded.response?.$case).toBe('immediateResponse');
    if (decoded.response?.$case !== 'immediateResponse') return;
    const value = decoded.response.value;
    const headers = (value.headers?.setHeaders ?? []).map((h) => [h.header?.key, h.header?.value, h.header?.rawValue.toString('latin1')]);
    expect(headers).toEqual([
      ['content-type', '', 'text/html; charset=utf-8'],
      ['retry-after', '', '2'],
      ['refresh', '', '2'],
      ['cache-control', '', 'no-store'],
    ]);
    expect([value.status?.code, value.body.toString('utf8'), value.details]).toEqual([503, '<p>starting é</p>', 'faas_waker_waiting_page']);
    expect(decoded.dynamicMetadata?.[METADATA_NAMESPACE]).toEqual({ outcome: 'waiting_page', status: 503, function: 'hello.openfaas-fn' });
  });
});
