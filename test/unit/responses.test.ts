import { HeaderValueOption_HeaderAppendAction } from '../../src/gen/envoy/config/core/v3/base';
import { CommonResponse_ResponseStatus, ProcessingResponse } from '../../src/gen/envoy/service/ext_proc/v3/external_processor';
import { FunctionNotFoundError, InvalidFunctionNameError, QueueFullError, toHttpAnswer } from '../../src/errors';
import {
  continueAfterHold,
  HEADER_COLD_START,
  HEADER_WAIT_MS,
  immediate,
  METADATA_NAMESPACE,
  overrideTimeout,
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
