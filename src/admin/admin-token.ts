import { timingSafeEqual } from 'node:crypto';
import { rereadOnChange, type FileIo } from '../reread-files';

/** How a request to a route that changes something fared against the admin token. */
export type TokenCheck = 'ok' | 'no-token-configured' | 'token-unreadable' | 'denied';

export interface AdminToken {
  /** Checks an `authorization` header (`Bearer <token>`). */
  check(authorization: string | undefined): TokenCheck;
}

/**
 * The bearer token in `path` (WAKER_ADMIN_TOKEN_FILE), re-read whenever the file changes, so a
 * rotated Secret takes effect without a restart. No file configured: every check says so, and the
 * routes refuse (403) instead of being open. Compared in constant time; the token is never logged.
 */
export function tokenFromFile(path: string | undefined, io?: FileIo): AdminToken {
  if (path === undefined) return { check: () => 'no-token-configured' };
  // Unlike the provider credentials, a token that can no longer be read is refused, never kept: a
  // deleted Secret must not leave the wake route open with its old token.
  const current = rereadOnChange<Buffer | undefined>([path], {
    initial: undefined,
    io,
    load: (read) => {
      const token = Buffer.from(read(path).trim());
      return token.length > 0 ? token : undefined;
    },
    failed: () => undefined,
  });
  return {
    check(authorization) {
      const token = current();
      if (token === undefined) return 'token-unreadable';
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      const given = Buffer.from(match?.[1] ?? '');
      return given.length === token.length && timingSafeEqual(given, token) ? 'ok' : 'denied';
    },
  };
}
