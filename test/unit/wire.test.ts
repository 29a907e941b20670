import { DECODED_TRACKING_MODE } from '../support/tracking-mode';
import { ProcessingRequest, ProcessingResponse } from '../../src/gen/envoy/service/ext_proc/v3/external_processor';
import {
  CONTINUE_REQUEST_HEADERS,
  CONTINUE_REQUEST_HEADERS_TRACKED,
  continueBytes,
  decodeIncoming,
  isRequestHead,
  REQUEST_HEADERS_FIELD,
  requestHints,
  type Incoming,
  type RequestHead,
} from '../../src/extproc/wire';

interface H {
  key: string;
  raw?: string;
  value?: string;
}

/** Headers as Envoy sends them: the value in raw_value (bytes), `value` empty. */
function headerMap(headers: H[]): { headers: { key: string; value: string; rawValue: Buffer }[] } {
  return { headers: headers.map((h) => ({ key: h.key, value: h.value ?? '', rawValue: Buffer.from(h.raw ?? '', 'latin1') })) };
}

function requestHeaders(headers: H[]): Buffer {
  const msg = ProcessingRequest.fromPartial({
    request: { $case: 'requestHeaders', value: { headers: headerMap(headers), endOfStream: true } },
  });
  return Buffer.from(ProcessingRequest.encode(msg).finish());
}

const ENVOY_HEADERS: H[] = [
  { key: ':authority', raw: 'gateway.local' },
  { key: ':path', raw: '/function/hello.staging/x?y=1' },
  { key: ':method', raw: 'POST' },
  { key: ':scheme', raw: 'http' },
  { key: 'user-agent', raw: 'curl/8.5.0' },
  { key: 'x-forwarded-proto', raw: 'http' },
  { key: 'x-request-id', raw: '2f1c6a1e-7d7e-4b4e-9b8e-0c2a2a1d9f00' },
  { key: 'x-path', raw: '/not/this/one' },
];

/** A decoded message without the header span (a view of the input, checked apart in the requestHints tests). */
function visible(msg: Incoming): Record<string, unknown> {
  if (!isRequestHead(msg)) return { ...msg };
  const { raw: _raw, rawStart: _start, rawEnd: _end, ...rest } = msg;
  return rest;
}

describe('decodeIncoming: request headers', () => {
  test('extracts :path and x-request-id from raw_value', () => {
    expect(visible(decodeIncoming(requestHeaders(ENVOY_HEADERS)))).toEqual({
      phase: REQUEST_HEADERS_FIELD,
      path: '/function/hello.staging/x?y=1',
      requestId: '2f1c6a1e-7d7e-4b4e-9b8e-0c2a2a1d9f00',
    });
  });

  test('other headers are ignored; missing ones give empty path and undefined id', () => {
    const head = decodeIncoming(
      requestHeaders([
        { key: ':method', raw: 'GET' },
        { key: 'path', raw: '/function/x' },
        { key: ':pathx', raw: '/y' },
      ]),
    );
    expect(visible(head)).toEqual({ phase: 2, path: '', requestId: undefined });
    expect(isRequestHead(head)).toBe(true);
  });

  test('falls back to `value` when raw_value is empty', () => {
    const head = decodeIncoming(
      requestHeaders([
        { key: ':path', value: '/function/a' },
        { key: 'x-request-id', value: 'rid-1' },
      ]),
    );
    expect(visible(head)).toEqual({ phase: 2, path: '/function/a', requestId: 'rid-1' });
  });

  test('raw_value wins over value when both are set', () => {
    expect(visible(decodeIncoming(requestHeaders([{ key: ':path', raw: '/raw', value: '/value' }])))).toEqual({
      phase: 2,
      path: '/raw',
      requestId: undefined,
    });
  });

  test('raw bytes are read as latin1, never decoded as UTF-8', () => {
    const head = decodeIncoming(requestHeaders([{ key: ':path', raw: '/function/h\u00e9llo' }]));
    expect(visible(head)).toEqual({ phase: 2, path: '/function/h\u00e9llo', requestId: undefined });
  });

  test('a long path (multi-byte length varints) survives', () => {
    const path = `/function/hello/${'x'.repeat(70_000)}`;
    expect(visible(decodeIncoming(requestHeaders([{ key: ':path', raw: path }])))).toEqual({ phase: 2, path, requestId: undefined });
  });

  test('attributes before and metadata/observability after the headers do not confuse it', () => {
    const attrs = ProcessingRequest.encode(
      ProcessingRequest.fromPartial({
        attributes: { 'envoy.filters.http.ext_proc': { 'request.path': '/decoy', 'source.address': '10.0.0.1:5555' } },
      }),
    ).finish();
    const meta = ProcessingRequest.encode(
      ProcessingRequest.fromPartial({
        metadataContext: { filterMetadata: { 'envoy.lb': { ':path': '/decoy', canary: true } } },
        observabilityMode: true,
      }),
    ).finish();
    const buf = Buffer.concat([attrs, requestHeaders(ENVOY_HEADERS), meta]);
    expect(visible(decodeIncoming(buf))).toEqual({
      phase: 2,
      path: '/function/hello.staging/x?y=1',
      requestId: '2f1c6a1e-7d7e-4b4e-9b8e-0c2a2a1d9f00',
    });
    // Sanity: the generated decoder sees all three parts in the same bytes.
    const full = ProcessingRequest.decode(buf);
    expect([full.request?.$case, full.observabilityMode, Object.keys(full.attributes)]).toEqual([
      'requestHeaders',
      true,
      ['envoy.filters.http.ext_proc'],
    ]);
  });
});

