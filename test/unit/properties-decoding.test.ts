/**
 * Hostile-input properties of the hand-written decoders on the ext_proc edge: `decodeIncoming`
 * (wire.ts) and the gRPC FrameReader (grpc-frames.ts). Whatever bytes a peer sends, they return or
 * throw one of their documented errors, their work is linear in the input (so they cannot loop), and
 * on valid input they agree with the generated (ts-proto) decoder and with a simple reference parser.
 * The comparison is on valid encodings only: on malformed input both decoders are lenient (neither
 * clamps a nested length to its parent's end), in different ways, so disagreement there means nothing.
 */
import fc from 'fast-check';
import { ByteBudget, FRAME_HEADER_BYTES, FrameError, FrameReader, frame } from '../../src/extproc/grpc-frames';
import { decodeIncoming, isRequestHead, REQUEST_HEADERS_FIELD, requestHints } from '../../src/extproc/wire';
import type { RequestHints } from '../../src/waiting-page/browser';
import { ProcessingRequest } from '../../src/gen/envoy/service/ext_proc/v3/external_processor';

const RUNS = { numRuns: 300 };

// ---- decodeIncoming ---------------------------------------------------------------------------------

/** The errors decodeIncoming documents ("throws on malformed input"): plain Errors with these messages. */
const DOCUMENTED =
  /^(truncated varint|varint too long|unsupported wire type \d+|truncated field|truncated message|ProcessingRequest without a phase)$/;

/**
 * A view of `buf` that counts reads of its bytes and of its length. Methods are bound to the real
 * buffer (Buffer's natives need the real object), so only the decoder's own loops are counted: a
 * bound on the count is a bound on its loop iterations, checked without any clock.
 */
function counted(buf: Buffer): { view: Buffer; reads: () => number } {
  let reads = 0;
  const view = new Proxy(buf, {
    get(target, prop) {
      if (prop === 'length' || (typeof prop === 'string' && /^\d+$/.test(prop))) reads++;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { view, reads: () => reads };
}

/** Each byte is read a small constant number of times (tags re-read at an entry's end at most). */
const readBudget = (length: number): number => 16 * length + 64;

/** What the tests compare: the routing fields, and for a request head the browser hints read lazily from it. */
type Seen =
  | { readonly phase: number }
  | { readonly phase: 2; readonly path: string; readonly requestId: string | undefined; readonly hints: RequestHints };
type Outcome = { ok: true; msg: Seen } | { ok: false; message: string };

const HINT_NAMES = ['method', 'accept', 'upgrade', 'xRequestedWith', 'secFetchMode'] as const;

/** Decodes, asserting the two contracts every input must meet: documented errors only, bounded work. */
function decodeChecked(buf: Buffer): Outcome {
  const { view, reads } = counted(buf);
  let outcome: Outcome;
  try {
    outcome = { ok: true, msg: decodeIncoming(view) };
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).constructor).toBe(Error); // not a TypeError/RangeError from an unchecked index
    expect((err as Error).message).toMatch(DOCUMENTED);
    outcome = { ok: false, message: (err as Error).message };
  }
  expect(reads()).toBeLessThanOrEqual(readBudget(buf.length));
  if (!outcome.ok) return outcome;
  const msg = outcome.msg;
  expect(msg.phase).toBeGreaterThanOrEqual(2);
  expect(msg.phase).toBeLessThanOrEqual(7);
  if (!isRequestHead(msg)) return { ok: true, msg: { phase: msg.phase } };
  expect(typeof msg.path).toBe('string');
  expect(msg.requestId === undefined || typeof msg.requestId === 'string').toBe(true);
  // requestHints documents "never throws" (it reads the span decodeIncoming already walked): same bounds.
  const hints = requestHints(msg);
  for (const name of HINT_NAMES) expect(hints[name] === undefined || typeof hints[name] === 'string').toBe(true);
  expect(reads()).toBeLessThanOrEqual(2 * readBudget(buf.length));
  return { ok: true, msg: { phase: REQUEST_HEADERS_FIELD, path: msg.path, requestId: msg.requestId, hints } };
}

/** Header names: the ones the decoder looks for, near misses, and anything. */
const headerKey = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(':path', 'x-request-id', ':method', 'accept', 'sec-fetch-mode', 'upgrade', 'x-requested-with', ':authority'),
  },
  { weight: 1, arbitrary: fc.constantFrom(':pat', ':path ', ':PATH', 'path', ':pathx', 'x-request-i', 'x-request-id2', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 16 }) },
);

interface Header {
  readonly key: string;
  readonly value: string;
  readonly rawValue: Buffer;
}

