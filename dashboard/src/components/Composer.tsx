// The reply / internal-note composer. The ticket's AI draft is preloaded (and marked as such) into the reply box;
// sending it passes `draft_id` so the API records how much the agent edited it. Canned responses: type
// `/shortcut` then Tab, or pick one from the list.
import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorMessage, type Canned, type Draft, type Status, type Ticket } from '../api';
import { ago } from '../format';
import { cannedList } from '../store';
import { ErrorBanner } from './ui';

export type ComposerMode = 'reply' | 'note';

/** Fills the placeholders a canned response may use. */
export function fillCanned(body: string, t: Ticket): string {
  return body
    .replace(/\{\{\s*customer_name\s*\}\}/g, t.customer_name || t.customer_email || '')
    .replace(/\{\{\s*ticket_number\s*\}\}/g, t.ticket_number);
}

export function Composer({ ticket, draft, mode, setMode, textareaRef, onChanged, onNotice }: {
  ticket: Ticket;
  draft: Draft | null;
  mode: ComposerMode;
  setMode: (m: ComposerMode) => void;
  textareaRef: RefObject<HTMLTextAreaElement | null>;
  /** Something was written: reload the ticket. */
  onChanged: () => void;
  onNotice: (text: string) => void;
}) {
  const canned = cannedList.use();
  // Seeded from the draft at mount (not by the effect below, which runs after paint and could overwrite what the
  // agent typed first).
  const [reply, setReply] = useState(draft?.content ?? '');
  const [note, setNote] = useState('');
  const [draftId, setDraftId] = useState<string | null>(draft?.id ?? null);
  const [dirty, setDirty] = useState(false); // the agent typed in the reply box since the draft was loaded
  const [after, setAfter] = useState<'' | Status>('');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [picker, setPicker] = useState(false);

  // Load the AI draft into the reply box when it appears or changes later, unless the agent is already writing.
  const draftKey = draft ? `${draft.id}\n${draft.content}` : null; // a regenerated draft may keep its id
  const loadedKey = useRef(draftKey);
  useEffect(() => {
    if (loadedKey.current === draftKey) return;
    loadedKey.current = draftKey;
    if (draft) {
      if (!dirty || !reply.trim()) {
        setReply(draft.content);
        setDraftId(draft.id);
        setDirty(false);
      }
    } else if (draftId && !dirty) {
      setReply('');
      setDraftId(null);
    }
  }, [draftKey]);

  const text = mode === 'reply' ? reply : note;
  const setText = (v: string) => {
    if (mode === 'reply') {
      setReply(v);
      setDirty(true);
      if (!v.trim()) setDraftId(null); // an emptied box no longer holds the draft
    } else setNote(v);
  };
  const fromDraft = mode === 'reply' && draftId !== null && draft?.id === draftId;

  async function run(label: string, fn: () => Promise<void>) {
    setBusy(label);
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  }

  const send = () => run('send', async () => {
    const content = reply.trim();
    if (!content) return;
    await api.reply(ticket.ticket_id, {
      content: reply,
      // Only the draft that is still current: a superseded one is no longer the text's origin.
      ...(draftId && draft?.id === draftId ? { draft_id: draftId } : {}),
      ...(after ? { status: after } : {}),
    });
    setReply('');
    setDraftId(null);
    setDirty(false);
    setAfter('');
    onNotice(after ? `Reply sent; status set to ${after}.` : 'Reply sent.');
    onChanged();
  });

  const addNote = () => run('note', async () => {
    if (!note.trim()) return;
    await api.note(ticket.ticket_id, note);
    setNote('');
    onNotice('Internal note added.');
    onChanged();
  });

  const regenerate = () => run('regenerate', async () => {
    const r = await api.regenerateDraft(ticket.ticket_id);
    if (!r.draft) {
      onNotice('No AI draft could be generated for this ticket.');
      onChanged();
      return;
    }
    setReply(r.draft.content);
    setDraftId(r.draft.id);
    setDirty(false);
    onNotice('A new AI draft was generated.');
    onChanged();
  });

  const discard = () => run('discard', async () => {
    await api.discardDraft(ticket.ticket_id);
    if (draftId) setReply('');
    setDraftId(null);
    setDirty(false);
    onNotice('AI draft discarded.');
    onChanged();
  });

  /** Replaces [start, end) of the current text with `insert` and puts the caret after it. */
  function splice(start: number, end: number, insert: string) {
    const next = text.slice(0, start) + insert + text.slice(end);
    setText(next);
    const caret = start + insert.length;
    requestAnimationFrame(() => {
      const ta = textareaRef.current;
      if (ta) {
        ta.focus();
        ta.setSelectionRange(caret, caret);
      }
    });
  }

  function insertCanned(c: Canned) {
    const ta = textareaRef.current;
    const start = ta?.selectionStart ?? text.length;
    const end = ta?.selectionEnd ?? text.length;
    splice(start, end, fillCanned(c.body, ticket));
    setPicker(false);
  }

  function onKeyDown(e: KeyboardEvent) {
    const ta = e.currentTarget as HTMLTextAreaElement;
    if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
      const caret = ta.selectionStart;
      if (caret !== ta.selectionEnd) return;
      const m = /(^|\s)\/([a-z0-9_-]{1,32})$/.exec(ta.value.slice(0, caret));
      const c = m && canned.find((x) => x.shortcut === m[2]);
      if (m && c) {
        e.preventDefault();
        splice(caret - m[2]!.length - 1, caret, fillCanned(c.body, ticket));
      }
    } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void (mode === 'reply' ? send() : addNote());
    } else if (e.key === 'Escape') {
      ta.blur();
    }
  }

  return (
    <section class={`composer composer-${mode}`} aria-label="Composer" data-testid="composer" data-mode={mode}>
      <div class="composer-tabs" role="tablist" aria-label="Composer mode">
        <button type="button" role="tab" aria-selected={mode === 'reply'} class={mode === 'reply' ? 'active' : ''}
          onClick={() => setMode('reply')} data-testid="mode-reply">Reply <kbd>r</kbd></button>
        <button type="button" role="tab" aria-selected={mode === 'note'} class={mode === 'note' ? 'active' : ''}
          onClick={() => setMode('note')} data-testid="mode-note">Internal note <kbd>n</kbd></button>
        <span class="spacer" />
        {mode === 'reply' && draft && (
          <span class="draft-actions">
            <button type="button" class="button subtle small" onClick={() => void regenerate()} disabled={!!busy}
              data-testid="draft-regenerate">{busy === 'regenerate' ? 'Generating…' : 'Regenerate'}</button>
            <button type="button" class="button subtle small danger-text" onClick={() => void discard()} disabled={!!busy}
              data-testid="draft-discard">Discard draft</button>
          </span>
        )}
      </div>

      {fromDraft && draft && (
        <div class="draft-banner" data-testid="draft-banner">
          <span class="ai-badge" data-testid="draft-badge" data-source={draft.source}>
            {draft.source === 'llm' ? 'AI draft' : 'Template draft'}
          </span>
          <span class="muted">
            {draft.source === 'llm' ? 'Written by the AI' : 'From the category template'} {ago(draft.created_at)}
            {draft.gmail_draft_id ? ' · also saved as a Gmail draft' : ''}
            {dirty ? ' · edited' : ' · review and edit before sending'}
          </span>
        </div>
      )}
      {mode === 'note' && <div class="note-banner">Only staff can see internal notes. Nothing is sent to the customer.</div>}

      <label for="composer-text" class="sr-only">{mode === 'reply' ? 'Reply to the customer' : 'Internal note'}</label>
      <textarea id="composer-text" ref={textareaRef} value={text} rows={mode === 'reply' ? 9 : 5}
        placeholder={mode === 'reply'
          ? `Reply to ${ticket.customer_name || ticket.customer_email}…  (type /shortcut then Tab for a canned response)`
          : 'Write an internal note for your team…'}
        onInput={(e) => setText(e.currentTarget.value)} onKeyDown={onKeyDown}
        data-testid="composer-text" data-from-draft={fromDraft ? 'true' : 'false'} />

      <ErrorBanner error={error} testid="composer-error" />

      <div class="composer-foot">
        <div class="canned-wrap">
          <button type="button" class="button subtle small" onClick={() => setPicker((p) => !p)} aria-expanded={picker}
            data-testid="canned-button">Canned responses</button>
          {picker && (
            <div class="popover" role="listbox" aria-label="Canned responses" data-testid="canned-picker">
              {canned.length === 0 && <p class="muted small">No canned responses yet.</p>}
              {canned.map((c) => (
                <button type="button" role="option" key={c.id} class="popover-item" onClick={() => insertCanned(c)}
                  data-testid="canned-option" data-shortcut={c.shortcut}>
                  <strong>{c.title}</strong> <code>/{c.shortcut}</code>
                  <span class="muted">{c.body.slice(0, 80)}</span>
                </button>
              ))}
            </div>
          )}
        </div>
        <span class="spacer" />
        {mode === 'reply' ? (
          <>
            <label class="after-send">
              <span class="sr-only">Status after sending</span>
              <select value={after} onChange={(e) => setAfter(e.currentTarget.value as '' | Status)} data-testid="send-status"
                aria-label="Status after sending">
                <option value="">Status unchanged</option>
                <option value="pending">Then set pending</option>
                <option value="resolved">Then set resolved</option>
              </select>
            </label>
            <button type="button" class="button primary" onClick={() => void send()} disabled={!!busy || !reply.trim()}
              data-testid="send-button">{busy === 'send' ? 'Sending…' : ticket.channel === 'sms' ? 'Send SMS' : 'Send reply'}</button>
          </>
        ) : (
          <button type="button" class="button note-button" onClick={() => void addNote()} disabled={!!busy || !note.trim()}
            data-testid="note-button">{busy === 'note' ? 'Saving…' : 'Add internal note'}</button>
        )}
      </div>
    </section>
  );
}

