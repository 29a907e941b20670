/**
 * gRPC message framing over HTTP/2 DATA: 1 byte "compressed" flag, 4 bytes big-endian length, then
 * the message. Pure, so it is tested without sockets.
 */
export const FRAME_HEADER_BYTES = 5;

/**
 * Largest message either gRPC server accepts. Envoy's request_headers messages are bounded by its
 * header limit (HCM `max_request_headers_kb`, 60 KiB by default) and our forward_rules send four
 * headers, so 1 MiB leaves 16x headroom; grpc-js's own default (4 MiB) only costs memory.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/** Why a stream's input was refused: the server maps each kind to a gRPC status. */
export type FrameErrorKind = 'compressed' | 'too-large' | 'budget';

export class FrameError extends Error {
  constructor(
    readonly kind: FrameErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Bytes a connection may hold in unfinished messages, shared by its streams: without it, many
 * streams each holding part of a large message grow memory without bound.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  /** False (and nothing taken) when `bytes` more would pass the limit. */
  reserve(bytes: number): boolean {
    if (this.used + bytes > this.limitBytes) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * Reassembles messages from DATA chunks that may split or join them arbitrarily. A whole message
 * inside one chunk is returned as a view of that chunk (no copy: the warm path). A message split
 * across chunks gets its buffer once its header is known, and each later byte is copied once, so
 * reassembly is linear in the message size however small the chunks are.
 */
export class FrameReader {
  /** Bytes copied into reassembly buffers so far (tests check each byte is copied at most once). */
  bytesCopied = 0;
  private header: Buffer | undefined;
  private headerFill = 0;
  private message: Buffer | undefined;
  private messageFill = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly budget?: ByteBudget,
  ) {}

  /** Bytes held for the unfinished message (reserved from the budget). */
  get pendingBytes(): number {
    return this.message?.length ?? 0;
  }

  /**
   * Returns the complete messages in this chunk (usually exactly one); keeps the rest for later.
   * Throws FrameError for a compressed message, one over the size limit, or an exhausted budget.
   */
  push(chunk: Buffer): Buffer[] {
    const messages: Buffer[] = [];
    let pos = 0;
    if (this.headerFill > 0) pos = this.fillHeader(chunk);
    if (this.message !== undefined) pos = this.fillMessage(chunk, pos, messages);
    while (pos < chunk.length) {
      if (chunk.length - pos < FRAME_HEADER_BYTES) {
        this.keepHeaderBytes(chunk, pos);
        return messages;
      }
      const length = this.checkHeader(chunk, pos);
      const start = pos + FRAME_HEADER_BYTES;
      if (start + length > chunk.length) {
        this.startMessage(length);
        this.fillMessage(chunk, start, messages);
        return messages;
      }
      messages.push(chunk.subarray(start, start + length));
      pos = start + length;
    }
    return messages;
  }

  /** Gives back what the unfinished message reserved: call when the stream closes. */
  dispose(): void {
    if (this.message !== undefined) this.budget?.release(this.message.length);
    this.message = undefined;
    this.header = undefined;
    this.headerFill = 0;
  }

  /** Completes a header split across chunks; returns where the message bytes begin in `chunk`. */
  private fillHeader(chunk: Buffer): number {
    const header = this.header as Buffer;
    const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length);
    chunk.copy(header, this.headerFill, 0, take);
    this.headerFill += take;
    if (this.headerFill < FRAME_HEADER_BYTES) return take;
    this.headerFill = 0;
    this.startMessage(this.checkHeader(header, 0));
    return take;
  }

  private keepHeaderBytes(chunk: Buffer, pos: number): void {
    this.header ??= Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    this.headerFill = chunk.copy(this.header, 0, pos);
  }

  /** Validates the header at `pos` and returns the message length. */
  private checkHeader(buf: Buffer, pos: number): number {
    if (buf[pos] !== 0) throw new FrameError('compressed', 'compressed messages are not supported (Envoy does not compress ext_proc)');
    const length = buf.readUInt32BE(pos + 1);
    if (length > this.maxMessageBytes)
      throw new FrameError('too-large', `Received message larger than max (${length} vs ${this.maxMessageBytes})`);
    return length;
  }

  private startMessage(length: number): void {
    if (this.budget !== undefined && !this.budget.reserve(length)) {
      throw new FrameError(
        'budget',
        `connection holds ${this.budget.usedBytes} bytes of unfinished messages; ${length} more would exceed ${this.budget.limitBytes}`,
      );
    }
    this.message = Buffer.allocUnsafe(length);
    this.messageFill = 0;
  }

  /** Copies what `chunk` holds of the unfinished message; returns the position after it. */
  private fillMessage(chunk: Buffer, pos: number, messages: Buffer[]): number {
    const message = this.message as Buffer;
    const take = Math.min(message.length - this.messageFill, chunk.length - pos);
    chunk.copy(message, this.messageFill, pos, pos + take);
    this.messageFill += take;
    this.bytesCopied += take;
    if (this.messageFill === message.length) {
      this.budget?.release(message.length);
      this.message = undefined;
      messages.push(message);
    }
    return pos + take;
  }
}
