/**
 * Browser helpers for the dashboard tests: Debian's headless Chromium through playwright-core, pages that record
 * JavaScript errors and every request they make, the login flow of the SPA, screenshots.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ADMIN, ROOT } from './worker.mjs';

export const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};

export const SCREENS = join(ROOT, 'test-output', 'screens');
export const DOC_SCREENS = join(ROOT, 'docs', 'screens');

export const launch = () => chromium.launch(CHROMIUM);

/**
 * Chromium for WebRTC tests: the CHROMIUM args plus a fake microphone (a synthetic beep, no device needed) that
 * getUserMedia grants without a permission prompt. The autoplay policy stays Chromium's own.
 */
export const launchWithMedia = () => chromium.launch({
  ...CHROMIUM,
  args: [...CHROMIUM.args, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
});

/**
 * A new context + page. `errors` collects uncaught page errors and Content-Security-Policy violations (Chromium
 * reports those on the console), `requests` every URL the page asked for.
 */
export async function openPage(browser, { viewport = { width: 1360, height: 860 } } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  const requests = [];
  page.on('pageerror', (error) => errors.push(error));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(`CSP: ${m.text()}`);
  });
  page.on('request', (r) => requests.push(r.url()));
  return { context, page, errors, requests };
}

/** Logs in through the form; resolves when the app shell (or the forced password change) is shown. */
export async function login(page, url, { email = ADMIN.email, password = ADMIN.password, expect = 'shell' } = {}) {
  if (!page.url().startsWith(url)) await page.goto(`${url}/`);
  await page.getByTestId('login-form').waitFor();
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  if (expect === 'shell') await page.getByTestId('nav-inbox').waitFor();
  else if (expect === 'password') await page.getByTestId('password-form').waitFor();
}

/**
 * Saves a screenshot to test-output/screens/<name>.png; with `doc`, and when UPDATE_DOC_SCREENS=1, also to
 * docs/screens/ for the README (so ordinary test runs leave the repository unchanged).
 */
export async function screenshot(page, name, { doc = false, fullPage = false } = {}) {
  mkdirSync(SCREENS, { recursive: true });
  const path = join(SCREENS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  if (doc && process.env.UPDATE_DOC_SCREENS === '1') {
    mkdirSync(DOC_SCREENS, { recursive: true });
    copyFileSync(path, join(DOC_SCREENS, `${name}.png`));
  }
  return path;
}

/** Ticket numbers of the inbox rows, in display order. */
export const rowNumbers = (page) => page.getByTestId('ticket-row').evaluateAll((rows) => rows.map((r) => r.dataset.ticketNumber));

/** Waits until the inbox shows exactly `numbers` (any order). */
export async function waitForRows(page, numbers) {
  const want = [...numbers].sort();
  await page.waitForFunction((w) => {
    const got = [...document.querySelectorAll('[data-testid=ticket-row]')].map((r) => r.dataset.ticketNumber).sort();
    return JSON.stringify(got) === JSON.stringify(w);
  }, want);
}

/** Lets pending tasks, two animation frames and image loads/errors settle (no fixed sleep). */
export const settle = (page) => page.evaluate(() => new Promise((resolve) => {
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(resolve, 0)));
}));

/** Decodes a stored RFC 5322 message (Buffer or string): headers and the transfer-decoded body of its text part. */
export function decodeMessage(raw) {
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw);
  const split = /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  let body = split ? text.slice(split.index + split[0].length) : '';
  const cte = /^content-transfer-encoding:\s*([^\s;]+)/im.exec(head)?.[1]?.toLowerCase();
  if (cte === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable') {
    body = Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');
  }
  return { head, body: body.replace(/\r\n/g, '\n') };
}
