/**
 * The dashboard's router: paths under /ui (the History API; the server answers every /ui/...
 * path with index.html), matched against the page registry's patterns (`/instances/:project/:name`).
 */
import { signal } from '@preact/signals';

export { match } from './match.js';

export const BASE = '/ui';

function current(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  return p === '' ? '/' : p;
}

/** The path below /ui, e.g. "/instances". */
export const route = signal(current());
/** The query string of the current location, as parameters. */
export const search = signal(new URLSearchParams(location.search));

addEventListener('popstate', () => {
  route.value = current();
  search.value = new URLSearchParams(location.search);
});

/** Goes to `to` (a path below /ui, with an optional query), adding a history entry unless `replace`. */
export function navigate(to: string, replace = false): void {
  const url = BASE + (to.startsWith('/') ? to : `/${to}`);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  const [path, query] = to.split('?');
  route.value = path || '/';
  search.value = new URLSearchParams(query ?? '');
}

/** The href of a path below /ui. */
export function href(to: string): string {
  return BASE + to;
}

/** A link click inside the app: handled without a page load (modified clicks open as usual). */
export function onLinkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a || a.target || !a.href) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  e.preventDefault();
  navigate(url.pathname.slice(BASE.length) + url.search);
}
