import { connect as tcpConnect } from 'node:net';
import type { ClientHttp2Session } from 'node:http2';
import { H2_SERVER_DEFAULTS, startH2Server, type GrpcServer, type H2ServerLimits } from '../../src/extproc/h2-server';
import { MAX_MESSAGE_BYTES } from '../../src/extproc/grpc-frames';
import { HealthState } from '../../src/extproc/health';
import type { ProcessCall } from '../../src/extproc/process-call';
import { HoldingProcessor } from '../support/holding-processor';
import { PROCESS_PATH, nextGoaway, openCall, rawSession, requestHeadersMessage, type CallResult } from '../support/raw-grpc';

/**
 * The conformance-and-attack suite of the gRPC server. The conformance answers (415, status codes)
 * are the ones grpc-js gives for the same input, measured by running this suite against the grpc-js
 * server that faas-waker had until it was removed (bench/README.md: same behaviour, 1.5x the CPU);
 * where grpc-js is lax (a compressed flag without grpc-encoding), the answer is the gRPC spec's.
 */
type Start = (process: (call: ProcessCall) => void, limits?: Partial<H2ServerLimits>) => Promise<GrpcServer>;
const start: Start = (p, limits) => startH2Server('127.0.0.1:0', p, new HealthState(), limits);

// Short, so the tests that wait them out stay quick, yet above a stall of this (loaded, shared) process
// between a client's write and the server reading it: client and server share one event loop here.
const SMALL_TIMEOUTS: Partial<H2ServerLimits> = { prefaceTimeoutMs: 1_000, firstMessageTimeoutMs: 1_000, idleTimeoutMs: 2_000 };
const HELD_STREAMS = 20_000;

jest.setTimeout(120_000); // a backstop for a loaded machine, never an expectation

