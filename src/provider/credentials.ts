import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Credentials } from '../config/load';
import type { Logger } from '../logging';

/** The provider's basic-auth credentials as of now (undefined: none). Called once per provider call. */
export type CredentialsSource = () => Credentials | undefined;

export interface SecretFileIo {
  readonly mtimeMs: (path: string) => number;
  readonly read: (path: string) => string;
}

const realIo: SecretFileIo = { mtimeMs: (path) => statSync(path).mtimeMs, read: (path) => readFileSync(path, 'utf8') };

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
export function secretsDirCredentials(dir: string, initial: Credentials, logger: Logger, io: SecretFileIo = realIo): CredentialsSource {
  const userFile = join(dir, 'basic-auth-user');
  const passwordFile = join(dir, 'basic-auth-password');
  let current = initial;
  let stamp = '';
  let warned = false;
  return () => {
    try {
      const next = `${io.mtimeMs(userFile)}/${io.mtimeMs(passwordFile)}`;
      if (next === stamp) return current;
      const { user, password } = readBasicAuth(dir, io.read);
      stamp = next;
      if (user !== current.user || password !== current.password)
        logger.info({ event: 'provider.credentials_reloaded' }, 'provider credentials changed on disk: using the new ones');
      current = { user, password };
      warned = false;
    } catch (err) {
      if (!warned)
        logger.warn(
          { event: 'provider.credentials_unreadable', err: err instanceof Error ? err.message.split('\n')[0] : String(err) },
          'cannot re-read the provider credentials: keeping the last good ones',
        );
      warned = true;
    }
    return current;
  };
}
