// Tenants (owner of tenant `default` only): list and create; a new tenant's owner gets a temporary password.
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage, type TenantRow } from '../api';
import { formatDate } from '../format';
import { ErrorBanner, Loading, Secret } from './ui';

export function Tenants() {
  const [rows, setRows] = useState<TenantRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ email: string; password: string } | null>(null);
  const [form, setForm] = useState({ id: '', name: '', owner_email: '', owner_name: '' });
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);

  async function load() {
    try {
      setRows((await api.tenants()).tenants);
    } catch (e) {
      setError(errorMessage(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);

  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setFormError(null);
    try {
      const r = await api.createTenant({
        id: form.id.trim(), name: form.name.trim(), owner_email: form.owner_email.trim(), owner_name: form.owner_name.trim(),
      });
      setCreated({ email: r.owner.email, password: r.temporary_password });
      setForm({ id: '', name: '', owner_email: '', owner_name: '' });
      void load();
    } catch (err) {
      setFormError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="page" data-testid="tenants-page">
      <div class="page-head"><h1>Tenants</h1></div>
      <form class="card form-row" onSubmit={submit} data-testid="tenant-create" aria-label="Create a tenant">
        <h2>Create a tenant</h2>
        <div class="form-grid">
          <label>Id<input required pattern="[a-z0-9\-]{3,40}" value={form.id} onInput={set('id')} placeholder="acme" data-testid="tenant-id" /></label>
          <label>Name<input required value={form.name} onInput={set('name')} placeholder="Acme Ltd" data-testid="tenant-name" /></label>
          <label>Owner e-mail<input type="email" required value={form.owner_email} onInput={set('owner_email')} data-testid="tenant-owner-email" /></label>
          <label>Owner name<input required value={form.owner_name} onInput={set('owner_name')} data-testid="tenant-owner-name" /></label>
          <button type="submit" class="button primary" disabled={busy} data-testid="tenant-submit">{busy ? 'Creating…' : 'Create'}</button>
        </div>
        <ErrorBanner error={formError} testid="tenant-error" />
      </form>
      {created && <Secret label={`Temporary password for ${created.email}:`} value={created.password} testid="tenant-temp-password" />}
      <ErrorBanner error={error} />
      {!rows ? <Loading /> : (
        <table class="simple" data-testid="tenants-table">
          <thead><tr><th>Id</th><th>Name</th><th>Staff</th><th>Created</th></tr></thead>
          <tbody>
            {rows.map((t) => (
              <tr key={t.id} data-testid="tenant-row"><td class="mono">{t.id}</td><td>{t.name}</td><td>{t.staff_count}</td><td>{formatDate(t.created_at)}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
