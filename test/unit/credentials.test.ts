import { createLogger } from '../../src/logging';
import { fixedCredentials, secretsDirCredentials } from '../../src/provider/credentials';
import type { FileIo } from '../../src/reread-files';

/** The two OpenFaaS secret files, editable by the test: content and mtime change together. */
function secretsDir(user: string | undefined, password: string | undefined) {
  const files = new Map<string, { text: string; mtime: number }>();
  let clock = 1;
  const set = (name: string, text: string | undefined): void => {
    if (text === undefined) files.delete(name);
    else files.set(name, { text, mtime: clock++ });
  };
  set('/s/basic-auth-user', user);
  set('/s/basic-auth-password', password);
  let reads = 0;
  const get = (path: string) => {
    const file = files.get(path);
    if (file === undefined) throw new Error(`ENOENT: ${path}`);
    return file;
  };
  const io: FileIo = {
    stamp: (path) => String(get(path).mtime),
    read: (path) => {
      reads++;
      return get(path).text;
    },
  };
  return { io, set, reads: () => reads };
}

function captured() {
  const lines: { event?: string; level: string }[] = [];
  return {
    logger: createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as { event?: string; level: string }) }),
    lines,
  };
}

describe('provider credentials', () => {
  test('fixed credentials never change', () => {
    const source = fixedCredentials({ user: 'u', password: 'p' });
    expect([source(), source()]).toEqual([
      { user: 'u', password: 'p' },
      { user: 'u', password: 'p' },
    ]);
    expect(fixedCredentials(undefined)()).toBeUndefined();
  });

  test('a rotated secret is used from the next call on, without a restart; unchanged files are not re-read', () => {
    const dir = secretsDir('admin\n', 'old-pw\n');
    const { logger, lines } = captured();
    const source = secretsDirCredentials('/s', { user: 'admin', password: 'old-pw' }, logger, dir.io);
    expect(source()).toEqual({ user: 'admin', password: 'old-pw' });
    const reads = dir.reads();
    for (let i = 0; i < 10; i++) source();
    expect(dir.reads()).toBe(reads);
    dir.set('/s/basic-auth-password', 'new-pw\n');
    expect(source()).toEqual({ user: 'admin', password: 'new-pw' });
    expect(lines.map((l) => l.event)).toEqual(['provider.credentials_reloaded']);
    expect(JSON.stringify(lines)).not.toContain('new-pw');
  });

  test('a half-written or vanished secret keeps the last good credentials, warned about once', () => {
    const dir = secretsDir('admin', 'pw');
    const { logger, lines } = captured();
    const source = secretsDirCredentials('/s', { user: 'admin', password: 'pw' }, logger, dir.io);
    dir.set('/s/basic-auth-password', '  ');
    expect([source(), source()]).toEqual([
      { user: 'admin', password: 'pw' },
      { user: 'admin', password: 'pw' },
    ]);
    dir.set('/s/basic-auth-user', undefined);
    expect(source()).toEqual({ user: 'admin', password: 'pw' });
    expect(lines.filter((l) => l.event === 'provider.credentials_unreadable')).toHaveLength(1);
    dir.set('/s/basic-auth-user', 'admin2');
    dir.set('/s/basic-auth-password', 'pw2');
    expect(source()).toEqual({ user: 'admin2', password: 'pw2' });
  });
});
