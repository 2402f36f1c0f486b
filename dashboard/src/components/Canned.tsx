// Canned responses: everyone reads them (and uses them in the composer); admins and owners create, edit, delete.
import { useState } from 'preact/hooks';
import { api, atLeast, errorMessage, type Canned as CannedT, type CannedInput } from '../api';
import { formatDate } from '../format';
import { cannedList, useSession } from '../store';
import { ErrorBanner } from './ui';

const EMPTY: CannedInput = { title: '', shortcut: '', body: '' };

export function Canned() {
  const { me } = useSession();
  const list = cannedList.use();
  const canEdit = atLeast(me.staff.role, 'admin');
  const [editing, setEditing] = useState<CannedT | 'new' | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function remove(c: CannedT) {
    if (!window.confirm(`Delete the canned response "${c.title}"?`)) return;
    try {
      await api.deleteCanned(c.id);
      cannedList.invalidate();
    } catch (e) {
      setError(errorMessage(e));
    }
  }

  return (
    <div class="page" data-testid="canned-page">
      <div class="page-head">
        <h1>Canned responses</h1>
        {canEdit && editing === null && (
          <button type="button" class="button primary" onClick={() => setEditing('new')} data-testid="canned-new">New response</button>
        )}
      </div>
      <p class="muted">
        In the reply box, type <code>/shortcut</code> and press <kbd>Tab</kbd> to insert one. <code>{'{{customer_name}}'}</code> and{' '}
        <code>{'{{ticket_number}}'}</code> are filled in.
      </p>
      <ErrorBanner error={error} testid="canned-error" />
      {editing !== null && (
        <CannedForm initial={editing === 'new' ? null : editing} onDone={() => { setEditing(null); cannedList.invalidate(); }}
          onCancel={() => setEditing(null)} />
      )}
      <div class="canned-list">
        {list.length === 0 && <p class="muted" data-testid="canned-empty">No canned responses yet.</p>}
        {list.map((c) => (
          <article key={c.id} class="card canned-item" data-testid="canned-item" data-shortcut={c.shortcut}>
            <div class="canned-head">
              <strong>{c.title}</strong>
              <code>/{c.shortcut}</code>
              <span class="spacer" />
              <span class="muted small">updated {formatDate(c.updated_at)}</span>
              {canEdit && (
                <>
                  <button type="button" class="button small" onClick={() => setEditing(c)} data-testid="canned-edit">Edit</button>
                  <button type="button" class="button small subtle danger-text" onClick={() => void remove(c)} data-testid="canned-delete">Delete</button>
                </>
              )}
            </div>
            <p class="canned-body">{c.body}</p>
          </article>
        ))}
      </div>
    </div>
  );
}

function CannedForm({ initial, onDone, onCancel }: { initial: CannedT | null; onDone: () => void; onCancel: () => void }) {
  const [v, setV] = useState<CannedInput>(initial ? { title: initial.title, shortcut: initial.shortcut, body: initial.body } : EMPTY);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof CannedInput) => (e: Event) => setV({ ...v, [k]: (e.currentTarget as HTMLInputElement).value });

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (initial) await api.updateCanned(initial.id, v);
      else await api.createCanned(v);
      onDone();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card canned-form" onSubmit={submit} data-testid="canned-form" aria-label={initial ? 'Edit canned response' : 'New canned response'}>
      <div class="form-grid">
        <label>Title<input required value={v.title} onInput={set('title')} data-testid="canned-title" /></label>
        <label>Shortcut<input required pattern="[a-z0-9_\-]{1,32}" value={v.shortcut} onInput={set('shortcut')}
          placeholder="e.g. refund" data-testid="canned-shortcut" /></label>
      </div>
      <label>Body<textarea required rows={5} value={v.body} onInput={set('body')} data-testid="canned-body"
        placeholder="Hi {{customer_name}}, …" /></label>
      <ErrorBanner error={error} testid="canned-form-error" />
      <div class="form-actions">
        <button type="button" class="button subtle" onClick={onCancel}>Cancel</button>
        <button type="submit" class="button primary" disabled={busy} data-testid="canned-save">{busy ? 'Saving…' : 'Save'}</button>
      </div>
    </form>
  );
}
