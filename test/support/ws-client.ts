import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { acceptKey, encodeFrame, FrameReader, OPCODE, type Frame } from '../../dev/function/websocket-frames';

/**
 * A minimal WebSocket client over a raw socket (Node 20 has no WebSocket client): the RFC 6455
 * handshake, masked frames out, frames in. Loopback only. Enough to prove an upgrade went through
 * Envoy and faas-waker and that messages flow both ways.
 */
export interface HandshakeAnswer {
  readonly status: number;
  /** Lower-cased header names. */
  readonly headers: Record<string, string>;
  /** Whether sec-websocket-accept matches the key we sent. */
  readonly acceptOk: boolean;
}

export interface WsClient {
  /** Resolves with the server's answer to the upgrade request (101, or e.g. a 503 from Envoy). */
  readonly handshake: Promise<HandshakeAnswer>;
  sendText(text: string): void;
  sendBinary(data: Buffer): void;
  /** The next frame from the server (after the handshake); rejects if the connection closes first. */
  nextFrame(timeoutMs?: number): Promise<Frame>;
  /** Sends a close frame (1000) and resolves when the server's close frame or the socket end arrives. */
  close(): Promise<void>;
  destroy(): void;
}

export function openWebSocket(port: number, path: string, extraHeaders: Record<string, string> = {}): WsClient {
  const key = randomBytes(16).toString('base64');
  const socket: Socket = connect({ host: '127.0.0.1', port });
  const reader = new FrameReader(false);
  const frames: Frame[] = [];
  const waiters: { resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];
  let ended = false;
  let head = Buffer.alloc(0);
  let upgraded = false;

  const fail = (err: Error): void => {
    ended = true;
    for (const w of waiters.splice(0)) w.reject(err);
  };
  const deliver = (chunk: Buffer): void => {
    for (const frame of reader.push(chunk)) {
      const waiter = waiters.shift();
      if (waiter === undefined) frames.push(frame);
      else waiter.resolve(frame);
    }
  };

  const handshake = new Promise<HandshakeAnswer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) {
        deliver(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine = '', ...lines] = head.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      upgraded = true;
      const rest = head.subarray(end + 4);
      resolve({ status, headers, acceptOk: headers['sec-websocket-accept'] === acceptKey(key) });
      // After a non-101 answer the rest is an HTTP body, not frames: keep it out of the frame reader.
      if (status === 101 && rest.length > 0) deliver(rest);
    });
    socket.once('error', (err) => {
      reject(err);
      fail(err);
    });
    socket.once('close', () => {
      reject(new Error('connection closed before the handshake answer'));
      fail(new Error('connection closed'));
    });
  });
  handshake.catch(() => undefined);

  const request = [
    `GET ${path} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    'upgrade: websocket',
    'connection: Upgrade',
    `sec-websocket-key: ${key}`,
    'sec-websocket-version: 13',
    ...Object.entries(extraHeaders).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  socket.write(request);

  const send = (opcode: number, payload: Buffer): void => {
    socket.write(encodeFrame(opcode, payload, randomBytes(4)));
  };

  return {
    handshake,
    sendText: (text) => send(OPCODE.text, Buffer.from(text, 'utf8')),
    sendBinary: (data) => send(OPCODE.binary, data),
    nextFrame: (timeoutMs = 30_000) => {
      const queued = frames.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (ended) return Promise.reject(new Error('connection closed'));
      return new Promise<Frame>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no WebSocket frame within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          resolve: (f) => {
            clearTimeout(timer);
            resolve(f);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (ended) {
          resolve();
          return;
        }
        socket.once('close', () => resolve());
        const code = Buffer.alloc(2);
        code.writeUInt16BE(1000, 0);
        send(OPCODE.close, code);
      }),
    destroy: () => socket.destroy(),
  };
}
