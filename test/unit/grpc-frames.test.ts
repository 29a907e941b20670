import { FrameError, FrameReader, frame } from '../../src/extproc/grpc-frames';
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

  test('compressed flag and oversized messages are refused', () => {
    expect(() => new FrameReader(1024).push(Buffer.from([1, 0, 0, 0, 0]))).toThrow(FrameError);
    expect(() => new FrameReader(10).push(Buffer.from([0, 0, 0, 0, 11]))).toThrow(/exceeds 10/);
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
