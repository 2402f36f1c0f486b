// The application shell: decides logged in or not (GET /auth/me), the forced password change, the top bar with
// navigation by role, the live connection, the `?` shortcuts overlay, and the routes.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, atLeast, setUnauthorizedHandler, type Me } from '../api';
import { live, useLive, useLiveStatus } from '../live';
import { link, navigate, useLocation } from '../router';
import { SHORTCUTS, useShortcuts } from '../shortcuts';
import { SessionContext, clearCaches } from '../store';
import { humanize, initials } from '../format';
import { Canned } from './Canned';
import { CustomerPage } from './CustomerPage';
import { Customers } from './Customers';
import { Inbox } from './Inbox';
import { ChangePassword, Login } from './Login';
import { StaffPage } from './Staff';
import { Tenants } from './Tenants';
import { TicketView } from './TicketView';
import { Loading, Modal } from './ui';
import { lazy } from '../lazy';

// uPlot is only downloaded by those who open the reports; the live console (WebRTC) by those who open it.
const Reports = lazy(() => import('./Reports').then((m) => m.Reports));
const Support = lazy(() => import('./Support').then((m) => m.Support));

export const canSeeReports = (me: Me) => atLeast(me.staff.role, 'supervisor');
export const canAdmin = (me: Me) => atLeast(me.staff.role, 'admin');
export const canManageTenants = (me: Me) => me.staff.tenant === 'default' && me.staff.role === 'owner';

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined); // undefined: still asking /auth/me
  const [password, setPassword] = useState<string | null>(null); // only between login and a forced change
  const [notice, setNotice] = useState<string | null>(null);
  const [help, setHelp] = useState(false);

  const endSession = useCallback((message: string | null) => {
    live.stop();
    clearCaches();
    setPassword(null);
    setNotice(message);
    setMe(null);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => endSession('Your session has ended. Please sign in again.'));
    api.me().then(setMe, () => setMe(null));
    return () => setUnauthorizedHandler(null);
  }, [endSession]);

  const ready = !!me && !me.staff.must_change_password;
  useEffect(() => {
    if (ready) live.start();
  }, [ready]);

  useShortcuts({ '?': () => setHelp((h) => !h) });

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } catch {
      // The cookie may already be gone; the login form is shown either way.
    }
    endSession(null);
    navigate('/', { replace: true });
  }, [endSession]);

  let screen;
  if (me === undefined) screen = <div class="auth-page"><Loading label="Starting…" /></div>;
  else if (me === null) {
    screen = <Login notice={notice} onLoggedIn={(m, pw) => { setNotice(null); setPassword(pw); setMe(m); }} />;
  } else if (me.staff.must_change_password) {
    screen = <ChangePassword me={me} knownPassword={password} onLogout={logout}
      onDone={(m) => { setPassword(null); setMe(m); }} />;
  } else {
    screen = (
      <SessionContext.Provider value={{ me, setMe: (m) => (m ? setMe(m) : endSession(null)) }}>
        <Shell me={me} onLogout={logout} onHelp={() => setHelp(true)} />
      </SessionContext.Provider>
    );
  }

  return (
    <>
      {screen}
      {help && <ShortcutsHelp onClose={() => setHelp(false)} />}
    </>
  );
}

