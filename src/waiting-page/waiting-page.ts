import { readFileSync } from 'node:fs';
import { firstLine } from '../errors';
import type { FunctionRef } from '../routing/function-ref';

/** Seconds a browser waits before it asks again: the `retry-after` and `refresh` headers and the meta refresh. */
export const WAITING_PAGE_REFRESH_SEC = 2;

/**
 * The built-in page: small, self-contained (no external resources, no script), accessible (language,
 * title, a live status region), and it refreshes itself both ways (header and meta) without JS.
 */
export const BUILT_IN_TEMPLATE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{retryAfter}}">
<title>Starting {{name}}…</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f6f7f9;color:#1b1f24}
main{max-width:32rem;padding:2rem;text-align:center}
h1{font-size:1.4rem;margin:0 0 .75rem}
p{margin:.5rem 0;line-height:1.5}
code{background:#e7eaee;padding:.1rem .3rem;border-radius:.2rem}
@media (prefers-color-scheme:dark){body{background:#15181c;color:#e6e8eb}code{background:#2a2f36}}
</style>
</head>
<body>
<main>
<h1>Starting <code>{{name}}</code></h1>
<div role="status" aria-live="polite">
<p>The function <code>{{name}}</code> in namespace <code>{{namespace}}</code> was asleep and is starting now.</p>
<p>This page reloads by itself every {{retryAfter}} seconds; the function answers as soon as it is ready.</p>
</div>
</main>
</body>
</html>
`;

export interface WaitingPage {
  /** The page for `fn`, placeholders replaced with HTML-escaped values. */
  render(fn: FunctionRef): string;
}

const PLACEHOLDER = /\{\{\s*(name|namespace|retryAfter)\s*\}\}/g;

/** Compiles a template once: the text between placeholders is kept, each render only joins. */
export function compileWaitingPage(template: string, retryAfterSec = WAITING_PAGE_REFRESH_SEC): WaitingPage {
  const parts: string[] = [];
  const literal: boolean[] = [];
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    parts.push(template.slice(last, match.index));
    literal.push(true);
    parts.push(match[1] ?? '');
    literal.push(false);
    last = match.index + match[0].length;
  }
  parts.push(template.slice(last));
  literal.push(true);
  const retryAfter = escapeHtml(String(retryAfterSec));
  return {
    render(fn) {
      let out = '';
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i] as string;
        if (literal[i] === true) out += part;
        else out += part === 'name' ? escapeHtml(fn.name) : part === 'namespace' ? escapeHtml(fn.namespace) : retryAfter;
      }
      return out;
    },
  };
}

/**
 * The page faas-waker serves: the file at `templatePath` (WAKER_WAITING_PAGE_TEMPLATE, read once at
 * start) or the built-in one. Throws an Error naming the setting when the file cannot be read: a
 * configured page that is missing must stop the start, not silently fall back.
 */
export function loadWaitingPage(
  templatePath: string | undefined,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): WaitingPage {
  if (templatePath === undefined) return compileWaitingPage(BUILT_IN_TEMPLATE);
  let text: string;
  try {
    text = readFile(templatePath);
  } catch (err) {
    throw new Error(`WAKER_WAITING_PAGE_TEMPLATE: cannot read ${JSON.stringify(templatePath)} (${firstLine(err)})`, { cause: err });
  }
  if (text.trim() === '') throw new Error(`WAKER_WAITING_PAGE_TEMPLATE: ${JSON.stringify(templatePath)} is empty`);
  return compileWaitingPage(text);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}
