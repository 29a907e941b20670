import { ByteBudget, FrameError, FrameReader, frame } from '../../src/extproc/grpc-frames';
import { decodeHealthRequest, encodeHealthResponse, HealthState } from '../../src/extproc/health';

describe('gRPC framing', () => {
  test('frame prefixes flag 0 and the big-endian length', () => {
    expect([...frame(Buffer.from([0x0a, 0x00]))]).toEqual([0, 0, 0, 0, 2, 0x0a, 0x00]);
    expect(frame(Buffer.alloc(300)).readUInt32BE(1)).toBe(300);
  });

  test('messages split across chunks and joined in one chunk are all recovered, in order', () => {
    const a = frame(Buffer.from('first'));
    const b = frame(Buffer.from('second message'));
    const c = frame(Buffer.alloc(0));
    const all = Buffer.concat([a, b, c]);
    for (const cut of [1, 4, 5, 7, a.length, a.length + 3, all.length - 1]) {
      const reader = new FrameReader(1024);
      const out = [...reader.push(all.subarray(0, cut)), ...reader.push(all.subarray(cut))];
      expect(out.map((m) => m.toString())).toEqual(['first', 'second message', '']);
    }
  });

  test('one byte at a time', () => {
    const reader = new FrameReader(1024);
    const bytes = frame(Buffer.from('xyz'));
    const out: Buffer[] = [];
    for (const byte of bytes) out.push(...reader.push(Buffer.from([byte])));
    expect(out.map((m) => m.toString())).toEqual(['xyz']);
  });

  test('compressed flag and oversized messages are refused, each with its kind', () => {
    const kindOf = (reader: FrameReader, bytes: number[]): string | undefined => {
      try {
        reader.push(Buffer.from(bytes));
      } catch (err) {
        return err instanceof FrameError ? err.kind : 'other';
      }
      return undefined;
    };
    expect(kindOf(new FrameReader(1024), [1, 0, 0, 0, 0])).toBe('compressed');
    expect(kindOf(new FrameReader(10), [0, 0, 0, 0, 11])).toBe('too-large');
    expect(() => new FrameReader(10).push(Buffer.from([0, 0, 0, 0, 11]))).toThrow(/larger than max \(11 vs 10\)/);
  });

  test('an oversized header is refused before anything is buffered, even when the header is split', () => {
    const budget = new ByteBudget(1 << 30);
    const reader = new FrameReader(1024, budget);
    reader.push(Buffer.from([0, 0, 0]));
    expect(() => reader.push(Buffer.from([0x10, 0]))).toThrow(FrameError);
    expect([reader.pendingBytes, budget.usedBytes]).toEqual([0, 0]);
  });

  test('a whole message in one chunk is a view of that chunk: nothing copied (the warm path)', () => {
    const chunk = frame(Buffer.from('warm request'));
    const reader = new FrameReader(1024, new ByteBudget(0));
    const [message] = reader.push(chunk);
    expect(message?.toString()).toBe('warm request');
    expect(message?.buffer).toBe(chunk.buffer);
    expect(reader.bytesCopied).toBe(0);
  });

  test.each([1, 7, 128, 4096])('a 2 MiB message dripped in %i-byte chunks: every byte copied at most once', (size) => {
    const body = Buffer.alloc(2 * 1024 * 1024, 0x61);
    body[body.length - 1] = 0x62;
    const bytes = frame(body);
    const reader = new FrameReader(4 * 1024 * 1024);
    const out: Buffer[] = [];
    for (let pos = 0; pos < bytes.length; pos += size) out.push(...reader.push(bytes.subarray(pos, pos + size)));
    expect(out).toHaveLength(1);
    expect(out[0]?.equals(body)).toBe(true);
    expect(reader.bytesCopied).toBeLessThanOrEqual(body.length);
  });

  test('a chunk ending one message and starting the next: the first is a view, the rest is kept', () => {
    const all = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.from('two-two'))]);
    const reader = new FrameReader(1024);
    const first = reader.push(all.subarray(0, 14));
    expect(first.map((m) => m.toString())).toEqual(['one']);
    expect(reader.pendingBytes).toBe(7);
    expect(reader.push(all.subarray(14)).map((m) => m.toString())).toEqual(['two-two']);
    expect(reader.pendingBytes).toBe(0);
  });

  test('unfinished messages draw on the shared budget; completion and dispose give it back', () => {
    const budget = new ByteBudget(100);
    const a = new FrameReader(1024, budget);
    const b = new FrameReader(1024, budget);
    a.push(frame(Buffer.alloc(60)).subarray(0, 10));
    expect(budget.usedBytes).toBe(60);
    expect(() => b.push(frame(Buffer.alloc(50)).subarray(0, 10))).toThrow(/unfinished messages/);
    expect(budget.usedBytes).toBe(60);
    a.push(frame(Buffer.alloc(60)).subarray(10));
    expect(budget.usedBytes).toBe(0);
    b.push(frame(Buffer.alloc(50)).subarray(0, 10));
    expect(budget.usedBytes).toBe(50);
    b.dispose();
    expect(budget.usedBytes).toBe(0);
  });
});

describe('grpc.health.v1 wire', () => {
  test.each([
    ['SERVING', [0x08, 1]],
    ['NOT_SERVING', [0x08, 2]],
    ['SERVICE_UNKNOWN', [0x08, 3]],
  ] as const)('%s encodes as %j', (status, bytes) => {
    expect([...encodeHealthResponse(status)]).toEqual(bytes);
  });

  test('the service name is read from field 1; empty request means ""', () => {
    const name = 'envoy.service.ext_proc.v3.ExternalProcessor';
    expect(decodeHealthRequest(Buffer.concat([Buffer.from([0x0a, name.length]), Buffer.from(name)]))).toBe(name);
    expect(decodeHealthRequest(Buffer.alloc(0))).toBe('');
    expect(() => decodeHealthRequest(Buffer.from([0x0a, 5, 0x61]))).toThrow(/truncated/);
  });

  test('HealthState answers for known services only and tells subscribers about changes once', () => {
    const health = new HealthState();
    const seen: string[] = [];
    health.subscribe((s) => seen.push(s));
    expect(health.get('')).toBe('SERVING');
    expect(health.get('other')).toBeUndefined();
    health.set('NOT_SERVING');
    health.set('NOT_SERVING');
    expect(health.get('envoy.service.ext_proc.v3.ExternalProcessor')).toBe('NOT_SERVING');
    expect(seen).toEqual(['NOT_SERVING']);
  });
});
