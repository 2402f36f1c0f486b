// The login form, and the "choose a new password" form shown when must_change_password is set.
import { useState } from 'preact/hooks';
import { api, errorMessage, type Me } from '../api';
import { ErrorBanner } from './ui';

export function Login({ onLoggedIn, notice }: { onLoggedIn: (me: Me, password: string) => void; notice?: string | null }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(email.trim(), password);
      // The session is now the HttpOnly cookie; /auth/me gives staff + tenant in one shape.
      const me = await api.me();
      onLoggedIn(me, password);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="auth-page">
      <form class="auth-card" onSubmit={submit} data-testid="login-form" aria-labelledby="login-title">
        <div class="brand brand-large"><span class="brand-mark" aria-hidden="true">E</span>Edgedesk</div>
        <h1 id="login-title">Sign in to your helpdesk</h1>
        {notice && !error && <div class="banner banner-info" role="status" data-testid="login-notice">{notice}</div>}
        <label for="login-email">E-mail</label>
        <input id="login-email" type="email" autocomplete="username" required value={email}
          onInput={(e) => setEmail(e.currentTarget.value)} data-testid="login-email" autoFocus />
        <label for="login-password">Password</label>
        <input id="login-password" type="password" autocomplete="current-password" required value={password}
          onInput={(e) => setPassword(e.currentTarget.value)} data-testid="login-password" />
        <ErrorBanner error={error} testid="login-error" />
        <button type="submit" class="button primary block" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}

export function ChangePassword({ me, knownPassword, onDone, onLogout }: {
  me: Me; knownPassword: string | null; onDone: (me: Me) => void; onLogout: () => void;
}) {
  const [current, setCurrent] = useState(knownPassword ?? '');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    if (next.length < 10) return setError('The new password needs at least 10 characters.');
    if (next !== confirm) return setError('The two new passwords differ.');
    setBusy(true);
    setError(null);
    try {
      const r = await api.changePassword(current, next);
      onDone({ ...me, staff: r.staff });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="auth-page">
      <form class="auth-card" onSubmit={submit} data-testid="password-form" aria-labelledby="pw-title">
        <div class="brand brand-large"><span class="brand-mark" aria-hidden="true">E</span>Edgedesk</div>
        <h1 id="pw-title">Choose a new password</h1>
        <p class="muted">Hi {me.staff.name}, your account has a temporary password. Pick your own to continue.</p>
        {!knownPassword && (
          <>
            <label for="pw-current">Current (temporary) password</label>
            <input id="pw-current" type="password" autocomplete="current-password" required value={current}
              onInput={(e) => setCurrent(e.currentTarget.value)} data-testid="password-current" />
          </>
        )}
        <label for="pw-new">New password (at least 10 characters)</label>
        <input id="pw-new" type="password" autocomplete="new-password" required minLength={10} value={next}
          onInput={(e) => setNext(e.currentTarget.value)} data-testid="password-new" autoFocus />
        <label for="pw-confirm">Repeat the new password</label>
        <input id="pw-confirm" type="password" autocomplete="new-password" required value={confirm}
          onInput={(e) => setConfirm(e.currentTarget.value)} data-testid="password-confirm" />
        <ErrorBanner error={error} testid="password-error" />
        <button type="submit" class="button primary block" disabled={busy} data-testid="password-submit">
          {busy ? 'Saving…' : 'Save and continue'}
        </button>
        <button type="button" class="button subtle block" onClick={onLogout}>Log out</button>
      </form>
    </div>
  );
}
