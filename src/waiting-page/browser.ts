/** The request headers that tell a person in a browser from a program (decoded only on the cold path). */
export interface RequestHints {
  readonly method: string | undefined;
  readonly accept: string | undefined;
  readonly upgrade: string | undefined;
  readonly xRequestedWith: string | undefined;
  readonly secFetchMode: string | undefined;
}

/**
 * A top-level browser navigation: GET or HEAD, `Accept` naming text/html, not an XHR/fetch (an
 * `x-requested-with: XMLHttpRequest`, or a `sec-fetch-mode` other than `navigate`), not a protocol
 * upgrade (WebSocket). Only these get the waiting page; everything else is held, because a program
 * would take the page for the function's answer.
 */
export function isBrowserNavigation(h: RequestHints): boolean {
  if (h.method !== 'GET' && h.method !== 'HEAD') return false;
  if (h.upgrade !== undefined) return false;
  if (h.accept === undefined || !h.accept.toLowerCase().includes('text/html')) return false;
  if (h.xRequestedWith !== undefined && h.xRequestedWith.trim().toLowerCase() === 'xmlhttprequest') return false;
  if (h.secFetchMode !== undefined && h.secFetchMode.trim().toLowerCase() !== 'navigate') return false;
  return true;
}
