/** The small part of RFC 6455 the demo function and the tests need: the handshake key and frames
 * (text, binary, close, ping, pong; no extensions, no fragmentation). Pure, so both sides share it. */
import { createHash } from 'node:crypto';

const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Larger frames are refused: the demo echoes small messages, and a bound keeps a bad peer from growing the buffer. */
export const MAX_PAYLOAD_BYTES = 1 << 20;

export const OPCODE = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + HANDSHAKE_GUID)
    .digest('base64');
}

/** One final frame; `mask` (4 bytes) is required from clients (§5.3) and forbidden from servers. */
export function encodeFrame(opcode: number, payload: Buffer, mask?: Buffer): Buffer {
  const len = payload.length;
  const extra = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const header = Buffer.alloc(2 + extra + (mask === undefined ? 0 : 4));
  header[0] = 0x80 | (opcode & 0x0f);
  const lenBits = extra === 0 ? len : extra === 2 ? 126 : 127;
  header[1] = (mask === undefined ? 0 : 0x80) | lenBits;
  if (extra === 2) header.writeUInt16BE(len, 2);
  if (extra === 8) header.writeBigUInt64BE(BigInt(len), 2);
  if (mask === undefined) return Buffer.concat([header, payload]);
  mask.copy(header, 2 + extra);
  return Buffer.concat([header, applyMask(payload, mask)]);
}

function applyMask(data: Buffer, mask: Buffer): Buffer {
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] ?? 0) ^ (mask[i & 3] ?? 0);
  return out;
}

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/**
 * Accumulates bytes from a socket and returns the complete frames in them, unmasked. `requireMask`:
 * a server must refuse unmasked client frames, a client must refuse masked server frames (§5.1).
 */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly requireMask: boolean) {}

  push(chunk: Buffer): Frame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (frame === undefined) return frames;
      frames.push(frame);
    }
  }

  private next(): Frame | undefined {
    const b = this.buffered;
    if (b.length < 2) return undefined;
    const first = b[0] ?? 0;
    const second = b[1] ?? 0;
    if ((first & 0x70) !== 0) throw new FrameError('reserved bits set (no extension was negotiated)');
    const masked = (second & 0x80) !== 0;
    if (masked !== this.requireMask) throw new FrameError(masked ? 'masked frame from a server' : 'unmasked frame from a client');
    let len = second & 0x7f;
    let offset = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      offset = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MAX_PAYLOAD_BYTES)) throw new FrameError(`frame of ${big} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
      len = Number(big);
      offset = 10;
    }
    if (len > MAX_PAYLOAD_BYTES) throw new FrameError(`frame of ${len} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
    const maskBytes = masked ? 4 : 0;
    if (b.length < offset + maskBytes + len) return undefined;
    const raw = b.subarray(offset + maskBytes, offset + maskBytes + len);
    const payload = masked ? applyMask(raw, b.subarray(offset, offset + 4)) : Buffer.from(raw);
    this.buffered = b.subarray(offset + maskBytes + len);
    return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload };
  }
}
