/**
 * Test harness: runs the BUILT worker (build/worker/shim.mjs, from `scripts/build.sh`) in workerd through
 * Miniflare 4, with a fresh in-memory local D1 that gets every migration in migrations/, the dashboard as static
 * assets, and vars pointing Gmail, Google OAuth and the LLM at the loopback fakes in tests/fakes/google.mjs.
 *
 *   const h = await startEdgedesk({ vars: { AI_RESPONSE_MODE: 'auto' }, eml: [...paths] });
 *   const token = await h.login();
 *   const report = await h.poll(token);          // POST /api/v1/admin/email-poll
 *   await h.cron();                              // the scheduled() handler, as Cloudflare's cron calls it
 *   await h.dispose();
 */
import { Miniflare } from 'miniflare';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakes } from '../fakes/google.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CORPUS = join(ROOT, '..', 'shared', 'corpus', 'eml');
export const FIXTURES = join(ROOT, 'tests', 'fixtures', 'eml');
export const MAILBOX = 'support@demo.edgedesk.test';
export const ADMIN = { email: 'owner@demo.edgedesk.test', password: 'demo-password-123' };
export const JWT_SECRET = 'test-jwt-secret-0123456789abcdef-0123456789';

/** Every .eml path of a directory, sorted by name. */
export function emlFiles(dir) {
  return readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().map((f) => join(dir, f));
}

/**
 * The SQL statements of every migration, in order: comments stripped, split on `;` at line ends, except inside
 * a `CREATE TRIGGER … BEGIN … END;` body, which stays one statement. `only(fileName)` picks migrations.
 */
export function migrationStatements(only = () => true) {
  const dir = join(ROOT, 'migrations');
  return readdirSync(dir).filter((f) => f.endsWith('.sql') && only(f)).sort().flatMap((f) => {
    const parts = readFileSync(join(dir, f), 'utf8')
      .split('\n').map((l) => l.replace(/--.*$/, '')).join('\n')
      .split(/;\s*(?:\n|$)/).map((s) => s.trim()).filter(Boolean);
    const out = [];
    for (const part of parts) {
      const open = out.length && /^CREATE TRIGGER/i.test(out[out.length - 1]) && !/\bEND$/i.test(out[out.length - 1]);
      if (open) out[out.length - 1] += `;\n${part}`;
      else out.push(part);
    }
    return out.map((s) => (/^CREATE TRIGGER/i.test(s) ? `${s};` : s).replace(/;;$/, ';'));
  });
}

/**
 * `loginLimits` sets the login rate limits per account and per IP (per 60 s); the defaults are high so that
 * suites logging in often are not limited; the rate-limit test starts an instance with small ones.
 * `migrations(fileName)` picks the migrations applied at start (default: all).
 */
export async function startEdgedesk({ vars = {}, eml = [], fakes: givenFakes, loginLimits = { account: 1000, ip: 1000 }, supportStartLimit = 1000,
  captureLogs = false,
  migrations = () => true } = {}) {
  const fakes = givenFakes ?? await startFakes({ mailboxAddress: MAILBOX, emlFiles: eml });
  const bindings = {
    GMAIL_API_BASE: fakes.url,
    GOOGLE_TOKEN_URL: `${fakes.url}/token`,
    GMAIL_CLIENT_ID: 'test-client-id',
    GMAIL_CLIENT_SECRET: 'test-client-secret',
    GMAIL_REFRESH_TOKEN: 'test-refresh-token',
    GMAIL_ADDRESS: MAILBOX,
    LLM_API_BASE: `${fakes.url}/v1`,
    LLM_API_KEY: 'test-llm-key',
    LLM_MODEL: 'test-model',
    AI_RESPONSE_MODE: 'draft',
    JWT_SECRET,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    ...vars,
  };
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  // With `captureLogs`, everything the runtime prints (the worker's console output) is kept in `logs`.
  const logs = [];
  const stdio = captureLogs ? {
    handleRuntimeStdio(stdout, stderr) {
      for (const stream of [stdout, stderr]) stream.on('data', (chunk) => logs.push(String(chunk)));
    },
  } : {};
  const mf = new Miniflare({
    ...stdio,
    modules: true,
    scriptPath: join(ROOT, 'build', 'worker', 'shim.mjs'),
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2026-04-01',
    d1Databases: { DB: `edgedesk-test-${process.pid}-${Date.now()}` },
    bindings,
    assets: {
      directory: join(ROOT, 'dashboard', 'dist'),
      routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: false, static_routing: { user_worker: ['/api/*'] } },
      assetConfig: { not_found_handling: 'single-page-application' },
    },
    ratelimits: {
      LOGIN_ACCOUNT_LIMITER: { simple: { limit: loginLimits.account, period: 60 } },
      LOGIN_IP_LIMITER: { simple: { limit: loginLimits.ip, period: 60 } },
      SUPPORT_START_LIMITER: { simple: { limit: supportStartLimit, period: 60 } },
    },
    durableObjects: { HUB: { className: 'TenantHub', useSQLite: true }, ROOMS: { className: 'SignalingRoom', useSQLite: true } },
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const db = await mf.getD1Database('DB');
  await db.batch(migrationStatements(migrations).map((s) => db.prepare(s)));

  const api = async (method, path, { token, body, headers = {} } = {}) => {
    const init = { method, headers: { ...headers } };
    if (token) init.headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers['content-type'] ??= 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url + path, init);
    } catch (error) {
      throw new Error(`${method} ${path}: ${error.cause?.code ?? error.cause?.message ?? error.message}`, { cause: error });
    }
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, json, text, headers: res.headers };
  };

  return {
    mf, url, db, fakes, api, logs,
    async login(email = ADMIN.email, password = ADMIN.password) {
      const r = await api('POST', '/api/v1/auth/login', { body: { email, password } });
      if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.text}`);
      return r.json.token;
    },
    async poll(token) {
      const r = await api('POST', '/api/v1/admin/email-poll', { token });
      if (r.status !== 200) throw new Error(`poll failed: ${r.status} ${r.text}`);
      return r.json;
    },
    async cron() {
      const worker = await mf.getWorker();
      return worker.scheduled({ cron: '*/5 * * * *' });
    },
    async rows(sql, ...params) {
      return (await db.prepare(sql).bind(...params).all()).results;
    },
    async dispose() {
      await mf.dispose();
      if (!givenFakes) await fakes.close();
    },
  };
}
