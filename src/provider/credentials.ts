import { join } from 'node:path';
import type { Credentials } from '../config/load';
import { firstLine } from '../errors';
import type { Logger } from '../logging';
import { rereadOnChange, type FileIo } from '../reread-files';

/** The provider's basic-auth credentials as of now (undefined: none). Called once per provider call. */
export type CredentialsSource = () => Credentials | undefined;

/**
 * Reads OpenFaaS-style `basic-auth-user` and `basic-auth-password` from `dir`, trimmed; throws on an
 * unreadable or empty file. Shared by start-up validation and the re-read below.
 */
export function readBasicAuth(dir: string, read: (path: string) => string): Credentials {
  const user = read(join(dir, 'basic-auth-user')).trim();
  const password = read(join(dir, 'basic-auth-password')).trim();
  if (user === '' || password === '') throw new Error('empty file');
  return { user, password };
}

export function fixedCredentials(credentials: Credentials | undefined): CredentialsSource {
  return () => credentials;
}

/**
 * OpenFaaS-style `basic-auth-user` and `basic-auth-password` files in `dir`, re-read whenever either
 * changes: a rotated Secret (the kubelet swaps the files) takes effect without a restart. A re-read
 * that fails or finds an empty file keeps the last good credentials and says so once; config
 * validation already made sure the files were good at start.
 */
export function secretsDirCredentials(dir: string, initial: Credentials, logger: Logger, io?: FileIo): CredentialsSource {
  return rereadOnChange([join(dir, 'basic-auth-user'), join(dir, 'basic-auth-password')], {
    initial,
    io,
    load: (read) => readBasicAuth(dir, read),
    loaded: (next, previous) => {
      if (next.user === previous.user && next.password === previous.password) return previous;
      logger.info({ event: 'provider.credentials_reloaded' }, 'provider credentials changed on disk: using the new ones');
      return next;
    },
    failed: (err, last, first) => {
      if (first)
        logger.warn(
          { event: 'provider.credentials_unreadable', err: firstLine(err) },
          'cannot re-read the provider credentials: keeping the last good ones',
        );
      return last;
    },
  });
}
