import { timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/** How a request to a route that changes something fared against the admin token. */
export type TokenCheck = 'ok' | 'no-token-configured' | 'token-unreadable' | 'denied';

export interface AdminToken {
  /** Checks an `authorization` header (`Bearer <token>`). */
  check(authorization: string | undefined): TokenCheck;
}

export interface TokenFileIo {
  readonly mtimeMs: (path: string) => number;
  readonly read: (path: string) => string;
}

const realIo: TokenFileIo = { mtimeMs: (path) => statSync(path).mtimeMs, read: (path) => readFileSync(path, 'utf8') };

/**
 * The bearer token in `path` (WAKER_ADMIN_TOKEN_FILE), re-read whenever the file changes, so a
 * rotated Secret takes effect without a restart. No file configured: every check says so, and the
 * routes refuse (403) instead of being open. Compared in constant time; the token is never logged.
 */
export function tokenFromFile(path: string | undefined, io: TokenFileIo = realIo): AdminToken {
  let cached: { mtimeMs: number; token: Buffer } | undefined;
  const current = (): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      const mtimeMs = io.mtimeMs(path);
      if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, token: Buffer.from(io.read(path).trim()) };
      return cached.token.length > 0 ? cached.token : undefined;
    } catch {
      cached = undefined;
      return undefined;
    }
  };
  return {
    check(authorization) {
      if (path === undefined) return 'no-token-configured';
      const token = current();
      if (token === undefined) return 'token-unreadable';
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      const given = Buffer.from(match?.[1] ?? '');
      return given.length === token.length && timingSafeEqual(given, token) ? 'ok' : 'denied';
    },
  };
}