/** Mostly as Envoy sends them (value only in raw_value); sometimes `value` only, or both. */
const header: fc.Arbitrary<Header> = fc
  .tuple(
    headerKey,
    fc.uint8Array({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.constantFrom<'raw' | 'value' | 'both'>('raw', 'raw', 'raw', 'value', 'both'),
  )
  .map(([key, raw, value, which]) => ({
    key,
    rawValue: which === 'value' ? Buffer.alloc(0) : Buffer.from(raw),
    value: which === 'raw' ? '' : value,
  }));

const structValue = fc.dictionary(
  fc.string({ maxLength: 8 }),
  fc.oneof(fc.string({ maxLength: 8 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)),
  { maxKeys: 3 },
);
const attributes = fc.dictionary(fc.string({ maxLength: 12 }), structValue, { maxKeys: 2 });
const headerMap = fc.array(header, { maxLength: 8 }).map((headers) => ({ headers }));

type RequestOneof = NonNullable<Parameters<typeof ProcessingRequest.fromPartial>[0]['request']>;
const requestOneof: fc.Arbitrary<RequestOneof | undefined> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ headers: headerMap, attributes, endOfStream: fc.boolean() })
      .map((value) => ({ $case: 'requestHeaders' as const, value })),
  },
  {
    weight: 1,
    arbitrary: fc.record({ headers: headerMap, endOfStream: fc.boolean() }).map((value) => ({ $case: 'responseHeaders' as const, value })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ body: fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)), endOfStream: fc.boolean() })
      .map((value) => ({ $case: 'requestBody' as const, value })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ body: fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)), endOfStream: fc.boolean() })
      .map((value) => ({ $case: 'responseBody' as const, value })),
  },
  { weight: 1, arbitrary: fc.record({ trailers: headerMap }).map((value) => ({ $case: 'requestTrailers' as const, value })) },
  { weight: 1, arbitrary: fc.record({ trailers: headerMap }).map((value) => ({ $case: 'responseTrailers' as const, value })) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** Valid ProcessingRequests, built and encoded by the generated code (what Envoy's protobuf would send). */
const validRequest = fc
  .record({
    request: requestOneof,
    attributes,
    observabilityMode: fc.boolean(),
    metadata: fc.option(fc.dictionary(fc.string({ maxLength: 10 }), structValue, { maxKeys: 2 }), { nil: undefined }),
  })
  .map(({ request, attributes: attrs, observabilityMode, metadata }) =>
    ProcessingRequest.fromPartial({
      request,
      attributes: attrs,
      observabilityMode,
      metadataContext: metadata === undefined ? undefined : { filterMetadata: metadata },
    }),
  );

const encode = (req: ProcessingRequest): Buffer => Buffer.from(ProcessingRequest.encode(req).finish());

const PHASE_OF_CASE: Record<RequestOneof['$case'], number> = {
  requestHeaders: 2,
  responseHeaders: 3,
  requestBody: 4,
  responseBody: 5,
  requestTrailers: 6,
  responseTrailers: 7,
};

/**
 * What decodeIncoming must return, read from the generated decoder's view of the same bytes: the last
 * header of each name wins; raw_value (bytes, as latin1) wins over a non-empty `value`, whose UTF-8
 * bytes are likewise taken as latin1 (the decoder never assumes UTF-8).
 */
function expectedFromGenerated(buf: Buffer): Seen | 'no-phase' {
  const decoded = ProcessingRequest.decode(buf);
  const request = decoded.request;
  if (request === undefined) return 'no-phase';
  if (request.$case !== 'requestHeaders') return { phase: PHASE_OF_CASE[request.$case] };
  const headers = request.value.headers?.headers ?? [];
  const values = (key: string): string[] =>
    headers
      .filter((h) => h.key === key)
      .map((h) => (h.rawValue.length > 0 ? Buffer.from(h.rawValue).toString('latin1') : Buffer.from(h.value, 'utf8').toString('latin1')));
  const last = (key: string): string | undefined => values(key).at(-1);
  // Hints join repeated headers with ", " (HTTP's list rule), in order.
  const joined = (key: string): string | undefined => (values(key).length === 0 ? undefined : values(key).join(', '));
  const hints: RequestHints = {
    method: joined(':method'),
    accept: joined('accept'),
    upgrade: joined('upgrade'),
    xRequestedWith: joined('x-requested-with'),
    secFetchMode: joined('sec-fetch-mode'),
  };
  return { phase: REQUEST_HEADERS_FIELD, path: last(':path') ?? '', requestId: last('x-request-id'), hints };
}

type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly byte: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly count: number }
  | { readonly kind: 'duplicate'; readonly at: number; readonly count: number };

const position = fc.nat({ max: 1 << 16 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  // Bytes that matter to a protobuf reader: continuation bits, group wire types, huge lengths.
  fc.record({
    kind: fc.constant('set' as const),
    at: position,
    byte: fc.constantFrom(0x00, 0x7f, 0x80, 0xff, 0x0b, 0x0c, 0x0f, 0x12, 0x0a, 0x1a),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: position, count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: position, count: fc.integer({ min: 1, max: 24 }) }),
);

function mutate(buf: Buffer, m: Mutation): Buffer {
  if (buf.length === 0) return m.kind === 'insert' ? Buffer.from(m.bytes) : buf;
  const at = m.at % buf.length;
  const out = Buffer.from(buf);
  switch (m.kind) {
    case 'flip':
      out[at] = (out[at] as number) ^ (1 << m.bit);
      return out;
    case 'set':
      out[at] = m.byte;
      return out;
    case 'truncate':
      return out.subarray(0, at);
    case 'insert':
      return Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
    case 'delete':
      return Buffer.concat([out.subarray(0, at), out.subarray(at + m.count)]);
    case 'duplicate':
      return Buffer.concat([out.subarray(0, at + m.count), out.subarray(at)]);
  }
}

describe('decodeIncoming properties (hostile bytes)', () => {
  test('the read counter sees the decoder at work (so its bound is not vacuous)', () => {
    const buf = encode(
      ProcessingRequest.fromPartial({
        request: {
          $case: 'requestHeaders',
          value: { headers: { headers: [{ key: ':path', value: '', rawValue: Buffer.from('/function/a') }] } },
        },
      }),
    );
    const { view, reads } = counted(buf);
    expect(decodeIncoming(view)).toMatchObject({ phase: 2, path: '/function/a' });
    expect(reads()).toBeGreaterThan(buf.length / 2);
  });

  test('arbitrary bytes: a result or a documented error, with work linear in the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        decodeChecked(Buffer.from(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  test('protobuf-shaped noise (tags of fields 1-9, every wire type, long varints): the same contracts', () => {
    const token = fc.oneof(
      fc.integer({ min: 1, max: 9 }).chain((field) => fc.integer({ min: 0, max: 7 }).map((wt) => [(field << 3) | wt])),
      fc.constantFrom(
        [0x00],
        [0x80, 0x80, 0x80],
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        [0xff, 0xff, 0xff, 0xff, 0x0f],
      ),
      fc.integer({ min: 0, max: 40 }).map((n) => [n]),
      fc.uint8Array({ maxLength: 6 }).map((b) => [...b]),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 48 }), (tokens) => {
        decodeChecked(Buffer.from(tokens.flat()));
      }),
      { numRuns: 1000 },
    );
  });

  test('mutated valid ProcessingRequests: a result or a documented error, with work linear in the input', () => {
    fc.assert(
      fc.property(validRequest, fc.array(mutation, { minLength: 1, maxLength: 4 }), (req, mutations) => {
        decodeChecked(mutations.reduce(mutate, encode(req)));
      }),
      RUNS,
    );
  });

  test('valid ProcessingRequests decode to the phase, :path, x-request-id and browser hints (:method, accept...) the generated decoder sees', () => {
    fc.assert(
      fc.property(validRequest, (req) => {
        const buf = encode(req);
        const expected = expectedFromGenerated(buf);
        const outcome = decodeChecked(buf);
        if (expected === 'no-phase') expect(outcome).toEqual({ ok: false, message: 'ProcessingRequest without a phase' });
        else expect(outcome).toEqual({ ok: true, msg: expected });
      }),
      RUNS,
    );
  });

  test('the same holds for any concatenation of valid encodings (the last occurrence of the oneof wins, as in ts-proto)', () => {
    fc.assert(
      fc.property(fc.array(validRequest, { minLength: 2, maxLength: 3 }), (reqs) => {
        const buf = Buffer.concat(reqs.map(encode));
        const expected = expectedFromGenerated(buf);
        const outcome = decodeChecked(buf);
        if (expected === 'no-phase') expect(outcome).toEqual({ ok: false, message: 'ProcessingRequest without a phase' });
        else expect(outcome).toEqual({ ok: true, msg: expected });
      }),
      RUNS,
    );
  });
});

