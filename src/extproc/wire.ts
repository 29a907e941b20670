import type { RequestHints } from '../waiting-page/browser';

/**
 * The few protobuf bytes the warm path needs, read and written by hand. A ProcessingRequest carries
 * the whole header map; decoding it all into objects (ts-proto's decode) would be most of the cost
 * of a warm request, so this scans for the two headers we use and skips the rest. Responses that
 * never change are encoded once.
 */

/** Field numbers of ProcessingRequest's `request` oneof (request_headers = 2 ... response_trailers = 7). */
export const REQUEST_HEADERS_FIELD = 2;

export interface RequestHead {
  readonly phase: typeof REQUEST_HEADERS_FIELD;
  readonly path: string;
  readonly requestId: string | undefined;
  /**
   * Where the HttpHeaders message lies in the received buffer (a view, valid while the message is
   * handled): the cold path reads the other headers it needs from it (`requestHints`); the warm path
   * pays two number stores instead of decoding headers it never looks at.
   */
  readonly raw: Buffer;
  readonly rawStart: number;
  readonly rawEnd: number;
}

/** Any other phase: we answer it with an empty "continue" so a misconfigured filter still works. */
export interface OtherPhase {
  readonly phase: number;
}

export type Incoming = RequestHead | OtherPhase;

export function isRequestHead(msg: Incoming): msg is RequestHead {
  return msg.phase === REQUEST_HEADERS_FIELD;
}

const PATH = Buffer.from(':path', 'latin1');
const REQUEST_ID = Buffer.from('x-request-id', 'latin1');

class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
  ) {}

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const byte = this.buf[this.pos++] as number;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }

  /** Moves past one field of the given wire type. */
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) {
      const len = this.varint(); // read before adding: `pos += varint()` would add to the old pos
      this.pos += len;
    } else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
    if (this.pos > this.buf.length) throw new Error('truncated field');
  }
}

/** Decodes a ProcessingRequest just enough to route it. Throws on malformed input. */
export function decodeIncoming(buf: Buffer): Incoming {
  const cur = new Cursor(buf, 0);
  let phase = 0;
  let head: RequestHead | undefined;
  while (cur.pos < buf.length) {
    const tag = cur.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field >= 2 && field <= 7 && wireType === 2) {
      phase = field;
      const len = cur.varint();
      const end = cur.pos + len;
      if (end > buf.length) throw new Error('truncated message');
      if (field === REQUEST_HEADERS_FIELD) head = decodeHttpHeaders(new Cursor(buf, cur.pos), end);
      cur.pos = end;
    } else {
      cur.skip(wireType);
    }
  }
  if (phase === REQUEST_HEADERS_FIELD && head !== undefined) return head;
  if (phase === 0) throw new Error('ProcessingRequest without a phase');
  return { phase };
}

/** Names the headers a walk wants (by key bytes at buf[start, start + len)); undefined: skipped. */
type KeyMatcher<K> = (buf: Buffer, start: number, len: number) => K | undefined;
/** Takes one wanted header's value into `state`. */
type Found<K, S> = (state: S, key: K, value: string) => void;

/**
 * Walks HttpHeaders { HeaderMap headers = 1 { repeated HeaderValue headers = 1 } } from `cur` to
 * `end`, calling `found(state, key, value)` for each header `match` names, in order. Only those
 * values become strings. State is passed through (not captured) so the warm path allocates no closure.
 */
function walkHeaders<K, S>(cur: Cursor, end: number, match: KeyMatcher<K>, found: Found<K, S>, state: S): void {
  while (cur.pos < end) {
    const tag = cur.varint();
    if (tag !== ((1 << 3) | 2)) {
      cur.skip(tag & 7);
      continue;
    }
    const mapEnd = cur.varint() + cur.pos; // read before adding: the varint moves pos
    // A nested length past its enclosing message is malformed: never read the next field as a header.
    if (mapEnd > end) throw new Error('truncated message');
    while (cur.pos < mapEnd) {
      const entryTag = cur.varint();
      if (entryTag !== ((1 << 3) | 2)) {
        cur.skip(entryTag & 7);
        continue;
      }
      const entryEnd = cur.varint() + cur.pos;
      if (entryEnd > mapEnd) throw new Error('truncated message');
      decodeHeader(cur, entryEnd, match, found, state);
      cur.pos = entryEnd;
    }
  }
}

/** HeaderValue { key = 1; value = 2; raw_value = 3 }: stops at a key nobody asked for. */
function decodeHeader<K, S>(cur: Cursor, end: number, match: KeyMatcher<K>, found: Found<K, S>, state: S): void {
  let which: K | undefined;
  let value: string | undefined;
  let fallback = '';
  while (cur.pos < end) {
    const tag = cur.varint();
    if ((tag & 7) !== 2) {
      cur.skip(tag & 7);
      continue;
    }
    const len = cur.varint();
    const start = cur.pos;
    cur.pos += len;
    if (cur.pos > end) throw new Error('truncated message'); // a field past its HeaderValue
    const field = tag >>> 3;
    if (field === 1) {
      which = match(cur.buf, start, len);
      if (which === undefined) return;
    } else if (field === 3 && len > 0) {
      // Envoy sends values only in raw_value; read them as bytes (latin1), never assume UTF-8.
      value = cur.buf.toString('latin1', start, start + len);
    } else if (field === 2) {
      fallback = cur.buf.toString('latin1', start, start + len);
    }
  }
  if (which !== undefined) found(state, which, value ?? fallback);
}

