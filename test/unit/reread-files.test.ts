import { rereadOnChange, type FileIo } from '../../src/reread-files';

/** Files the test rewrites; every write changes the stamp, like a swapped Secret. */
function disk(initial: Record<string, string>) {
  const files = new Map(Object.entries(initial).map(([path, text]) => [path, { text, version: 1 }]));
  let reads = 0;
  const io: FileIo = {
    stamp: (path) => {
      const file = files.get(path);
      if (file === undefined) throw new Error(`ENOENT: ${path}`);
      return String(file.version);
    },
    read: (path) => {
      reads++;
      const file = files.get(path);
      if (file === undefined) throw new Error(`ENOENT: ${path}`);
      return file.text;
    },
  };
  return {
    io,
    write: (path: string, text: string | undefined) => {
      const version = (files.get(path)?.version ?? 0) + 1;
      if (text === undefined) files.delete(path);
      else files.set(path, { text, version });
    },
    reads: () => reads,
  };
}

const joined = (read: (path: string) => string): string => {
  const value = `${read('/a')}+${read('/b')}`;
  if (value.includes('bad')) throw new Error('unusable');
  return value;
};

test('loads on the first call, then only when a stamp changed', () => {
  const d = disk({ '/a': '1', '/b': '2' });
  const value = rereadOnChange(['/a', '/b'], { initial: 'start', io: d.io, load: joined, failed: (_e, last) => last });
  expect(value()).toBe('1+2');
  const reads = d.reads();
  for (let i = 0; i < 5; i++) expect(value()).toBe('1+2');
  expect(d.reads()).toBe(reads);
  d.write('/b', '3');
  expect(value()).toBe('1+3');
});

test('a failed load answers what `failed` says, flags only the first failure of a streak, and is retried on every call', () => {
  const d = disk({ '/a': '1', '/b': '2' });
  const failures: boolean[] = [];
  const value = rereadOnChange(['/a', '/b'], {
    initial: 'start',
    io: d.io,
    load: joined,
    failed: (_e, last, first) => (failures.push(first), last),
  });
  expect(value()).toBe('1+2');
  d.write('/a', 'bad');
  expect([value(), value()]).toEqual(['1+2', '1+2']);
  d.write('/b', undefined); // gone: the stat fails
  expect(value()).toBe('1+2');
  expect(failures).toEqual([true, false, false]);
  d.write('/a', '5');
  d.write('/b', '6');
  expect(value()).toBe('5+6');
  d.write('/a', 'bad');
  value();
  expect(failures).toEqual([true, false, false, true]);
});

test('a refusal on failure is not kept once the same files are back', () => {
  const d = disk({ '/t': 'token' });
  const value = rereadOnChange<string | undefined>(['/t'], {
    initial: undefined,
    io: d.io,
    load: (read) => read('/t'),
    failed: () => undefined,
  });
  expect(value()).toBe('token');
  d.write('/t', undefined);
  expect(value()).toBeUndefined();
  d.write('/t', 'token');
  expect(value()).toBe('token');
});

test('`loaded` decides what is kept: the previous value when nothing that matters changed', () => {
  const d = disk({ '/a': '1', '/b': '2' });
  const first = { v: 'x' };
  let loads = 0;
  const value = rereadOnChange(['/a', '/b'], {
    initial: first,
    io: d.io,
    load: (read) => (loads++, { v: read('/a') === '9' ? 'y' : 'x' }),
    loaded: (next, previous) => (next.v === previous.v ? previous : next),
    failed: (_e, last) => last,
  });
  expect(value()).toBe(first);
  d.write('/a', '1'); // touched, same meaning
  expect(value()).toBe(first);
  d.write('/a', '9');
  expect(value()).toEqual({ v: 'y' });
  expect(loads).toBe(3);
});

test('loadNow: stamps and loads at once (throwing when unusable), then re-reads only on a change', () => {
  const d = disk({ '/a': '1', '/b': '2' });
  expect(() => rereadOnChange(['/a', '/missing'], { loadNow: true, io: d.io, load: joined, failed: (_e, last) => last })).toThrow(
    'ENOENT: /missing',
  );
  const value = rereadOnChange(['/a', '/b'], { loadNow: true, io: d.io, load: joined, failed: (_e, last) => last });
  const reads = d.reads();
  expect(value()).toBe('1+2');
  expect(d.reads()).toBe(reads);
  d.write('/a', '7');
  expect(value()).toBe('7+2');
});
