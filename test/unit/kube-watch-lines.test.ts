import { KubeUnavailableError, LineSplitter, parseWatchLine } from '../../src/provider/kubernetes/kube-client';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('LineSplitter', () => {
  test('one chunk with several lines, blank lines skipped, CRLF trimmed', () => {
    const s = new LineSplitter(1024);
    expect(s.push(b('{"a":1}\n\n{"b":2}\r\n{"c"'))).toEqual(['{"a":1}', '{"b":2}']);
    expect(s.push(b(':3}\n'))).toEqual(['{"c":3}']);
  });

  test('an event spanning many chunks, split inside a multi-byte UTF-8 character', () => {
    const s = new LineSplitter(1024);
    const line = b('{"name":"café ☕"}\n');
    const out: string[] = [];
    for (let i = 0; i < line.length; i++) out.push(...s.push(line.subarray(i, i + 1)));
    expect(out).toEqual(['{"name":"café ☕"}']);
  });

  test('a chunk that is exactly one newline ends the pending line', () => {
    const s = new LineSplitter(1024);
    expect(s.push(b('{"x":1}'))).toEqual([]);
    expect(s.push(b('\n'))).toEqual(['{"x":1}']);
    expect(s.push(b(''))).toEqual([]);
  });

  test('a line longer than the bound throws, whether it arrives in pieces or at once', () => {
    const pieces = new LineSplitter(10);
    expect(pieces.push(b('12345'))).toEqual([]);
    expect(() => pieces.push(b('678901'))).toThrow(KubeUnavailableError);
    expect(() => new LineSplitter(10).push(b('12345678901\n'))).toThrow('watch event larger than 10 bytes');
    // Exactly at the bound is fine.
    expect(new LineSplitter(10).push(b('1234567890\n'))).toEqual(['1234567890']);
  });
});

describe('parseWatchLine', () => {
  test.each(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK'] as const)('%s is an event', (type) => {
    expect(parseWatchLine(JSON.stringify({ type, object: { metadata: { name: 'a', resourceVersion: '3' } } }))).toEqual({
      type,
      object: { metadata: { name: 'a', resourceVersion: '3' } },
    });
  });

  test('an ERROR event with Status code 410 is gone; other codes are errors with the message', () => {
    expect(
      parseWatchLine(
        JSON.stringify({
          type: 'ERROR',
          object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' },
        }),
      ),
    ).toEqual({ reason: 'gone' });
    expect(parseWatchLine(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 500, message: 'internal error' } }))).toEqual({
      reason: 'error',
      status: 500,
      message: 'internal error',
    });
    expect(parseWatchLine(JSON.stringify({ type: 'ERROR', object: { kind: 'Status' } }))).toEqual({
      reason: 'error',
      status: 500,
      message: '',
    });
  });

  test('unknown event types are skipped; garbage is a broken stream', () => {
    expect(parseWatchLine(JSON.stringify({ type: 'SOMETHING_NEW', object: {} }))).toBeUndefined();
    expect(() => parseWatchLine('{not json')).toThrow(KubeUnavailableError);
    expect(() => parseWatchLine('{"type":"ADDED"}')).toThrow('without type or object');
    expect(() => parseWatchLine('[]')).toThrow(KubeUnavailableError);
  });
});
