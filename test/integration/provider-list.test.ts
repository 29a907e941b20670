import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProviderError } from '../../src/errors';
import { createProviderClient, type ProviderClient } from '../../src/provider/provider-client';

/** `GET /system/functions?namespace=NS` through the real client, against a scripted HTTP server. */
let server: Server;
let client: ProviderClient;
let answer: { status: number; body: string } = { status: 200, body: '[]' };
const seen: string[] = [];
const authorizations: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
    authorizations.push(req.headers.authorization ?? '');
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = createProviderClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    timeoutMs: 5_000,
    connections: 2,
    auth: () => undefined,
  });
});

afterAll(async () => {
  await client.close();
  await new Promise((resolve) => server.close(resolve));
});

test('parses every entry, with the namespace in the query', async () => {
  answer = {
    status: 200,
    body: JSON.stringify([
      { name: 'a', namespace: 'team', replicas: 1, availableReplicas: 1, labels: { 'com.openfaas.scale.min': '2' } },
      { name: 'b', namespace: 'team' }, // omitempty: zero replicas
    ]),
  };
  seen.length = 0;
  expect(await client.listStatuses('team')).toEqual([
    // Labels and annotations are the function's policy: string values only, the rest dropped.
    {
      name: 'a',
      namespace: 'team',
      replicas: 1,
      availableReplicas: 1,
      minScale: 2,
      labels: { 'com.openfaas.scale.min': '2' },
      annotations: {},
    },
    { name: 'b', namespace: 'team', replicas: 0, availableReplicas: 0, minScale: 1, labels: {}, annotations: {} },
  ]);
  expect(seen).toEqual(['GET /system/functions?namespace=team']);
});

test.each([
  ['an error status', 500, '[]'],
  ['not JSON', 200, '[{'],
  ['not an array', 200, '{"name":"a"}'],
  ['one malformed entry (all or nothing)', 200, '[{"name":"a"},{"replicas":1}]'],
])('%s is a ProviderError', async (_label, status, body) => {
  answer = { status, body };
  await expect(client.listStatuses('team')).rejects.toBeInstanceOf(ProviderError);
});

test('a list larger than a status answer is accepted (namespaces of thousands of functions)', async () => {
  const entries = Array.from({ length: 3000 }, (_, i) => ({ name: `fn-${i}`, namespace: 'big', image: 'x'.repeat(80), replicas: 0 }));
  answer = { status: 200, body: JSON.stringify(entries) };
  expect(answer.body.length).toBeGreaterThan(256 * 1024);
  expect(await client.listStatuses('big')).toHaveLength(3000);
});

test('credentials are read on every call: a rotated password is sent from the next call on', async () => {
  let password = 'old';
  const rotating = createProviderClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    timeoutMs: 5_000,
    connections: 1,
    auth: () => ({ user: 'admin', password }),
  });
  answer = { status: 200, body: '[]' };
  authorizations.length = 0;
  await rotating.listStatuses('team');
  password = 'new';
  await rotating.listStatuses('team');
  await rotating.close();
  expect(authorizations).toEqual([
    `Basic ${Buffer.from('admin:old').toString('base64')}`,
    `Basic ${Buffer.from('admin:new').toString('base64')}`,
  ]);
});
