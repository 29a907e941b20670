import { connect } from 'node:http2';
import { startH2Server, type GrpcServer } from '../../src/extproc/h2-server';
import { HealthState } from '../../src/extproc/health';
import { check, healthClient } from '../support/health-client';

/** The node:http2 gRPC server's own protocol duties, checked with grpc-js clients and raw HTTP/2. */
let server: GrpcServer;
const health = new HealthState();
const processed: string[] = [];

beforeAll(async () => {
  server = await startH2Server(
    '127.0.0.1:0',
    (call) => {
      call.listen({
        data: (msg) => {
          processed.push('path' in msg ? msg.path : `phase ${msg.phase}`);
          call.write(Buffer.from([0x0a, 0x00]));
        },
        end: () => call.end(),
        gone: () => undefined,
      });
    },
    health,
  );
});

afterAll(() => server.stop(100));

test('health Check answers per service; unknown services get NOT_FOUND (5)', async () => {
  const client = healthClient(server.port);
  expect(await check(client, '')).toBe('SERVING');
  expect(await check(client, 'envoy.service.ext_proc.v3.ExternalProcessor')).toBe('SERVING');
  expect(await check(client, 'nope')).toBe('error 5');
  client.close();
});

test('health Watch streams the current status and every change', async () => {
  const client = healthClient(server.port);
  const call = client.Watch({ service: '' });
  const seen: string[] = [];
  call.on('data', (res: { status: string }) => seen.push(res.status));
  call.on('error', () => undefined);
  const until = async (n: number): Promise<void> => {
    for (let i = 0; i < 3_000 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };
  await until(1);
  health.set('NOT_SERVING');
  await until(2);
  health.set('SERVING');
  await until(3);
  expect(seen).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
  call.cancel();
  client.close();
});

function rawCall(path: string, body: Buffer): Promise<{ status?: string; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${server.port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    req.on('trailers', (t: Record<string, string | string[] | undefined>) => (status = String(t['grpc-status'])));
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      resolve({ status, data: Buffer.concat(chunks) });
    });
    req.end(body);
  });
}

test('an unknown method gets UNIMPLEMENTED (12)', async () => {
  expect((await rawCall('/some.Service/Method', Buffer.alloc(0))).status).toBe('12');
});

test('a malformed ProcessingRequest ends the stream with INTERNAL (13): Envoy then answers status_on_error', async () => {
  const res = await rawCall('/envoy.service.ext_proc.v3.ExternalProcessor/Process', Buffer.from([0, 0, 0, 0, 3, 0xff, 0xff, 0xff]));
  expect(res.status).toBe('13');
});

test('two messages in one DATA chunk each get their answer, framed', async () => {
  const msg = (path: string): Buffer => {
    const key = Buffer.from(':path');
    const value = Buffer.from(path);
    const hv = Buffer.concat([Buffer.from([0x0a, key.length]), key, Buffer.from([0x1a, value.length]), value]);
    const map = Buffer.concat([Buffer.from([0x0a, hv.length]), hv]);
    const headers = Buffer.concat([Buffer.from([0x0a, map.length]), map]);
    const req = Buffer.concat([Buffer.from([0x12, headers.length]), headers]);
    return Buffer.concat([Buffer.from([0, 0, 0, 0, req.length]), req]);
  };
  processed.length = 0;
  const res = await rawCall('/envoy.service.ext_proc.v3.ExternalProcessor/Process', Buffer.concat([msg('/a'), msg('/b')]));
  expect(processed).toEqual(['/a', '/b']);
  expect([...res.data]).toEqual([0, 0, 0, 0, 2, 0x0a, 0x00, 0, 0, 0, 0, 2, 0x0a, 0x00]);
  expect(res.status).toBe('0');
});
