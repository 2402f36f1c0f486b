// A tiny History-API router: the worker serves index.html for every unknown path, so /tickets/TKT-000001,
// /reports, … are real URLs that survive a reload. Inbox filters live in the query string (?view=open&q=…).
import { useEffect, useState } from 'preact/hooks';

export interface Location {
  path: string;
  params: URLSearchParams;
}

type Listener = () => void;
const listeners = new Set<Listener>();

function current(): Location {
  return { path: window.location.pathname, params: new URLSearchParams(window.location.search) };
}

/** Goes to `to` (a path with an optional query) without reloading; `replace` keeps the history length. */
export function navigate(to: string, { replace = false } = {}): void {
  const target = new URL(to, window.location.origin);
  if (target.pathname + target.search === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', target.pathname + target.search);
  else window.history.pushState(null, '', target.pathname + target.search);
  listeners.forEach((l) => l());
}

window.addEventListener('popstate', () => listeners.forEach((l) => l()));

/** The current location; re-renders the caller on every navigation. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const l = () =>
      setLoc((prev) => {
        const next = current();
        return prev.path === next.path && prev.params.toString() === next.params.toString() ? prev : next;
      });
    listeners.add(l);
    l(); // effects run after paint: a navigation between the first render and now is not lost
    return () => {
      listeners.delete(l);
    };
  }, []);
  return loc;
}

/**
 * Click handler for in-app links (`<a href="/reports" onClick={link}>`): plain left clicks navigate in the app,
 * modified clicks (new tab, …) keep the browser's behaviour.
 */
export function link(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.currentTarget as HTMLElement).closest('a');
  if (!a || a.target === '_blank') return;
  e.preventDefault();
  navigate(a.getAttribute('href') ?? '/');
}

/** The path of a ticket's page. */
export const ticketPath = (numberOrId: string) => `/tickets/${encodeURIComponent(numberOrId)}`;

/** The path of a customer's page. */
export const customerPath = (id: string) => `/customers/${encodeURIComponent(id)}`;
