// Staff management (admin+): list, create (the temporary password is shown once), role/team changes,
// deactivate/reactivate, password reset.
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage, ROLES, type Role, type Staff } from '../api';
import { formatDay, humanize } from '../format';
import { staffList, useSession } from '../store';
import { ErrorBanner, Loading, Notice, Secret, useEditable } from './ui';

export function StaffPage() {
  const { me } = useSession();
  const [rows, setRows] = useState<Staff[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [secret, setSecret] = useState<{ who: string; password: string } | null>(null);

  async function load() {
    try {
      setRows((await api.staff()).staff);
    } catch (e) {
      setError(errorMessage(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);

  /** Roles the caller may grant: only owners grant owner. */
  const grantable = ROLES.filter((r) => r !== 'owner' || me.staff.role === 'owner');

  async function update(s: Staff, body: Parameters<typeof api.patchStaff>[1], what: string) {
    setError(null);
    setNotice(null);
    try {
      const r = await api.patchStaff(s.staff_id, body);
      setRows((rs) => rs?.map((x) => (x.staff_id === s.staff_id ? r.staff : x)) ?? null);
      staffList.invalidate();
      setNotice(`${r.staff.name}: ${what}.`);
    } catch (e) {
      setError(errorMessage(e));
      void load(); // put the controls back to what the server has
    }
  }

  async function reset(s: Staff) {
    if (!window.confirm(`Reset the password of ${s.name}? Their sessions end at once.`)) return;
    setError(null);
    try {
      const r = await api.resetPassword(s.staff_id);
      setSecret({ who: s.name, password: r.temporary_password });
    } catch (e) {
      setError(errorMessage(e));
    }
  }

  return (
    <div class="page" data-testid="staff-page">
      <div class="page-head"><h1>Staff</h1></div>
      <CreateStaff grantable={grantable} onCreated={(s, pw) => {
        setRows((rs) => [...(rs ?? []), s].sort((a, b) => a.name.localeCompare(b.name)));
        staffList.invalidate();
        setSecret({ who: s.name, password: pw });
      }} />
      {secret && <Secret label={`Temporary password for ${secret.who}:`} value={secret.password} testid="temp-password" />}
      <ErrorBanner error={error} testid="staff-error" />
      <Notice text={notice} testid="staff-notice" />
      {!rows ? <Loading /> : (
        <div class="table-wrap">
          <table class="simple staff-table" data-testid="staff-table">
            <thead>
              <tr><th>Name</th><th>E-mail</th><th>Role</th><th>Team</th><th>Status</th><th>Since</th><th /></tr>
            </thead>
            <tbody>
              {rows.map((s) => {
                const self = s.staff_id === me.staff.staff_id;
                const editable = !(s.role === 'owner' && me.staff.role !== 'owner');
                return (
                  <tr key={s.staff_id} data-testid="staff-row" data-email={s.email} class={s.status === 'inactive' ? 'inactive' : ''}>
                    <td><strong>{s.name}</strong>{self && <span class="muted"> (you)</span>}</td>
                    <td>{s.email}</td>
                    <td>
                      <select aria-label={`Role of ${s.name}`} value={s.role} disabled={!editable || self} data-testid="staff-role"
                        onChange={(e) => void update(s, { role: e.currentTarget.value as Role }, `role ${e.currentTarget.value}`)}>
                        {(editable ? grantable : ROLES).map((r) => <option key={r} value={r}>{humanize(r)}</option>)}
                      </select>
                    </td>
                    <td>
                      <TeamInput staff={s} disabled={!editable}
                        onSave={(team) => void update(s, { team }, team ? `team ${team}` : 'no team')} />
                    </td>
                    <td>
                      <span class={`badge status-${s.status === 'active' ? 'open' : 'closed'}`} data-testid="staff-status">{s.status}</span>
                      {s.must_change_password && <span class="muted small"> · temporary password</span>}
                    </td>
                    <td class="muted nowrap">{formatDay(s.created_at)}</td>
                    <td class="row-actions">
                      {editable && !self && (
                        <>
                          <button type="button" class="button small" data-testid="staff-toggle"
                            onClick={() => void update(s, { status: s.status === 'active' ? 'inactive' : 'active' },
                              s.status === 'active' ? 'deactivated' : 'reactivated')}>
                            {s.status === 'active' ? 'Deactivate' : 'Reactivate'}
                          </button>
                          <button type="button" class="button small subtle" data-testid="staff-reset" onClick={() => void reset(s)}>
                            Reset password
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function TeamInput({ staff, disabled, onSave }: { staff: Staff; disabled: boolean; onSave: (team: string | null) => void }) {
  const [v, setV] = useEditable(staff.team ?? '');
  // The input's own value, not the state: Enter right after typing may come before the state re-renders.
  const save = (value: string) => {
    const next = value.trim() || null;
    if (next !== (staff.team ?? null)) onSave(next);
  };
  return (
    <input class="team-input" aria-label={`Team of ${staff.name}`} value={v} placeholder="—" disabled={disabled}
      onInput={(e) => setV(e.currentTarget.value)} onBlur={(e) => save(e.currentTarget.value)} data-testid="staff-team"
      onKeyDown={(e) => { if (e.key === 'Enter') e.currentTarget.blur(); }} />
  );
}

function CreateStaff({ grantable, onCreated }: { grantable: Role[]; onCreated: (s: Staff, password: string) => void }) {
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('agent');
  const [team, setTeam] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api.createStaff({ email: email.trim(), name: name.trim(), role, ...(team.trim() ? { team: team.trim() } : {}) });
      onCreated(r.staff, r.temporary_password);
      setEmail('');
      setName('');
      setTeam('');
      setRole('agent');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card form-row" onSubmit={submit} data-testid="staff-create" aria-label="Add a staff member">
      <h2>Add a staff member</h2>
      <div class="form-grid">
        <label>Name<input required value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="new-staff-name" /></label>
        <label>E-mail<input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} data-testid="new-staff-email" /></label>
        <label>Role
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)} data-testid="new-staff-role">
            {grantable.map((r) => <option key={r} value={r}>{humanize(r)}</option>)}
          </select>
        </label>
        <label>Team (optional)<input value={team} onInput={(e) => setTeam(e.currentTarget.value)} data-testid="new-staff-team" /></label>
        <button type="submit" class="button primary" disabled={busy} data-testid="new-staff-submit">{busy ? 'Adding…' : 'Add'}</button>
      </div>
      <ErrorBanner error={error} testid="staff-create-error" />
    </form>
  );
}