describe('gRPC conformance and attacks', () => {
  const processor = new HoldingProcessor();
  let server: GrpcServer;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    server = await start(processor.handler);
    session = await rawSession(server.port);
  });

  afterAll(async () => {
    session.destroy();
    await server.stop(100);
  });

  const warm = async (s: ClientHttp2Session = session): Promise<CallResult> => {
    const call = openCall(s, PROCESS_PATH);
    call.stream.write(requestHeadersMessage('/function/warm'));
    await call.firstData;
    call.stream.end();
    return call.result;
  };

  test('a warm request gets one answer and status OK', async () => {
    expect(await warm()).toMatchObject({ httpStatus: 200, grpcStatus: '0', messages: 1 });
  });

  test('a content-type other than application/grpc gets HTTP 415', async () => {
    const call = openCall(session, PROCESS_PATH, { 'content-type': 'application/json' });
    call.stream.end(requestHeadersMessage('/function/warm'));
    expect(await call.result).toMatchObject({ httpStatus: 415, grpcStatus: undefined, messages: 0 });
  });

  test('a message over the size limit gets RESOURCE_EXHAUSTED (8) from its header alone', async () => {
    const call = openCall(session, PROCESS_PATH);
    call.stream.end(oversizeStart());
    const result = await call.result;
    expect(result.grpcStatus).toBe('8');
    expect(result.grpcMessage).toBe(`Received message larger than max (${4 * 1024 * 1024} vs ${MAX_MESSAGE_BYTES})`);
  });

  // grpc-js answers only once the client half-closes; we answer at once, so nothing is buffered.
  test('the oversize answer comes while the client still has its side open', async () => {
    const call = openCall(session, PROCESS_PATH);
    call.stream.write(oversizeStart());
    expect(await call.result).toMatchObject({ grpcStatus: '8' });
  });

  test('a message of exactly the size limit is accepted', async () => {
    const message = messageOfExactly(MAX_MESSAGE_BYTES);
    expect(message.readUInt32BE(1)).toBe(MAX_MESSAGE_BYTES);
    const call = openCall(session, PROCESS_PATH);
    call.stream.write(message);
    await call.firstData;
    call.stream.end();
    expect(await call.result).toMatchObject({ grpcStatus: '0', messages: 1 });
  });

  test('the compressed flag with an encoding we do not offer gets UNIMPLEMENTED (12)', async () => {
    const call = openCall(session, PROCESS_PATH, { 'grpc-encoding': 'snappy' });
    const message = requestHeadersMessage('/function/warm');
    message[0] = 1;
    call.stream.end(message);
    const result = await call.result;
    expect(result.grpcStatus).toBe('12');
    expect(result.grpcMessage).toBe('Received message compressed with unsupported encoding "snappy"');
  });

  test('the compressed flag without grpc-encoding: see the engine table', async () => {
    const call = openCall(session, PROCESS_PATH);
    const message = requestHeadersMessage('/function/warm');
    message[0] = 1;
    call.stream.write(message);
    const answered = Promise.race([call.firstData.then(() => 'answered'), call.result.then((r) => `grpc-status ${String(r.grpcStatus)}`)]);
    const outcome = await answered;
    call.stream.end();
    await call.result;
    expect(outcome).toBe('grpc-status 13'); // grpc-js would parse it as identity; the spec says protocol error
  });

  test('a message dripped in 128-byte DATA frames is reassembled while warm requests keep being answered', async () => {
    const message = requestHeadersMessage('/function/drip', 512 * 1024);
    const drip = openCall(session, PROCESS_PATH);
    const warmDuringDrip: CallResult[] = [];
    for (let pos = 0; pos < message.length; pos += 128) {
      drip.stream.write(message.subarray(pos, pos + 128));
      if (pos === 128 * 1024) warmDuringDrip.push(await warm());
      // One write per turn of the event loop, so each 128-byte slice goes out as its own DATA frame.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await drip.firstData;
    drip.stream.end();
    expect(warmDuringDrip).toEqual([expect.objectContaining({ grpcStatus: '0', messages: 1 })]);
    expect(await drip.result).toMatchObject({ grpcStatus: '0', messages: 1 });
  });

  test(`${HELD_STREAMS} held streams on one connection are all answered when released`, async () => {
    const held = await rawSession(server.port);
    const calls = Array.from({ length: HELD_STREAMS }, () => {
      const call = openCall(held, PROCESS_PATH);
      call.stream.write(requestHeadersMessage('/hold/x'));
      return call;
    });
    await processor.untilHeld(HELD_STREAMS);
    expect(processor.releaseAll()).toBe(HELD_STREAMS);
    for (const call of calls) void call.firstData.then(() => call.stream.end());
    const results = await Promise.all(calls.map((c) => c.result));
    expect(results.filter((r) => r.grpcStatus === '0' && r.messages === 1)).toHaveLength(HELD_STREAMS);
    expect(processor.goneWhileHeld).toBe(0);
    held.destroy();
  });

  test('unfinished messages are bounded per connection: the stream that passes the budget fails, the others go on', async () => {
    const limited = await start(processor.handler, { maxMessageBytes: 64 * 1024, maxConnectionBufferedBytes: 4 * 64 * 1024 });
    const s = await rawSession(limited.port);
    const message = requestHeadersMessage('/function/big', 60 * 1024);
    const calls = Array.from({ length: 5 }, () => openCall(s, PROCESS_PATH));
    for (const call of calls) call.stream.write(message.subarray(0, 1000));
    const over = calls[4];
    expect((await over?.result)?.grpcStatus).toBe('8');
    for (const call of calls.slice(0, 4)) call.stream.write(message.subarray(1000));
    await Promise.all(calls.slice(0, 4).map((c) => c.firstData.then(() => c.stream.end())));
    const results = await Promise.all(calls.slice(0, 4).map((c) => c.result));
    expect(results.map((r) => r.grpcStatus)).toEqual(['0', '0', '0', '0']);
    // The finished messages gave their bytes back: a new one fits again.
    expect(await warmLarge(s, message)).toMatchObject({ grpcStatus: '0', messages: 1 });
    s.destroy();
    await limited.stop(100);
  });

  test('a connection that never sends the HTTP/2 preface is closed after the preface timeout', async () => {
    const limited = await start(processor.handler, SMALL_TIMEOUTS);
    const socket = tcpConnect(limited.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(socket.destroyed).toBe(true);
    await limited.stop(100);
  });

  test('a silent stream ends with DEADLINE_EXCEEDED (4); a held stream opened before it is untouched', async () => {
    const limited = await start(processor.handler, SMALL_TIMEOUTS);
    const s = await rawSession(limited.port);
    const held = openCall(s, PROCESS_PATH);
    held.stream.write(requestHeadersMessage('/hold/y'));
    await processor.untilHeld(1);
    const silent = openCall(s, PROCESS_PATH);
    const partial = openCall(s, PROCESS_PATH);
    partial.stream.write(requestHeadersMessage('/function/warm').subarray(0, 8));
    expect(await silent.result).toMatchObject({ grpcStatus: '4' });
    expect(await partial.result).toMatchObject({ grpcStatus: '4' });
    // Both deadlines passed after the held stream's would have: it must still be open.
    expect([held.stream.closed, processor.goneWhileHeld]).toEqual([false, 0]);
    processor.releaseAll();
    await held.firstData;
    held.stream.end();
    expect(await held.result).toMatchObject({ grpcStatus: '0', messages: 1 });
    s.destroy();
    await limited.stop(100);
  });

  test('a connection without streams gets GOAWAY(NO_ERROR) after the idle timeout; one with a held stream does not', async () => {
    // Long enough that the busy connection's first stream surely arrives before it counts as idle.
    const limited = await start(processor.handler, { ...SMALL_TIMEOUTS, idleTimeoutMs: 4_000 });
    const busy = await rawSession(limited.port);
    const held = openCall(busy, PROCESS_PATH);
    held.stream.write(requestHeadersMessage('/hold/z'));
    await processor.untilHeld(1);
    let busyGoaway = false;
    busy.on('goaway', () => (busyGoaway = true));
    const idle = await rawSession(limited.port);
    expect(await warm(idle)).toMatchObject({ grpcStatus: '0' });
    expect(await nextGoaway(idle)).toBe(0);
    // The busy connection has existed longer than the idle one, with a stream open throughout.
    expect([busyGoaway, held.stream.closed]).toEqual([false, false]);
    processor.releaseAll();
    await held.firstData;
    held.stream.end();
    expect(await held.result).toMatchObject({ grpcStatus: '0', messages: 1 });
    idle.destroy();
    busy.destroy();
    await limited.stop(100);
  });

  test('defaults are the documented ones', () => {
    expect(H2_SERVER_DEFAULTS).toEqual({
      maxMessageBytes: 1024 * 1024,
      maxConnectionBufferedBytes: 16 * 1024 * 1024,
      prefaceTimeoutMs: 10_000,
      firstMessageTimeoutMs: 10_000,
      idleTimeoutMs: 300_000,
      maxSessionMemoryMb: 256,
    });
  });
});

async function warmLarge(s: ClientHttp2Session, message: Buffer): Promise<CallResult> {
  const call = openCall(s, PROCESS_PATH);
  call.stream.write(message);
  await call.firstData;
  call.stream.end();
  return call.result;
}

/** A request_headers message whose gRPC length is exactly `bytes` (padding adjusted around varint sizes). */
function messageOfExactly(bytes: number): Buffer {
  let pad = bytes - 64;
  for (let i = 0; i < 8; i++) {
    const message = requestHeadersMessage('/function/warm', pad);
    const length = message.length - 5;
    if (length === bytes) return message;
    pad += bytes - length;
  }
  throw new Error(`no padding gives a message of ${bytes} bytes`);
}

/** The header of a 4 MiB message and its first 1,000 bytes. */
function oversizeStart(): Buffer {
  const header = Buffer.from([0, 0, 0, 0, 0]);
  header.writeUInt32BE(4 * 1024 * 1024, 1);
  return Buffer.concat([header, Buffer.alloc(1000)]);
}
