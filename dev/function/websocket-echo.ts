/** WebSocket echo for the demo function: answers an HTTP/1.1 upgrade with 101 and sends every text or
 * binary message back (unmasked, as a server must), answers pings, and closes when the client does.
 * Unfragmented messages only: enough for tests and the demo. */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { acceptKey, encodeFrame, FrameError, FrameReader, OPCODE, type Frame } from './websocket-frames';

/** For the server's 'upgrade' event. Anything but a well-formed WebSocket handshake gets 400. */
export function handleUpgrade(functionName: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => socket.destroy());
  const key = req.headers['sec-websocket-key'];
  if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || typeof key !== 'string' || key === '') {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
      `sec-websocket-accept: ${acceptKey(key)}\r\nx-function: ${functionName}\r\n\r\n`,
  );
  const reader = new FrameReader(true);
  const onData = (chunk: Buffer): void => {
    let frames: Frame[];
    try {
      frames = reader.push(chunk);
    } catch (err) {
      // 1002 protocol error (RFC 6455 §7.4.1), then close the connection.
      const reason = err instanceof FrameError ? err.message : 'bad frame';
      socket.end(encodeFrame(OPCODE.close, closePayload(1002, reason)));
      return;
    }
    for (const frame of frames) answer(socket, frame);
  };
  if (head.length > 0) onData(head);
  socket.on('data', onData);
}

function answer(socket: Duplex, frame: Frame): void {
  if (!frame.fin || frame.opcode === 0) {
    socket.end(encodeFrame(OPCODE.close, closePayload(1003, 'fragmented messages are not supported')));
    return;
  }
  switch (frame.opcode) {
    case OPCODE.text:
    case OPCODE.binary:
      socket.write(encodeFrame(frame.opcode, frame.payload));
      return;
    case OPCODE.ping:
      socket.write(encodeFrame(OPCODE.pong, frame.payload));
      return;
    case OPCODE.close:
      socket.end(encodeFrame(OPCODE.close, frame.payload.subarray(0, 2)));
      return;
    default:
      return; // pong: nothing to answer
  }
}

function closePayload(code: number, reason: string): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(code, 0);
  return Buffer.concat([out, Buffer.from(reason.slice(0, 120))]);
}
