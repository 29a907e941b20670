/** The hand-written wire codecs of the demo function (dev/function): WebSocket frames and gRPC framing. */
import { grpcFrame, grpcMessages } from '../../dev/function/grpc-echo';
import { acceptKey, encodeFrame, FrameError, FrameReader, MAX_PAYLOAD_BYTES, OPCODE } from '../../dev/function/websocket-frames';

describe('WebSocket frames', () => {
  it('computes the accept key of RFC 6455 §1.3', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('encodes the unmasked and masked "Hello" examples of RFC 6455 §5.7', () => {
    expect(encodeFrame(OPCODE.text, Buffer.from('Hello')).toString('hex')).toBe('810548656c6c6f');
    const mask = Buffer.from('37fa213d', 'hex');
    expect(encodeFrame(OPCODE.text, Buffer.from('Hello'), mask).toString('hex')).toBe('818537fa213d7f9f4d5158');
  });

  it.each([0, 125, 126, 65_535, 65_536, 70_000])('round-trips a %i-byte payload, masked and in 4 KiB chunks', (len) => {
    const payload = Buffer.alloc(len, 0x5a);
    const wire = encodeFrame(OPCODE.binary, payload, Buffer.from([1, 2, 3, 4]));
    const reader = new FrameReader(true);
    const frames = [];
    for (let i = 0; i < wire.length; i += 4096) frames.push(...reader.push(wire.subarray(i, i + 4096)));
    expect(frames).toHaveLength(1);
    expect(frames[0]?.fin).toBe(true);
    expect(frames[0]?.opcode).toBe(OPCODE.binary);
    expect(frames[0]?.payload.equals(payload)).toBe(true);
  });

  it('returns several frames from one chunk and keeps a partial one for later', () => {
    const a = encodeFrame(OPCODE.text, Buffer.from('a'));
    const b = encodeFrame(OPCODE.ping, Buffer.from('bb'));
    const reader = new FrameReader(false);
    const both = Buffer.concat([a, b]);
    expect(reader.push(both.subarray(0, a.length + 1)).map((f) => f.payload.toString())).toEqual(['a']);
    expect(reader.push(both.subarray(a.length + 1)).map((f) => [f.opcode, f.payload.toString()])).toEqual([[OPCODE.ping, 'bb']]);
  });

  it('refuses frames masked the wrong way, reserved bits and oversized lengths', () => {
    expect(() => new FrameReader(true).push(encodeFrame(OPCODE.text, Buffer.from('x')))).toThrow(FrameError);
    expect(() => new FrameReader(false).push(encodeFrame(OPCODE.text, Buffer.from('x'), Buffer.alloc(4)))).toThrow(FrameError);
    expect(() => new FrameReader(false).push(Buffer.from([0xc1, 0x00]))).toThrow(/reserved bits/);
    const huge = Buffer.alloc(10);
    huge[0] = 0x82;
    huge[1] = 0x7f;
    huge.writeBigUInt64BE(BigInt(MAX_PAYLOAD_BYTES + 1), 2);
    expect(() => new FrameReader(false).push(huge)).toThrow(/exceeds/);
  });
});

describe('gRPC framing', () => {
  it('frames a message with a zero flag and a big-endian length, and reads it back', () => {
    const wire = grpcFrame(Buffer.from('hi'));
    expect(wire.toString('hex')).toBe('00000000026869');
    expect(grpcMessages(wire)).toEqual([Buffer.from('hi')]);
    expect(grpcMessages(Buffer.concat([wire, grpcFrame(Buffer.alloc(0))]))).toEqual([Buffer.from('hi'), Buffer.alloc(0)]);
  });

  it('reports truncated and compressed input instead of guessing', () => {
    expect(grpcMessages(Buffer.from('000000', 'hex'))).toBe('truncated message prefix');
    expect(grpcMessages(Buffer.from('000000000568', 'hex'))).toBe('truncated message');
    expect(grpcMessages(Buffer.from('010000000000', 'hex'))).toBe('compressed messages are not supported');
  });
});
