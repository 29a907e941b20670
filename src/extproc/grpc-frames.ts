/**
 * gRPC message framing over HTTP/2 DATA: 1 byte "compressed" flag, 4 bytes big-endian length, then
 * the message. Pure, so it is tested without sockets.
 */
export const FRAME_HEADER_BYTES = 5;

export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, FRAME_HEADER_BYTES);
  return out;
}

export class FrameError extends Error {}

/** Reassembles messages from DATA chunks that may split or join them arbitrarily. */
export class FrameReader {
  private pending: Buffer | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  /** Returns the complete messages in this chunk (usually exactly one); keeps the rest for later. */
  push(chunk: Buffer): Buffer[] {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    const messages: Buffer[] = [];
    while (buf.length >= FRAME_HEADER_BYTES) {
      if (buf[0] !== 0) throw new FrameError('compressed messages are not supported (Envoy does not compress ext_proc)');
      const length = buf.readUInt32BE(1);
      if (length > this.maxMessageBytes) throw new FrameError(`message of ${length} bytes exceeds ${this.maxMessageBytes}`);
      if (buf.length < FRAME_HEADER_BYTES + length) break;
      messages.push(buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length));
      buf = buf.subarray(FRAME_HEADER_BYTES + length);
    }
    this.pending = buf.length > 0 ? buf : undefined;
    return messages;
  }
}