// ---- FrameReader ------------------------------------------------------------------------------------

const MAX = 64;

type Parse = { readonly messages: Buffer[]; readonly error: FrameError['kind'] | undefined };

/** Reference parser over the whole byte stream at once: the messages, then the first refusal if any. */
function referenceParse(stream: Buffer, maxMessageBytes: number): Parse {
  const messages: Buffer[] = [];
  let pos = 0;
  while (stream.length - pos >= FRAME_HEADER_BYTES) {
    if (stream[pos] !== 0) return { messages, error: 'compressed' };
    const length = stream.readUInt32BE(pos + 1);
    if (length > maxMessageBytes) return { messages, error: 'too-large' };
    if (pos + FRAME_HEADER_BYTES + length > stream.length) break;
    messages.push(stream.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length));
    pos += FRAME_HEADER_BYTES + length;
  }
  return { messages, error: undefined };
}

/** A stream of frames, mostly well formed, some with a bad flag or an oversized or huge length, plus noise. */
const frameStream: fc.Arbitrary<Buffer> = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.uint8Array({ maxLength: MAX }).map((b) => frame(Buffer.from(b))) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.integer({ min: 1, max: 255 }), fc.uint8Array({ maxLength: 8 }))
          .map(([flag, b]) => Buffer.concat([Buffer.from([flag, 0, 0, 0, b.length]), b])),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom(MAX + 1, 1 << 20, 0xffffffff).map((n) => {
          const h = Buffer.alloc(FRAME_HEADER_BYTES);
          h.writeUInt32BE(n, 1);
          return h;
        }),
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)) },
    ),
    { maxLength: 8 },
  )
  .map((parts) => Buffer.concat(parts));

