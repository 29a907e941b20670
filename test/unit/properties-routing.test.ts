/**
 * Hostile-input properties of the router: whatever a client puts in `:path`, routing never throws,
 * never decodes anything, and only ever names functions whose name and namespace are DNS labels.
 */
import fc from 'fast-check';
import { isDnsLabel, parseFunctionId } from '../../src/routing/function-ref';
import { functionPathOf, routeRequest, type Route, type RouterOptions } from '../../src/routing/router';

const OPTIONS: RouterOptions = { prefixes: ['/function/', '/async-function/'], defaultNamespace: 'openfaas-fn' };
const PREFIXES = OPTIONS.prefixes;
/** Bounded runs: the whole file stays well under a second or two. */
const RUNS = { numRuns: 400 };

/** An independent statement of RFC 1123 labels (not the regexp under test). */
function isLabelByHand(s: string): boolean {
  if (s.length < 1 || s.length > 63) return false;
  const ok = (c: string, edge: boolean): boolean => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (!edge && c === '-');
  return [...s].every((c, i) => ok(c, i === 0 || i === s.length - 1)) && s.length === [...s].length;
}

const LABEL_CHARS = [...'abcdefghijklmnopqrstuvwxyz0123456789-'];
/** Valid DNS labels: 1-63 chars of [a-z0-9-], alphanumeric at both ends. */
const label: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(...LABEL_CHARS.filter((c) => c !== '-')),
    fc.array(fc.constantFrom(...LABEL_CHARS), { maxLength: 61 }),
    fc.constantFrom(...LABEL_CHARS.filter((c) => c !== '-')),
    fc.boolean(),
  )
  .map(([first, middle, last, single]) => (single ? first : `${first}${middle.join('')}${last}`));

/** Pieces a hostile client assembles paths from: separators, encodings, dots, control chars, unicode. */
const hostilePiece: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '/',
    '.',
    '..',
    '%2e',
    '%2E',
    '%2e%2e',
    '%2F',
    '%2f',
    '%5C',
    '\\',
    '%00',
    '\0',
    '\r\n',
    '\t',
    ' ',
    '?',
    '#',
    '&',
    ';',
    '@',
    ':',
    '%',
    '%%',
    '%zz',
    '+',
    '\u0130', // İ: lower-cases to 'i̇' (two code units): a classic case-folding trap
    '\u212a', // Kelvin sign: lower-cases to 'k'
    'ﬀ',
    '\u00e9',
    '\u{1f600}',
    '\ud800', // lone surrogate
    '\u202e', // right-to-left override
    'A',
    'Z',
    '-',
    '_',
    'function',
    'openfaas-fn',
    '/function/',
  ),
  label,
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 4 }),
);

const tail: fc.Arbitrary<string> = fc.array(hostilePiece, { maxLength: 12 }).map((p) => p.join(''));

/** Mostly paths under a managed prefix (the interesting part), some anywhere. */
const hostilePath: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...PREFIXES), tail).map(([p, t]) => p + t) },
  { weight: 1, arbitrary: tail },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...PREFIXES), fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('a', '.', '/', '%2e', '-'))
      .map(([p, n, c]) => p + c.repeat(n)),
  },
);