describe('decodeIncoming: other phases', () => {
  test.each<[string, NonNullable<Parameters<typeof ProcessingRequest.fromPartial>[0]['request']>, number]>([
    [
      'response_headers',
      { $case: 'responseHeaders', value: { headers: headerMap([{ key: ':status', raw: '200' }]), attributes: {}, endOfStream: false } },
      3,
    ],
    ['request_body', { $case: 'requestBody', value: { body: Buffer.from('{"a":1}'), endOfStream: true } }, 4],
    ['response_body', { $case: 'responseBody', value: { body: Buffer.from('ok'), endOfStream: true } }, 5],
    ['request_trailers', { $case: 'requestTrailers', value: { trailers: headerMap([{ key: 'grpc-status', raw: '0' }]) } }, 6],
    ['response_trailers', { $case: 'responseTrailers', value: { trailers: headerMap([]) } }, 7],
  ])('%s -> phase %d', (_name, request, phase) => {
    const buf = Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromPartial({ request, observabilityMode: false })).finish());
    const msg = decodeIncoming(buf);
    expect(msg).toEqual({ phase });
    expect(isRequestHead(msg)).toBe(false);
    expect(ProcessingResponse.decode(continueBytes(phase)).response?.$case).toBe(request?.$case);
  });

  test('response headers carrying a :path are still not a request head', () => {
    const req = ProcessingRequest.fromPartial({
      request: { $case: 'responseHeaders', value: { headers: headerMap([{ key: ':path', raw: '/function/x' }]) } },
    });
    expect(decodeIncoming(Buffer.from(ProcessingRequest.encode(req).finish()))).toEqual({ phase: 3 });
  });
});

describe('decodeIncoming: malformed input throws', () => {
  const full = requestHeaders(ENVOY_HEADERS);

  test('every truncation of a request-headers message throws', () => {
    for (let cut = 1; cut < full.length; cut++) expect(() => decodeIncoming(full.subarray(0, cut))).toThrow();
  });

  test('a header map whose length runs past its HttpHeaders message throws (the next field is never read as a header)', () => {
    const value = Buffer.concat([Buffer.from([0x0a, 5]), Buffer.from(':path'), Buffer.from([0x1a, 11]), Buffer.from('/function/x')]);
    const map = Buffer.concat([Buffer.from([0x0a, value.length]), value]);
    // HttpHeaders { headers (1): the map, declared 4 bytes longer than it is }
    const headers = Buffer.concat([Buffer.from([0x0a, map.length + 4]), map]);
    // ProcessingRequest { request_headers (2): headers; then 4 bytes of another field (9, length 2) }
    const buf = Buffer.concat([Buffer.from([0x12, headers.length]), headers, Buffer.from([0x4a, 2, 0, 0])]);
    expect(() => decodeIncoming(buf)).toThrow('truncated message');
  });

  test('a header value whose length runs past its HeaderValue throws (the next header is never read as its value)', () => {
    const path = Buffer.concat([Buffer.from([0x0a, 5]), Buffer.from(':path'), Buffer.from([0x1a, 11]), Buffer.from('/function/x')]);
    const other = Buffer.concat([Buffer.from([0x0a, 1]), Buffer.from('a'), Buffer.from([0x1a, 1]), Buffer.from('b')]);
    // The :path HeaderValue declares a raw_value 2 bytes longer than the entry holds: it would run into `other`.
    const badPath = Buffer.from(path);
    badPath[8] = 13;
    const entries = Buffer.concat([Buffer.from([0x0a, badPath.length]), badPath, Buffer.from([0x0a, other.length]), other]);
    const headers = Buffer.concat([Buffer.from([0x0a, entries.length]), entries]);
    const buf = Buffer.concat([Buffer.from([0x12, headers.length]), headers]);
    expect(() => decodeIncoming(buf)).toThrow('truncated message');
  });

  test.each([
    ['empty input', Buffer.alloc(0)],
    ['only metadata, no phase', Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromPartial({ observabilityMode: true })).finish())],
    ['unterminated varint', Buffer.from([0x80, 0x80, 0x80])],
    ['a group wire type', Buffer.from([0x0b])],
  ])('%s', (_name, buf) => {
    expect(() => decodeIncoming(buf)).toThrow();
  });
});

