// Small shared UI pieces: badges, error and notice banners, loading indicator, modal dialog.
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Ticket } from '../api';
import { duration, formatDate, slaState } from '../format';

/**
 * Editable local state seeded from `source` that follows later changes of `source` (a save, a live update, another
 * record) but never resets at mount: effects run after paint, so a reset there could wipe what was typed first.
 * `key` names the record, so switching to another record with the same value still resets.
 */
export function useEditable<T>(source: T, key?: unknown): [T, (v: T) => void] {
  const [value, setValue] = useState(source);
  const last = useRef({ source, key });
  useEffect(() => {
    if (!Object.is(last.current.source, source) || !Object.is(last.current.key, key)) {
      last.current = { source, key };
      setValue(source);
    }
  }, [source, key]);
  return [value, setValue];
}

export function Badge({ kind, value, testid }: { kind: string; value: string; testid?: string }) {
  return (
    <span class={`badge ${kind}-${value}`} data-testid={testid} data-value={value}>
      {value.replace(/_/g, ' ')}
    </span>
  );
}

export function ErrorBanner({ error, testid = 'error' }: { error: string | null | undefined; testid?: string }) {
  if (!error) return null;
  return (
    <div class="banner banner-error" role="alert" data-testid={testid}>
      {error}
    </div>
  );
}

export function Notice({ text, testid = 'notice' }: { text: string | null | undefined; testid?: string }) {
  if (!text) return null;
  return (
    <div class="banner banner-ok" role="status" data-testid={testid}>
      {text}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div class="loading" role="status" aria-live="polite" data-testid="loading">
      <span class="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

/** The SLA of a ticket as a compact pill: "due in 3h 20m", "overdue 2h", "met". */
export function SlaPill({ ticket, now, long = false }: { ticket: Ticket; now: number; long?: boolean }) {
  const s = slaState(ticket, now);
  switch (s.kind) {
    case 'none':
      return <span class="sla sla-none" data-testid="sla" data-sla="none">—</span>;
    case 'met':
      return (
        <span class="sla sla-met" data-testid="sla" data-sla="met" title={`First response ${formatDate(s.at)}`}>
          {long ? `Responded ${formatDate(s.at)}` : 'met'}
        </span>
      );
    case 'overdue':
      return (
        <span class="sla sla-overdue" data-testid="sla" data-sla="overdue" title={`Was due ${formatDate(s.due)}`}>
          overdue {duration(s.ms)}
        </span>
      );
    case 'due':
      return (
        <span class={`sla ${s.risk ? 'sla-risk' : 'sla-due'}`} data-testid="sla" data-sla={s.risk ? 'at_risk' : 'due'}
          title={`Due ${formatDate(s.due)}`}>
          {long ? 'First response due in ' : 'in '}
          {duration(s.ms)}
        </span>
      );
    default:
      return null;
  }
}

/** A centered dialog; Escape or a click on the backdrop closes it. Focus moves into it when it opens. */
export function Modal({ title, onClose, children, testid }: {
  title: string; onClose: () => void; children: ComponentChildren; testid?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        onClose();
      }
    };
    document.addEventListener('keydown', onKey, true);
    ref.current?.focus();
    return () => document.removeEventListener('keydown', onKey, true);
  }, [onClose]);
  return (
    <div class="modal-backdrop" data-modal-open onMouseDown={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div class="modal" role="dialog" aria-modal="true" aria-label={title} tabIndex={-1} ref={ref} data-testid={testid}>
        <div class="modal-head">
          <h2>{title}</h2>
          <button type="button" class="icon-button" aria-label="Close" onClick={onClose}>×</button>
        </div>
        <div class="modal-body">{children}</div>
      </div>
    </div>
  );
}

/** A one-time secret (temporary password) with a copy button. */
export function Secret({ label, value, testid }: { label: string; value: string; testid: string }) {
  return (
    <div class="secret" role="status">
      <span>{label}</span>
      <code data-testid={testid}>{value}</code>
      <button type="button" class="button small" onClick={() => void navigator.clipboard?.writeText(value)}>Copy</button>
      <small>Shown once: hand it over now; it must be changed at first login.</small>
    </div>
  );
}
