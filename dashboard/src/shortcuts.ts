// Keyboard shortcuts. Single keys only, never while the user types in a field (input, textarea, select,
// contenteditable) and never with Ctrl/Alt/Meta held, so they do not fight the browser or the composer.
import { useLayoutEffect, useRef } from 'preact/hooks';

export type KeyMap = Record<string, (e: KeyboardEvent) => void>;

export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target.isContentEditable;
}

/** Binds `map` (keys as in KeyboardEvent.key: 'j', '?', 'Enter', 'Escape') while the component is mounted. */
export function useShortcuts(map: KeyMap, enabled = true): void {
  const ref = useRef(map);
  ref.current = map;
  // A layout effect: the keys work as soon as the screen is in the DOM, not a frame later.
  useLayoutEffect(() => {
    if (!enabled) return undefined;
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
      if (isTyping(e.target)) return;
      // Enter on a focused link or button keeps its own meaning.
      if (e.key === 'Enter' && e.target instanceof HTMLElement && e.target.closest('a, button')) return;
      // A dialog (the shortcuts help) takes the keys while it is open; it closes itself on Escape.
      if (document.querySelector('[data-modal-open]') && e.key !== '?') return;
      const fn = ref.current[e.key];
      if (fn) {
        e.preventDefault();
        fn(e);
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [enabled]);
}

/** The list shown by the `?` overlay: keys (each shown as a key cap), what they do, where. */
export const SHORTCUTS: { keys: string[]; what: string; where: string }[] = [
  { keys: ['j', 'k'], what: 'Next / previous ticket', where: 'Inbox, ticket' },
  { keys: ['o', 'Enter'], what: 'Open the highlighted ticket', where: 'Inbox' },
  { keys: ['x'], what: 'Select the highlighted ticket for bulk changes', where: 'Inbox' },
  { keys: ['/'], what: 'Focus the search box', where: 'Inbox, customers' },
  { keys: ['r'], what: 'Write a reply', where: 'Ticket' },
  { keys: ['n'], what: 'Write an internal note', where: 'Ticket' },
  { keys: ['a'], what: 'Change the assignee', where: 'Ticket' },
  { keys: ['Esc'], what: 'Back to the list, close a dialog', where: 'Ticket, customer, dialogs' },
  { keys: ['/shortcut', 'Tab'], what: 'Insert a canned response', where: 'Composer' },
  { keys: ['Ctrl', 'Enter'], what: 'Send the reply or add the note', where: 'Composer' },
  { keys: ['?'], what: 'Show this help', where: 'Anywhere' },
];
