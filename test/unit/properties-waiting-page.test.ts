/**
 * Hostile-input properties of the waiting-page decisions and rendering: whatever headers a client
 * sends, only a plain top-level GET/HEAD navigation is taken for a browser; whatever a function's
 * labels say, a program is never given the page and a no-wake answer needs a matching prefix; whatever
 * an operator's template holds, rendering never throws and replaces placeholders in one pass, escaped.
 */
import fc from 'fast-check';
import { coldAction } from '../../src/policy/cold-action';
import { policyFrom } from '../../src/policy/policy-parse';
import { POLICY_KEYS } from '../../src/policy/policy';
import { functionRef } from '../../src/routing/function-ref';
import { isBrowserNavigation, type RequestHints } from '../../src/waiting-page/browser';
import { compileWaitingPage, escapeHtml } from '../../src/waiting-page/waiting-page';

const RUNS = { numRuns: 500 };

const headerValue = (common: readonly string[]): fc.Arbitrary<string | undefined> =>
  fc.oneof(fc.constant(undefined), fc.constantFrom(...common), fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));

const hints: fc.Arbitrary<RequestHints> = fc.record({
  method: headerValue(['GET', 'HEAD', 'POST', 'get', 'GET ', 'OPTIONS', 'PUT', 'GET, GET']),
  accept: headerValue(['text/html', 'TEXT/HTML', 'text/html,application/xhtml+xml,*/*;q=0.8', 'application/json', '*/*', 'text/htm', '']),
  upgrade: headerValue(['websocket', 'h2c', '']),
  xRequestedWith: headerValue(['XMLHttpRequest', ' xmlhttprequest ', 'fetch', '']),
  secFetchMode: headerValue(['navigate', 'NAVIGATE', ' navigate', 'cors', 'no-cors', 'same-origin', 'websocket', '']),
});

describe('browser detection properties (hostile headers)', () => {
  test('a browser navigation is always a GET/HEAD with text/html accepted, no upgrade, not an XHR, navigate mode if any', () => {
    fc.assert(
      fc.property(hints, (h) => {
        if (!isBrowserNavigation(h)) return;
        expect(['GET', 'HEAD']).toContain(h.method);
        expect(h.upgrade).toBeUndefined();
        expect(h.accept?.toLowerCase()).toContain('text/html');
        expect(h.xRequestedWith?.trim().toLowerCase()).not.toBe('xmlhttprequest');
        if (h.secFetchMode !== undefined) expect(h.secFetchMode.trim().toLowerCase()).toBe('navigate');
      }),
      RUNS,
    );
  });

  test('adding an upgrade, an XHR marker or a non-navigate fetch mode, or another method, never makes a request a browser', () => {
    fc.assert(
      fc.property(hints, fc.constantFrom('upgrade', 'xhr', 'cors', 'post'), (h, change) => {
        const changed: RequestHints =
          change === 'upgrade'
            ? { ...h, upgrade: 'websocket' }
            : change === 'xhr'
              ? { ...h, xRequestedWith: 'XMLHttpRequest' }
              : change === 'cors'
                ? { ...h, secFetchMode: 'cors' }
                : { ...h, method: 'POST' };
        expect(isBrowserNavigation(changed)).toBe(false);
      }),
      RUNS,
    );
  });
});

const hostileAnnotation = fc.oneof(
  fc.constantFrom('/', '/x', '/health,/metrics', ' /a , /b ', 'x', '', ',', '/a?b', 'on', 'off', 'maybe', '2s'),
  fc.string({ maxLength: 20 }),
);
const annotations = fc.record(
  { [POLICY_KEYS.noWakePaths]: hostileAnnotation, [POLICY_KEYS.waitingPage]: hostileAnnotation },
  { requiredKeys: [] },
);
const functionPath = fc.oneof(
  fc.constantFrom('/', '/x', '/xy', '/health', '/healthz', '/metrics/a', '/a', '/b/c'),
  fc.string({ maxLength: 12 }).map((s) => `/${s}`),
);

describe('coldAction properties (hostile policies)', () => {
  test('a program is never given the page; a no-wake answer needs a matching prefix; otherwise the request is held', () => {
    fc.assert(
      fc.property(annotations, functionPath, fc.boolean(), fc.boolean(), (ann, path, browser, byDefault) => {
        const policy = policyFrom(undefined, ann, { maxHoldTimeoutMs: 60_000 }, () => undefined);
        const action = coldAction(policy, { functionPath: path, browser }, byDefault);
        const matches = policy.noWakePaths.some((p) => path.startsWith(p));
        if (action === 'waiting-page') expect(browser).toBe(true);
        if (action === 'no-wake') expect(matches).toBe(true);
        if (matches) expect(action).toBe('no-wake');
        else if (!browser) expect(action).toBe('hold');
        else expect(action).toBe((policy.waitingPage ?? byDefault) ? 'waiting-page' : 'hold');
      }),
      RUNS,
    );
  });
});

const LABEL_CHARS = [...'abcdefghijklmnopqrstuvwxyz0123456789'];
const label = fc.string({ unit: fc.constantFrom(...LABEL_CHARS), minLength: 1, maxLength: 20 });

/** Template text rich in near-placeholders: braces, partial names, spacing, nesting. */
const templatePiece = fc.oneof(
  fc.constantFrom(
    '{{name}}',
    '{{ namespace }}',
    '{{retryAfter}}',
    '{{  name\t}}',
    '{{',
    '}}',
    '{',
    '}',
    '{{nam}}',
    '{{Name}}',
    '{{{name}}}',
    '{{{{name}}}}',
  ),
  fc.constantFrom('<', '>', '&', '"', "'", '&amp;', '<script>', '\u00e9', '\u{1f600}', '$&', '$1', '\\'),
  fc.string({ maxLength: 10 }),
);
const template = fc.array(templatePiece, { maxLength: 20 }).map((parts) => parts.join(''));
const PLACEHOLDER = /\{\{\s*(name|namespace|retryAfter)\s*\}\}/g;

describe('waiting page rendering properties (hostile templates)', () => {
  test('rendering never throws and equals a one-pass replacement of every placeholder, values HTML-escaped', () => {
    fc.assert(
      fc.property(template, label, label, fc.integer({ min: 1, max: 3600 }), (text, name, namespace, retryAfter) => {
        const page = compileWaitingPage(text, retryAfter);
        const values: Record<string, string> = { name, namespace, retryAfter: String(retryAfter) };
        const expected = text.replace(PLACEHOLDER, (_m, key: string) => escapeHtml(values[key] ?? ''));
        expect(page.render(functionRef(name, namespace))).toBe(expected);
      }),
      RUNS,
    );
  });

  test('escapeHtml leaves no markup character and decodes back to the input', () => {
    const unescape = (s: string): string =>
      s.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? '');
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), template), (s) => {
        const escaped = escapeHtml(s);
        expect(escaped).not.toMatch(/[<>"']/);
        expect(escaped.replace(/&(amp|lt|gt|quot|#39);/g, '')).not.toContain('&');
        expect(unescape(escaped)).toBe(s);
      }),
      RUNS,
    );
  });
});
