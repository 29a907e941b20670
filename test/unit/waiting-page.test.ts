import { functionRef } from '../../src/routing/function-ref';
import { isBrowserNavigation, type RequestHints } from '../../src/waiting-page/browser';
import {
  BUILT_IN_TEMPLATE,
  compileWaitingPage,
  escapeHtml,
  loadWaitingPage,
  WAITING_PAGE_REFRESH_SEC,
} from '../../src/waiting-page/waiting-page';

const HELLO = functionRef('hello', 'openfaas-fn');

describe('the built-in waiting page', () => {
  const html = loadWaitingPage(undefined).render(HELLO);

  test('names the function and namespace, says it is starting, and refreshes itself without JS', () => {
    expect(html).toContain('<html lang="en">');
    expect(html).toMatch(/<title>Starting hello…<\/title>/);
    expect(html).toContain('<code>hello</code> in namespace <code>openfaas-fn</code>');
    expect(html).toContain(`<meta http-equiv="refresh" content="${WAITING_PAGE_REFRESH_SEC}">`);
    expect(html).toMatch(/role="status" aria-live="polite"/);
    expect(html).not.toMatch(/\{\{/);
  });

  test('is self-contained: no script, no external resource', () => {
    expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|href=|url\(|@import/i);
  });
});

describe('templates', () => {
  test('placeholders are replaced everywhere (spaces allowed), values HTML-escaped', () => {
    const page = compileWaitingPage('<p>{{name}}/{{ namespace }}/{{retryAfter}}/{{name}}/{{unknown}}</p>', 3);
    expect(page.render(HELLO)).toBe('<p>hello/openfaas-fn/3/hello/{{unknown}}</p>');
    // Names are DNS labels in practice; the escaping is what keeps a template safe if that ever changes.
    expect(page.render({ name: '<b>&"\'', namespace: 'x', key: 'k' })).toContain('&lt;b&gt;&amp;&quot;&#39;');
  });

  test('a template file replaces the page', () => {
    const page = loadWaitingPage('/etc/page.html', (p) => (p === '/etc/page.html' ? 'wait for {{name}}' : ''));
    expect(page.render(HELLO)).toBe('wait for hello');
  });

  test('a missing or empty file is a clear start-up error naming the setting', () => {
    const missing = (): string => {
      throw Object.assign(new Error("ENOENT: no such file or directory, open '/nope.html'"), { code: 'ENOENT' });
    };
    expect(() => loadWaitingPage('/nope.html', missing)).toThrow(/^WAKER_WAITING_PAGE_TEMPLATE: cannot read "\/nope.html" \(ENOENT/);
    expect(() => loadWaitingPage('/empty.html', () => '  \n')).toThrow(/WAKER_WAITING_PAGE_TEMPLATE: "\/empty.html" is empty/);
  });

  test('escapeHtml', () => {
    expect(escapeHtml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&#39;');
    expect(BUILT_IN_TEMPLATE.length).toBeLessThan(4096); // small: it is sent on every refresh
  });
});

describe('isBrowserNavigation', () => {
  const NAV: RequestHints = {
    method: 'GET',
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    upgrade: undefined,
    xRequestedWith: undefined,
    secFetchMode: 'navigate',
  };
  test.each<[string, Partial<RequestHints>, boolean]>([
    ['a browser navigation', {}, true],
    ['HEAD', { method: 'HEAD' }, true],
    ['no sec-fetch-mode (older browsers, curl -H accept)', { secFetchMode: undefined }, true],
    ['POST', { method: 'POST' }, false],
    ['no method', { method: undefined }, false],
    ['no accept', { accept: undefined }, false],
    ['accept */* (curl, fetch)', { accept: '*/*' }, false],
    ['accept application/json', { accept: 'application/json' }, false],
    ['Accept in capitals', { accept: 'TEXT/HTML' }, true],
    ['XHR', { xRequestedWith: 'XMLHttpRequest' }, false],
    ['XHR lower case', { xRequestedWith: 'xmlhttprequest' }, false],
    ['x-requested-with of an app', { xRequestedWith: 'com.example.app' }, true],
    ['fetch() (sec-fetch-mode cors)', { secFetchMode: 'cors' }, false],
    ['no-cors', { secFetchMode: 'no-cors' }, false],
    ['WebSocket upgrade', { upgrade: 'websocket' }, false],
  ])('%s -> %s', (_name, change, expected) => {
    expect(isBrowserNavigation({ ...NAV, ...change })).toBe(expected);
  });
});
