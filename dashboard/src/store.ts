// Session-wide state shared by the screens: who is logged in, and small cached lists (staff, canned responses).
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { api, type Canned, type Me, type Staff } from './api';

export interface Session {
  me: Me;
  /** Replaces the session (after a password change) or logs out (null). */
  setMe: (me: Me | null) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside of a logged-in screen');
  return s;
}

/** A list fetched once and shared by every component that uses it, until invalidated. */
function sharedList<T>(load: () => Promise<T[]>) {
  let value: T[] | null = null;
  let pending: Promise<T[]> | null = null;
  const subscribers = new Set<(v: T[]) => void>();
  const fetchNow = () => {
    pending = load().then((v) => {
      value = v;
      subscribers.forEach((s) => s(v));
      return v;
    }).finally(() => {
      pending = null;
    });
    return pending;
  };
  return {
    invalidate() {
      value = null;
      if (subscribers.size) fetchNow().catch(() => undefined);
    },
    clear() {
      value = null;
    },
    use(): T[] {
      const [v, setV] = useState<T[]>(value ?? []);
      useEffect(() => {
        subscribers.add(setV);
        if (value) setV(value);
        else if (!pending) fetchNow().catch(() => undefined);
        return () => {
          subscribers.delete(setV);
        };
      }, []);
      return v;
    },
  };
}

export const staffList = sharedList<Staff>(async () => (await api.staff()).staff);
export const cannedList = sharedList<Canned>(async () => (await api.canned()).canned_responses);

/** Forget every cached list (logout, tenant switch). */
export function clearCaches(): void {
  staffList.clear();
  cannedList.clear();
}

/**
 * What the ticket page needs from the inbox it was opened from: the inbox URL (Escape goes back to it, filters
 * kept) and the ticket numbers in display order (j/k in a ticket move to the next/previous one).
 */
export const inboxMemory: { url: string; numbers: string[] } = { url: '/', numbers: [] };

/** The customer list the customer page was opened from (Escape and "← Customers" go back to it, filters kept). */
export const customersMemory: { url: string } = { url: '/customers' };

/** The current time, refreshed every `ms` (SLA countdowns). */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(t);
  }, [ms]);
  return now;
}
