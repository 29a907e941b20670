import { tokenFromFile } from '../../src/admin/admin-token';
import type { FileIo } from '../../src/reread-files';

/** A token file that the test edits: mtime and content move together, like a rotated Secret. */
function fakeFile(initial: string | undefined): { io: FileIo; write(text: string | undefined): void; reads: () => number } {
  let text = initial;
  let mtime = 1;
  let reads = 0;
  return {
    io: {
      stamp: () => {
        if (text === undefined) throw new Error('ENOENT');
        return String(mtime);
      },
      read: () => {
        reads++;
        if (text === undefined) throw new Error('ENOENT');
        return text;
      },
    },
    write(next) {
      text = next;
      mtime++;
    },
    reads: () => reads,
  };
}

describe('tokenFromFile', () => {
  test('no file configured: every check says so', () => {
    expect(tokenFromFile(undefined).check('Bearer anything')).toBe('no-token-configured');
  });

  test.each([
    ['Bearer s3cret', 'ok'],
    ['bearer s3cret', 'ok'],
    ['Bearer s3cret ', 'ok'],
    ['Bearer s3cre', 'denied'],
    ['Bearer s3cretX', 'denied'],
    ['Basic s3cret', 'denied'],
    ['s3cret', 'denied'],
    [undefined, 'denied'],
    ['', 'denied'],
  ])('%j -> %s', (authorization, expected) => {
    expect(tokenFromFile('/t', fakeFile('s3cret\n').io).check(authorization)).toBe(expected);
  });

  test('re-read only when the file changes: a rotated token works at once, the old one no longer', () => {
    const file = fakeFile('old-token');
    const token = tokenFromFile('/t', file.io);
    for (let i = 0; i < 5; i++) expect(token.check('Bearer old-token')).toBe('ok');
    expect(file.reads()).toBe(1);
    file.write('new-token');
    expect([token.check('Bearer old-token'), token.check('Bearer new-token')]).toEqual(['denied', 'ok']);
    expect(file.reads()).toBe(2);
  });

  test('an empty or vanished file closes the routes instead of opening them', () => {
    const file = fakeFile('  \n');
    const token = tokenFromFile('/t', file.io);
    expect(token.check('Bearer ')).toBe('token-unreadable');
    file.write(undefined);
    expect(token.check('Bearer x')).toBe('token-unreadable');
    file.write('back');
    expect(token.check('Bearer back')).toBe('ok');
  });
});