function keyIs(buf: Buffer, start: number, len: number, key: Buffer): boolean {
  if (len !== key.length) return false;
  for (let i = 0; i < len; i++) if (buf[start + i] !== key[i]) return false;
  return true;
}

type HeadKey = 'path' | 'request-id';
type MutableHead = { -readonly [K in keyof RequestHead]: RequestHead[K] };
const matchHeadKey: KeyMatcher<HeadKey> = (buf, start, len) =>
  keyIs(buf, start, len, PATH) ? 'path' : keyIs(buf, start, len, REQUEST_ID) ? 'request-id' : undefined;
const foundHeadKey = (head: MutableHead, key: HeadKey, value: string): void => {
  if (key === 'path') head.path = value;
  else head.requestId = value;
};

/** The request head: `:path` and `x-request-id` (the last of each, as Envoy sends one). */
function decodeHttpHeaders(cur: Cursor, end: number): RequestHead {
  const rawStart = cur.pos;
  const head: MutableHead = { phase: REQUEST_HEADERS_FIELD, path: '', requestId: undefined, raw: cur.buf, rawStart, rawEnd: end };
  walkHeaders(cur, end, matchHeadKey, foundHeadKey, head);
  return head;
}

const HINT_KEYS: readonly (readonly [keyof RequestHints, Buffer])[] = [
  ['method', Buffer.from(':method', 'latin1')],
  ['accept', Buffer.from('accept', 'latin1')],
  ['upgrade', Buffer.from('upgrade', 'latin1')],
  ['xRequestedWith', Buffer.from('x-requested-with', 'latin1')],
  ['secFetchMode', Buffer.from('sec-fetch-mode', 'latin1')],
];

/**
 * The headers that decide browser or program, read from a request head's HttpHeaders span (cold path
 * only, and synchronously: the span is a view of the received buffer). Repeated headers are joined
 * with ", " as HTTP allows. Never throws: the span was already walked once by decodeIncoming.
 */
export function requestHints(head: RequestHead): RequestHints {
  const found: MutableHints = {
    method: undefined,
    accept: undefined,
    upgrade: undefined,
    xRequestedWith: undefined,
    secFetchMode: undefined,
  };
  try {
    walkHeaders(new Cursor(head.raw, head.rawStart), head.rawEnd, matchHintKey, foundHint, found);
  } catch {
    // Malformed past what decodeIncoming needed: what was read so far is all we know.
  }
  return found;
}

type MutableHints = { -readonly [K in keyof RequestHints]: string | undefined };
const matchHintKey: KeyMatcher<keyof RequestHints> = (buf, start, len) => HINT_KEYS.find(([, key]) => keyIs(buf, start, len, key))?.[0];
const foundHint = (hints: MutableHints, key: keyof RequestHints, value: string): void => {
  const before = hints[key];
  hints[key] = before === undefined ? value : `${before}, ${value}`;
};

/** The empty answer ("continue, no change") for a phase: ProcessingResponse field = request field - 1. */
export function continueBytes(phase: number): Buffer {
  return CONTINUES[phase] ?? encodeContinue(phase);
}
function encodeContinue(phase: number): Buffer {
  return Buffer.from([((phase - 1) << 3) | 2, 0]);
}
/** Encoded once per phase (2 request_headers ... 7 response_trailers): shared, never written to. */
const CONTINUES: readonly (Buffer | undefined)[] = Array.from({ length: 8 }, (_, phase) =>
  phase >= 2 ? encodeContinue(phase) : undefined,
);

/** ProcessingResponse { request_headers: HeadersResponse {} }: the whole warm-path answer, 2 bytes. */
export const CONTINUE_REQUEST_HEADERS: Buffer = continueBytes(REQUEST_HEADERS_FIELD);

/**
 * ProcessingResponse.mode_override (field 9): ProcessingMode { request_header_mode: SEND (1),
 * response_header_mode: SKIP (2), response_trailer_mode: SEND (1) }, request_trailer_mode left unset
 * (0): Envoy takes it from processing_mode (SKIP), and envoy.yaml's `allowed_override_modes` lists
 * that effective mode (with DEFAULT there, Envoy would silently ignore the override). Asks Envoy to keep the ext_proc
 * stream open until the response ends (the idle tracker's "request over" signal).
 */
export const TRACKING_MODE_OVERRIDE: Buffer = Buffer.from([(9 << 3) | 2, 6, 1 << 3, 1, 2 << 3, 2, 6 << 3, 1]);

/** The warm CONTINUE of a tracked request (see ActivitySink): 10 bytes, encoded once. */
export const CONTINUE_REQUEST_HEADERS_TRACKED: Buffer = Buffer.concat([CONTINUE_REQUEST_HEADERS, TRACKING_MODE_OVERRIDE]);