function expectWellFormed(route: Route, path: string): void {
  const managed = PREFIXES.find((p) => path.startsWith(p));
  if (managed === undefined) {
    expect(route).toEqual({ kind: 'pass' });
    return;
  }
  expect(route.kind).not.toBe('pass');
  if (route.kind === 'function') {
    expect(isLabelByHand(route.fn.name)).toBe(true);
    expect(isLabelByHand(route.fn.namespace)).toBe(true);
    expect(route.fn.key).toBe(`${route.fn.name}.${route.fn.namespace}`);
    // Nothing decoded: the segment as it stands in the path is exactly what was parsed.
    const segment = path.slice(managed.length).split(/[/?#]/, 1)[0];
    expect([route.fn.name, `${route.fn.name}.${route.fn.namespace}`]).toContain(segment);
    if (segment === route.fn.name) expect(route.fn.namespace).toBe(OPTIONS.defaultNamespace);
  }
}

describe('routing properties (hostile paths)', () => {
  test('never throws; the answer is pass, invalid, or a function named by DNS labels taken verbatim from the path', () => {
    fc.assert(
      fc.property(hostilePath, (path) => {
        expectWellFormed(routeRequest(path, OPTIONS), path);
      }),
      RUNS,
    );
  });

  test('percent-encodings, backslashes and control characters in the segment are never decoded into a name', () => {
    const encoded = fc.constantFrom('%2e', '%2E', '%2e%2e', '%2F', '%2f', '%5c', '%00', '%41', '%61', '\\', '\0', '\n', ' ', '%');
    fc.assert(
      fc.property(fc.constantFrom(...PREFIXES), label, encoded, label, fc.constantFrom('', '/x', '?q=1'), (prefix, a, enc, b, rest) => {
        const path = `${prefix}${a}${enc}${b}${rest}`;
        expect(routeRequest(path, OPTIONS).kind).toBe('invalid');
      }),
      RUNS,
    );
  });

  test('for any valid name and namespace, /PREFIX/NAME.NS/rest routes back to exactly them', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PREFIXES),
        label,
        label,
        tail,
        fc.constantFrom('/', '?', '#'),
        (prefix, name, namespace, rest, sep) => {
          const route = routeRequest(`${prefix}${name}.${namespace}${sep}${rest}`, OPTIONS);
          expect(route).toEqual({ kind: 'function', fn: { name, namespace, key: `${name}.${namespace}` } });
        },
      ),
      RUNS,
    );
  });

  test('a bare valid name, with or without a rest, takes the default namespace', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PREFIXES), label, fc.option(tail, { nil: undefined }), (prefix, name, rest) => {
        const route = routeRequest(rest === undefined ? `${prefix}${name}` : `${prefix}${name}/${rest}`, OPTIONS);
        expect(route).toEqual({ kind: 'function', fn: { name, namespace: 'openfaas-fn', key: `${name}.openfaas-fn` } });
      }),
      RUNS,
    );
  });

  test('isDnsLabel agrees with an independent statement of the rule, on labels and on hostile strings', () => {
    fc.assert(
      fc.property(fc.oneof(label, tail, fc.string({ unit: 'binary', maxLength: 70 })), (s) => {
        expect(isDnsLabel(s)).toBe(isLabelByHand(s));
      }),
      RUNS,
    );
  });

  test('parseFunctionId: any id with more than one dot, or an invalid part, is refused', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(label, hostilePiece), { minLength: 1, maxLength: 4 }), (parts) => {
        const id = parts.join('.');
        const fn = parseFunctionId(id, 'openfaas-fn');
        const [name = '', ...rest] = id.split('.');
        const namespace = rest.length === 0 ? 'openfaas-fn' : rest.join('.');
        const valid = isLabelByHand(name) && isLabelByHand(namespace);
        expect(fn === null ? null : fn.key).toBe(valid ? `${name}.${namespace}` : null);
      }),
      RUNS,
    );
  });

  test('functionPathOf: never throws; always a path starting with "/" with no query or fragment, cut from the request path', () => {
    fc.assert(
      fc.property(hostilePath, (path) => {
        const fp = functionPathOf(path, OPTIONS);
        expect(fp.startsWith('/')).toBe(true);
        expect(fp).not.toMatch(/[?#]/);
        if (routeRequest(path, OPTIONS).kind === 'function' && fp !== '/') expect(path).toContain(fp);
      }),
      RUNS,
    );
  });

  test('functionPathOf: for /PREFIX/NAME.NS + rest, it is the rest up to the query (or "/")', () => {
    const restChar = fc.constantFrom(...'abc/.-_%2e~:@!$&'.split(''));
    fc.assert(
      fc.property(
        fc.constantFrom(...PREFIXES),
        label,
        fc.option(label, { nil: undefined }),
        fc.array(restChar, { maxLength: 20 }).map((c) => c.join('')),
        fc.constantFrom('', '?q=/x', '#f?g', '?'),
        (prefix, name, namespace, rest, query) => {
          const id = namespace === undefined ? name : `${name}.${namespace}`;
          const fp = functionPathOf(`${prefix}${id}/${rest}${query}`, OPTIONS);
          expect(fp).toBe(`/${rest}`);
          expect(functionPathOf(`${prefix}${id}${query}`, OPTIONS)).toBe('/');
        },
      ),
      RUNS,
    );
  });
});