function Shell({ me, onLogout, onHelp }: { me: Me; onLogout: () => void; onHelp: () => void }) {
  const loc = useLocation();
  const status = useLiveStatus();
  const path = loc.path;
  const section = path.startsWith('/tickets') || path === '/' ? 'inbox' : path.split('/')[1];

  // A call assigned to me rings everywhere in the app; the live console (/support) has its own banner.
  const [ringing, setRinging] = useState<string | null>(null); // the session id of the call
  useLive((m) => {
    if (m.type !== 'support') return;
    if (m.event === 'assigned' && m.kind === 'voice' && m.staff_id === me.staff.staff_id) setRinging(m.session_id);
    else if (m.session_id === ringing) setRinging(null);
  });
  useEffect(() => {
    if (section === 'support') setRinging(null);
  }, [section]);

  const nav: { href: string; key: string; label: string; show: boolean }[] = [
    { href: '/', key: 'inbox', label: 'Inbox', show: true },
    { href: '/support', key: 'support', label: 'Live', show: true },
    { href: '/customers', key: 'customers', label: 'Customers', show: true },
    { href: '/reports', key: 'reports', label: 'Reports', show: canSeeReports(me) },
    { href: '/staff', key: 'staff', label: 'Staff', show: canAdmin(me) },
    { href: '/canned', key: 'canned', label: 'Canned responses', show: true },
    { href: '/tenants', key: 'tenants', label: 'Tenants', show: canManageTenants(me) },
  ];

  let page;
  const ticket = /^\/tickets\/([^/]+)$/.exec(path);
  const customer = /^\/customers\/([^/]+)$/.exec(path);
  if (path === '/' || path === '/inbox') page = <Inbox params={loc.params} />;
  else if (ticket) page = <TicketView key={ticket[1]} id={decodeURIComponent(ticket[1])} />;
  else if (path === '/customers') page = <Customers params={loc.params} />;
  else if (customer) page = <CustomerPage key={customer[1]} id={decodeURIComponent(customer[1])} />;
  else if (path === '/reports') page = canSeeReports(me) ? <Reports /> : <NotAllowed what="Reports" need="supervisor" />;
  else if (path === '/staff') page = canAdmin(me) ? <StaffPage /> : <NotAllowed what="Staff" need="admin" />;
  else if (path === '/canned') page = <Canned />;
  else if (path === '/support') page = <Support params={loc.params} />;
  else if (path === '/tenants') {
    page = canManageTenants(me) ? <Tenants /> : <NotAllowed what="Tenants" need="owner of the default tenant" />;
  } else page = <NotFound />;

  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="/" onClick={link}><span class="brand-mark" aria-hidden="true">E</span>Edgedesk</a>
        <nav class="mainnav" aria-label="Main">
          {nav.filter((n) => n.show).map((n) => (
            <a key={n.key} href={n.href} onClick={link} class={section === n.key ? 'active' : ''}
              aria-current={section === n.key ? 'page' : undefined} data-testid={`nav-${n.key}`}>
              {n.label}
            </a>
          ))}
        </nav>
        <div class="topbar-right">
          <span class={`live-dot live-${status}`} title={`Live updates: ${status}`} data-testid="live-status"
            data-status={status} aria-label={`Live updates ${status}`} role="img" />
          <button type="button" class="icon-button" onClick={onHelp} aria-label="Keyboard shortcuts"
            title="Keyboard shortcuts (?)" data-testid="help-button">?</button>
          <span class="whoami" data-testid="whoami" title={me.staff.email}>
            <span class="avatar" aria-hidden="true">{initials(me.staff.name)}</span>
            <span>
              <strong>{me.staff.name}</strong>
              <small>{humanize(me.staff.role)} · {me.tenant.name}</small>
            </span>
          </span>
          <button type="button" class="button subtle small" onClick={onLogout} data-testid="logout">Log out</button>
        </div>
      </header>
      {ringing && section !== 'support' && (
        <div class="banner banner-warn ring-banner" role="alert" data-testid="incoming-call-global">
          <span class="ring" aria-hidden="true" />
          <strong>Incoming call</strong>
          <a class="button small primary" href={`/support?session=${encodeURIComponent(ringing)}`}
            onClick={(e) => { setRinging(null); link(e); }}>Answer in Live</a>
          <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => setRinging(null)}>×</button>
        </div>
      )}
      <main class="main">{page}</main>
    </div>
  );
}

function NotAllowed({ what, need }: { what: string; need: string }) {
  return (
    <div class="empty-state" data-testid="not-allowed" role="alert">
      <h1>Not allowed</h1>
      <p>{what} is not available for your role (needs {need} or higher).</p>
      <a class="button" href="/" onClick={link}>Back to the inbox</a>
    </div>
  );
}

function NotFound() {
  return (
    <div class="empty-state" data-testid="not-found">
      <h1>Page not found</h1>
      <a class="button" href="/" onClick={link}>Back to the inbox</a>
    </div>
  );
}

function ShortcutsHelp({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose} testid="shortcuts-help">
      <table class="shortcuts">
        <tbody>
          {SHORTCUTS.map((s) => (
            <tr key={s.what}>
              <td class="keys">{s.keys.map((k) => <kbd key={k}>{k}</kbd>)}</td>
              <td>{s.what}</td>
              <td class="muted">{s.where}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Modal>
  );
}
