import { readFileSync, statSync } from 'node:fs';

/** How the files are seen: injected, so tests rotate files without a disk. */
export interface FileIo {
  /** Changes whenever the file's content may have: inode (a swapped Secret symlink), mtime, size. */
  readonly stamp: (path: string) => string;
  readonly read: (path: string) => string;
}

export const realFileIo: FileIo = {
  stamp: (path) => {
    const s = statSync(path);
    return `${s.ino}:${s.mtimeMs}:${s.size}`;
  },
  read: (path) => readFileSync(path, 'utf8'),
};

interface RereadHooks<T> {
  /** Reads the files (through `read`) into a value; throws when they are unusable. */
  readonly load: (read: (path: string) => string) => T;
  /**
   * The value to use after a failed load: the last good one (rotation half done) or a refusal (a
   * token that is gone must not keep working). `first` is true for the first failure of a streak,
   * so a warning is logged once, not per call.
   */
  readonly failed: (err: unknown, last: T, first: boolean) => T;
  /** The value to keep after a load (default: the loaded one); e.g. the previous one when nothing changed. */
  readonly loaded?: (next: T, previous: T) => T;
  readonly io?: FileIo;
}

/**
 * `initial`: the last good value before any load (start-up read it; the first call loads again).
 * `loadNow`: stamp and load at once, throwing if the files are unusable (there is nothing to keep).
 */
export type RereadOptions<T> = RereadHooks<T> & ({ readonly initial: T } | { readonly loadNow: true });

/**
 * A value read from files that may be rotated in place (a kubelet-mounted Secret, cert-manager):
 * every call stats the files, and reads them again only when a stamp changed, so a rotation takes
 * effect on the next call without a restart and an unchanged file costs one stat. A failed load is
 * retried on every call until one succeeds.
 */
export function rereadOnChange<T>(paths: readonly string[], options: RereadOptions<T>): () => T {
  const io = options.io ?? realFileIo;
  const stampNow = (): string => paths.map((path) => io.stamp(path)).join('/');
  const read = (path: string): string => io.read(path);
  // Stamped before reading: a change made while the files are read is seen by the next call.
  let stamp: string | undefined = 'loadNow' in options ? stampNow() : undefined; // undefined: load on the next call
  let current = 'loadNow' in options ? options.load(read) : options.initial;
  let failing = false;
  return () => {
    try {
      const next = stampNow();
      if (next === stamp) return current;
      const value = options.load(read);
      stamp = next;
      current = options.loaded === undefined ? value : options.loaded(value, current);
      failing = false;
    } catch (err) {
      stamp = undefined;
      current = options.failed(err, current, !failing);
      failing = true;
    }
    return current;
  };
}