/** Cut points that split the stream into chunks (empty chunks included). */
function chunksOf(stream: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, stream.length]) {
    chunks.push(stream.subarray(from, p));
    from = p;
  }
  if (cuts.length > 0 && cuts[0] === 0) chunks.unshift(Buffer.alloc(0));
  return chunks;
}

/** Feeds chunks until the reader refuses; only FrameErrors may escape push(). */
function feed(reader: FrameReader, chunks: readonly Buffer[]): Parse {
  const messages: Buffer[] = [];
  for (const chunk of chunks) {
    try {
      messages.push(...reader.push(chunk).map((m) => Buffer.from(m)));
    } catch (err) {
      expect(err).toBeInstanceOf(FrameError);
      return { messages, error: (err as FrameError).kind };
    }
  }
  return { messages, error: undefined };
}

describe('FrameReader properties (arbitrary chunking)', () => {
  test('however the bytes are split, the messages and the refusal match a one-pass reference parse', () => {
    fc.assert(
      fc.property(frameStream, fc.array(fc.nat(), { maxLength: 12 }), (stream, cuts) => {
        const reference = referenceParse(stream, MAX);
        const got = feed(new FrameReader(MAX, new ByteBudget(1 << 30)), chunksOf(stream, cuts));
        expect(got.error).toBe(reference.error);
        if (reference.error === undefined) expect(got.messages).toEqual(reference.messages);
        // Messages completed in the push that threw are lost with the stream; the rest are a prefix.
        else expect(reference.messages.slice(0, got.messages.length)).toEqual(got.messages);
      }),
      RUNS,
    );
  });

  test('arbitrary bytes in arbitrary chunks: only FrameErrors, each byte copied at most once', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 16 }), (bytes, cuts) => {
        const stream = Buffer.from(bytes);
        const reader = new FrameReader(MAX);
        feed(reader, chunksOf(stream, cuts));
        expect(reader.bytesCopied).toBeLessThanOrEqual(stream.length);
      }),
      RUNS,
    );
  });

  test('a shared budget: refusals are FrameErrors, the budget never goes past its limit, and dispose gives everything back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 * MAX }),
        fc.array(fc.tuple(fc.boolean(), frameStream, fc.array(fc.nat(), { maxLength: 6 })), { minLength: 1, maxLength: 6 }),
        (limit, feeds) => {
          const budget = new ByteBudget(limit);
          const readers = [new FrameReader(MAX, budget), new FrameReader(MAX, budget)];
          const failed = new Set<FrameReader>();
          for (const [first, stream, cuts] of feeds) {
            const reader = readers[first ? 0 : 1] as FrameReader;
            if (failed.has(reader)) continue;
            if (feed(reader, chunksOf(stream, cuts)).error !== undefined) failed.add(reader);
            expect(budget.usedBytes).toBeLessThanOrEqual(limit);
            expect(budget.usedBytes).toBe(readers.reduce((sum, r) => sum + r.pendingBytes, 0));
          }
          for (const reader of readers) reader.dispose();
          expect(budget.usedBytes).toBe(0);
        },
      ),
      RUNS,
    );
  });
});
