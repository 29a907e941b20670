import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOn } from '../listen';

/** One admin route: returns the answer, or undefined when the path is not its own. */
export type AdminRoute = (req: IncomingMessage, url: URL) => AdminAnswer | undefined | Promise<AdminAnswer | undefined>;

export interface AdminAnswer {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A small HTTP server for operators: health, status, metrics, pre-warm. Not on the request path. */
export async function startAdminServer(address: string, routes: readonly AdminRoute[]): Promise<AdminServer> {
  const server = createServer((req, res) => {
    void handle(routes, req, res);
  });
  server.keepAliveTimeout = 5_000;
  const port = await listenOn(server, address);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(routes: readonly AdminRoute[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  let answer: AdminAnswer = { status: 404, body: 'not found\n' };
  try {
    for (const route of routes) {
      const result = await route(req, url);
      if (result !== undefined) {
        answer = result;
        break;
      }
    }
  } catch {
    answer = { status: 500, body: 'internal error\n' };
  }
  req.resume();
  res.writeHead(answer.status, { ...answer.headers, 'content-type': answer.contentType ?? 'text/plain; charset=utf-8' });
  res.end(answer.body);
}

export function json(status: number, value: unknown): AdminAnswer {
  return { status, body: `${JSON.stringify(value)}\n`, contentType: 'application/json' };
}
