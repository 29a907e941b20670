import type { Server } from 'node:net';

/**
 * Binds a server on a configured address: `host:port`, `[v6]:port` (port 0 = any free one) or
 * `unix:/path`. Resolves with the bound port (0 for a unix socket).
 */
export function listenOn(server: Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.removeListener('error', reject);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound !== null ? bound.port : 0);
    };
    if (address.startsWith('unix:')) {
      server.listen(address.slice('unix:'.length).replace(/^\/\/(?=\/)/, ''), done);
      return;
    }
    const idx = address.lastIndexOf(':');
    server.listen({ host: address.slice(0, idx).replace(/^\[|\]$/g, ''), port: Number(address.slice(idx + 1)) }, done);
  });
}