describe('CONTINUE_REQUEST_HEADERS', () => {
  test('decodes as an empty request-headers response and nothing else', () => {
    expect([...CONTINUE_REQUEST_HEADERS]).toEqual([0x0a, 0x00]);
    const decoded = ProcessingResponse.decode(CONTINUE_REQUEST_HEADERS);
    expect(decoded.response).toEqual({ $case: 'requestHeaders', value: { response: undefined } });
    expect([decoded.dynamicMetadata, decoded.modeOverride, decoded.overrideMessageTimeout]).toEqual([undefined, undefined, undefined]);
  });
});

describe('requestHints: the browser headers, read on the cold path only', () => {
  const head = (headers: H[]): RequestHead => decodeIncoming(requestHeaders(headers)) as RequestHead;

  test('reads method, accept, upgrade, x-requested-with and sec-fetch-mode; ignores the rest', () => {
    const hints = requestHints(
      head([
        ...ENVOY_HEADERS,
        { key: 'accept', raw: 'text/html,application/xhtml+xml' },
        { key: 'upgrade', raw: 'websocket' },
        { key: 'x-requested-with', raw: 'XMLHttpRequest' },
        { key: 'sec-fetch-mode', raw: 'navigate' },
        { key: 'accept-language', raw: 'en' },
      ]),
    );
    expect(hints).toEqual({
      method: 'POST',
      accept: 'text/html,application/xhtml+xml',
      upgrade: 'websocket',
      xRequestedWith: 'XMLHttpRequest',
      secFetchMode: 'navigate',
    });
  });

  test('absent headers are undefined; repeated ones are joined; value is the fallback', () => {
    expect(
      requestHints(
        head([
          { key: ':path', raw: '/function/a' },
          { key: 'accept', raw: 'text/plain' },
          { key: 'accept', value: 'text/html' },
        ]),
      ),
    ).toEqual({
      method: undefined,
      accept: 'text/plain, text/html',
      upgrade: undefined,
      xRequestedWith: undefined,
      secFetchMode: undefined,
    });
  });

  test('the span stays inside the request headers: metadata after them is not read', () => {
    const meta = ProcessingRequest.encode(
      ProcessingRequest.fromPartial({ metadataContext: { filterMetadata: { x: { accept: 'text/html' } } } }),
    ).finish();
    const msg = decodeIncoming(Buffer.concat([requestHeaders([{ key: ':path', raw: '/function/a' }]), meta])) as RequestHead;
    expect(requestHints(msg).accept).toBeUndefined();
  });
});

describe('tracked CONTINUE (idle tracking)', () => {
  test('decodes as an empty request_headers answer with exactly the allowed mode_override', () => {
    const decoded = ProcessingResponse.decode(CONTINUE_REQUEST_HEADERS_TRACKED);
    expect(decoded.response?.$case).toBe('requestHeaders');
    expect(decoded.modeOverride).toEqual(DECODED_TRACKING_MODE);
    expect(decoded.overrideMessageTimeout).toBeUndefined();
  });
});
