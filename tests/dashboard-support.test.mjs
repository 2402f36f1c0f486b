/**
 * End-to-end tests of live chat and WebRTC voice in real headless Chromium, against the BUILT worker in Miniflare
 * (local D1, the TenantHub and SignalingRoom Durable Objects; tests/support/worker.mjs): the customer widget
 * (dashboard/dist/widget.js) embedded in a page of ANOTHER origin (a loopback node server: the widget's JSON POSTs
 * are cross-origin and preflighted), and the agent console of the dashboard (/support) in a second browser context.
 * Chromium runs with a fake microphone (launchWithMedia), so two real RTCPeerConnections negotiate through the room
 * over host candidates, open the data channel and send audio.
 *
 * Each test has its own worker, agent and pages. The widget and the console do not expose their RTCPeerConnection;
 * an init script (trackPeerConnections) records every one the page creates (window.__edgedeskPcs) so the test can
 * read getStats() of the very connection the app made.
 *
 * Run: source scripts/env.sh && node --test --test-concurrency=1 tests/dashboard-support.test.mjs
 * Screenshots: test-output/screens/support-{console,widget}.png (with UPDATE_DOC_SCREENS=1 also docs/screens/).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startEdgedesk } from './support/worker.mjs';
import { launchWithMedia, login, openPage, screenshot } from './support/browser.mjs';

const AGENT = { email: 'ana@demo.edgedesk.test', name: 'Ana Agent', role: 'agent', password: 'ana-agent-password-42' };
const SUPERVISOR = { email: 'sam@demo.edgedesk.test', name: 'Sam Supervisor', role: 'supervisor', password: 'sam-supervisor-password-42' };

/** Fails with the page errors (uncaught exceptions, CSP violations) listed, if any. */
function assertNoPageErrors(...lists) {
  assert.deepEqual(lists.flat().map(String), []);
}

/** A staff member created through the API (as the owner), with their temporary password replaced by `password`. */
async function createStaff(h, ownerToken, { email, name, role, password }) {
  const created = await h.api('POST', '/api/v1/staff', { token: ownerToken, body: { email, name, role } });
  assert.equal(created.status, 201, created.text);
  const temp = created.json.temporary_password;
  const token = await h.login(email, temp);
  const changed = await h.api('POST', '/api/v1/auth/password', { token, body: { current_password: temp, new_password: password } });
  assert.equal(changed.status, 200, changed.text);
  return created.json.staff;
}

/**
 * The tenant's website on another origin (127.0.0.1, another port): a plain shop page that embeds the widget the
 * way docs/api.md says, with a hostile bit of CSS the widget's Shadow DOM must not care about.
 */
async function startShop(workerUrl) {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ridge Outfitters</title>
<style>body{font:16px Georgia,serif;margin:40px;background:#f7f3ea}button,input{background:red!important;font-size:30px}</style>
</head><body>
<h1>Ridge Outfitters</h1><p>Rain jackets, boots and everything for a wet weekend on the hills.</p>
<script src="${workerUrl}/widget.js" data-tenant="default" async></script>
</body></html>`;
  const server = createServer((req, res) => {
    if (req.url === '/shop.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, url: `${origin}/shop.html`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Init script: keeps every RTCPeerConnection the page creates in window.__edgedeskPcs (same class, same API). */
function trackPeerConnections() {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__edgedeskPcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__edgedeskPcs.push(this);
    }
  };
}

/**
 * Init script: keeps every WebSocket the page opens in window.__edgedeskWs and counts the room welcomes received
 * (window.__edgedeskWelcomes); while window.__edgedeskWsBlocked is true, new sockets go to a closed port and fail
 * (as a network that is away would).
 */
function trackWebSockets() {
  const Native = window.WebSocket;
  window.__edgedeskWs = [];
  window.__edgedeskWelcomes = 0;
  window.__edgedeskWsBlocked = false;
  window.WebSocket = class extends Native {
    constructor(url, ...rest) {
      super(window.__edgedeskWsBlocked ? 'ws://127.0.0.1:9/blocked' : url, ...rest);
      window.__edgedeskWs.push(this);
      this.addEventListener('message', (e) => {
        try {
          if (JSON.parse(e.data).type === 'welcome') window.__edgedeskWelcomes += 1;
        } catch {
          // not JSON
        }
      });
    }
  };
}

/** Closes the page's open room sockets (the app reconnects); `block` makes its reconnects fail until unblocked. */
const dropRoomSocket = (page, block = false) => page.evaluate((b) => {
  window.__edgedeskWsBlocked = b;
  window.__edgedeskWs.filter((w) => w.url.includes('/rooms/') && w.readyState === WebSocket.OPEN).forEach((w) => w.close());
}, block);
const welcomes = (page) => page.evaluate(() => window.__edgedeskWelcomes);

/**
 * What the page's newest RTCPeerConnection reports: its state, the selected candidate pair's local and remote
 * candidates, inbound/outbound audio RTP and the data channels; `audio` is the remote track played by the element
 * [data-testid=remote-audio] (in the widget's open shadow root, or the document).
 */
const rtc = (page) => page.evaluate(async () => {
  const pcs = window.__edgedeskPcs ?? [];
  const pc = pcs[pcs.length - 1];
  if (!pc) return null;
  const stats = [...(await pc.getStats()).values()];
  const byId = new Map(stats.map((s) => [s.id, s]));
  const transport = stats.find((s) => s.type === 'transport');
  const pair = byId.get(transport?.selectedCandidatePairId)
    ?? stats.find((s) => s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated);
  const cand = (id) => {
    const c = byId.get(id);
    return c && { type: c.candidateType, address: c.address ?? c.ip, protocol: c.protocol };
  };
  const inbound = stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'audio');
  const outbound = stats.find((s) => s.type === 'outbound-rtp' && s.kind === 'audio');
  const root = document.querySelector('edgedesk-widget')?.shadowRoot ?? document;
  const el = root.querySelector('[data-testid=remote-audio]');
  const track = el?.srcObject?.getAudioTracks?.()[0];
  return {
    count: pcs.length,
    connectionState: pc.connectionState,
    iceConnectionState: pc.iceConnectionState,
    pair: pair && { state: pair.state, local: cand(pair.localCandidateId), remote: cand(pair.remoteCandidateId) },
    inbound: inbound && { packetsReceived: inbound.packetsReceived, bytesReceived: inbound.bytesReceived,
      totalAudioEnergy: inbound.totalAudioEnergy ?? 0 },
    outbound: outbound && { packetsSent: outbound.packetsSent },
    channels: stats.filter((s) => s.type === 'data-channel').map((s) => ({ label: s.label, state: s.state })),
    audio: track && { kind: track.kind, readyState: track.readyState, muted: track.muted, enabled: track.enabled,
      paused: el.paused },
  };
});

/** Every RTCPeerConnection of the page, in creation order: its state and its audio RTP counters. */
const allPcs = (page) => page.evaluate(() => Promise.all((window.__edgedeskPcs ?? []).map(async (pc) => {
  const stats = [...(await pc.getStats()).values()];
  const inbound = stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'audio');
  const outbound = stats.find((s) => s.type === 'outbound-rtp' && s.kind === 'audio');
  return {
    connectionState: pc.connectionState,
    received: inbound?.packetsReceived ?? 0,
    sent: outbound?.packetsSent ?? 0,
    hasOutbound: !!outbound,
    directions: pc.getTransceivers().map((t) => t.currentDirection),
  };
})));

/** Polls `fn` until `ok(value)`; fails with the last value. */
async function until(fn, ok, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (ok(last)) return last;
    if (Date.now() > deadline) assert.fail(`${what}: last ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('live support in the browser: widget on another origin, agent console', () => {
  let browser;
  before(async () => {
    browser = await launchWithMedia();
  });
  after(async () => {
    await browser?.close();
  });

  /**
   * A fresh worker with an agent (Ana), the shop page, and two browser contexts: the agent logged into the
   * dashboard on /support (live channel open), the customer on the shop. Cleaned up after the test.
   */
  async function setup(t) {
    const h = await startEdgedesk();
    const cleanup = [() => h.dispose()];
    t.after(async () => {
      for (const f of cleanup.reverse()) await f().catch(() => undefined);
    });
    const owner = await h.login();
    const agent = await createStaff(h, owner, AGENT);
    const shop = await startShop(h.url);
    cleanup.push(shop.close);
    const staff = await openPage(browser);
    cleanup.push(() => staff.context.close());
    const customer = await openPage(browser, { viewport: { width: 960, height: 720 } });
    cleanup.push(() => customer.context.close());
    await staff.context.addInitScript(trackPeerConnections);
    await customer.context.addInitScript(trackPeerConnections);

    const page = staff.page;
    await login(page, h.url, { email: AGENT.email, password: AGENT.password });
    await page.getByTestId('nav-support').click();
    await page.getByTestId('support-page').waitFor();
    await page.locator('[data-testid=availability][data-value=offline]').waitFor();
    await page.locator('[data-testid=live-status][data-status=open]').waitFor();
    const goOnline = async () => {
      await page.getByTestId('availability').selectOption('online');
      await page.locator('[data-testid=availability][data-value=online]').waitFor();
      const me = await h.api('GET', '/api/v1/support/me', { token: await h.login(AGENT.email, AGENT.password) });
      assert.equal(me.json.support_status, 'online', me.text);
    };
    return { h, owner, agent, shop, staff, customer, page, cust: customer.page, goOnline };
  }

  /** The customer opens the shop and the widget's panel and fills the form; `kind` 'chat' | 'call' starts it. */
  async function customerStarts({ h, shop, cust }, kind, { name, email }) {
    await cust.goto(shop.url);
    await cust.getByTestId('widget-launcher').click();
    await cust.getByTestId('widget-name').fill(name);
    await cust.getByTestId('widget-email').fill(email);
    const response = cust.waitForResponse((r) => r.url() === `${h.url}/api/v1/support/${kind}/start` && r.request().method() === 'POST');
    await cust.getByTestId(kind === 'call' ? 'widget-start-call' : 'widget-start-chat').click();
    const res = await response;
    // A cross-origin JSON POST: only sent after a successful CORS preflight, and readable only with ACAO.
    assert.equal(res.status(), 201, await res.text());
    const sent = await res.request().allHeaders();
    assert.equal(sent.origin, shop.origin, 'the widget calls the worker from the shop\'s origin');
    assert.match(sent['content-type'], /^application\/json/);
    assert.equal(await res.headerValue('access-control-allow-origin'), '*');
    await cust.getByTestId('widget-conversation').waitFor();
    return res.json();
  }

  /** The customer starts a chat that is auto-assigned to the online agent, who opens it in the console. */
  async function chatWithAgent(s, customer) {
    const started = await customerStarts(s, 'chat', customer);
    const id = started.session_id;
    assert.equal(started.status, 'active', 'auto-assigned to the online agent');
    await s.cust.getByTestId('widget-status').filter({ hasText: 'Ana Agent joined' }).waitFor();
    await s.page.locator(`[data-testid=my-session][data-session-id="${id}"]`).click();
    await s.page.locator(`[data-testid=conversation][data-session-id="${id}"][data-kind=chat]`).waitFor();
    await s.page.locator('[data-testid=room-status][data-status=open]').waitFor();
    return started;
  }

  test('two real WebRTC peers negotiate through a room: connected over host candidates, data channel both ways, audio flows; hang-up makes a voice ticket', async (t) => {
    const s = await setup(t);
    const { h, owner, page, cust } = s;
    await s.goOnline();

    const started = await customerStarts(s, 'call', { name: 'Dora Dial', email: 'dora@example.com' });
    const callId = started.call_id;
    assert.ok(callId, JSON.stringify(started));
    assert.equal(started.status, 'active', 'auto-assigned to the online agent');

    // The console rings; the agent accepts (the microphone is asked for inside the click).
    const ring = page.locator(`[data-testid=incoming-call][data-session-id="${callId}"]`);
    await ring.waitFor();
    assert.match(await ring.textContent(), /Incoming call.*Dora Dial \(dora@example\.com\)/);
    const accepted = page.waitForResponse((r) => r.url() === `${h.url}/api/v1/support/sessions/${callId}/accept`
      && r.request().method() === 'POST');
    await ring.getByTestId('call-accept').click();
    assert.equal((await accepted).status(), 200);
    const acceptedAt = Date.now(); // the call's answered_at is set before this response
    await page.locator(`[data-testid=conversation][data-session-id="${callId}"][data-kind=voice]`).waitFor();

    // Both RTCPeerConnections reach `connected`: the console's call-state, the widget's call-state and hooks.
    await page.locator('[data-testid=call-state][data-state=connected]').waitFor();
    await cust.waitForFunction(() => window.EdgedeskWidget?.state().connectionState === 'connected');
    assert.equal(await cust.getByTestId('call-state').textContent(), 'connected');
    assert.equal(await page.getByTestId('call-state').textContent(), 'connected');
    assert.equal(await page.evaluate(() => window.EdgedeskConsole.state().connectionState), 'connected');
    const widgetState = await cust.evaluate(() => window.EdgedeskWidget.state());
    assert.deepEqual([widgetState.sessionId, widgetState.status, widgetState.peerId], [callId, 'active', started.peer_id]);
    const consoleState = await page.evaluate(() => window.EdgedeskConsole.state());
    assert.deepEqual([consoleState.sessionId, consoleState.roomId, consoleState.socket], [callId, started.room_id, 'open']);

    // Over host candidates (no STUN/TURN reachable here): the selected pair is host ↔ host on both sides.
    for (const [who, p] of [['customer', cust], ['agent', page]]) {
      const r = await until(() => rtc(p), (x) => x?.pair?.local && x.pair.remote, `${who}: a selected candidate pair`);
      assert.equal(r.count, 1, `${who}: one peer connection`);
      assert.equal(r.connectionState, 'connected');
      assert.deepEqual([r.pair.local.type, r.pair.remote.type], ['host', 'host'], `${who}: ${JSON.stringify(r.pair)}`);
    }

    // The `edgedesk` data channel, both ways: what one side sends shows up as dc-message on the other.
    await cust.waitForFunction(() => window.EdgedeskWidget.sendData('hello from the customer'));
    await page.getByTestId('dc-message').filter({ hasText: 'hello from the customer' }).waitFor();
    await page.waitForFunction(() => window.EdgedeskConsole.sendData('hello from Ana'));
    await cust.getByTestId('dc-message').filter({ hasText: 'hello from Ana' }).waitFor();
    assert.deepEqual(await page.getByTestId('dc-message').allTextContents(), ['hello from the customer']);
    assert.deepEqual(await cust.getByTestId('dc-message').allTextContents(), ['hello from Ana']);

    // The data channel is peer-to-peer (the room never sees it): the console masks what staff see.
    await cust.waitForFunction(() => window.EdgedeskWidget.sendData('card 4111 1111 1111 1111'));
    await page.getByTestId('dc-message').filter({ hasText: 'card ****' }).waitFor();
    assert.deepEqual(await page.getByTestId('dc-message').allTextContents(), ['hello from the customer', 'card ****']);
    assert.doesNotMatch(await page.getByTestId('call-bar').innerText(), /4111/);

    // Audio flows both ways: the remote track each side plays is live and unmuted (RTP arrives), inbound-rtp audio
    // counts packets, and the decoded audio carries the other side's fake-microphone beeps (silence or comfort
    // noise stays around 1e-10 total energy; a few beeps are > 0.1).
    for (const [who, p] of [['customer', cust], ['agent', page]]) {
      const r = await until(() => rtc(p),
        (x) => x?.audio && !x.audio.muted && x.inbound?.packetsReceived > 0 && x.outbound?.packetsSent > 0
          && x.inbound.totalAudioEnergy > 0.01,
        `${who}: remote audio flowing`);
      assert.deepEqual([r.audio.kind, r.audio.readyState, r.audio.muted, r.audio.enabled], ['audio', 'live', false, true], who);
      assert.equal(r.audio.paused, false, `${who}: the remote audio element plays (the click gave the page user activation)`);
      assert.ok(r.inbound.bytesReceived > 0, `${who}: ${JSON.stringify(r.inbound)}`);
      assert.ok(r.channels.some((c) => c.label === 'edgedesk' && c.state === 'open'), `${who}: ${JSON.stringify(r.channels)}`);
    }

    await screenshot(page, 'support-console', { doc: true });
    await screenshot(cust, 'support-widget', { doc: true });

    // The customer hangs up (a cross-origin POST …/leave with the room token): both sides close the call. At least
    // 1.2 s after the accept, so the call's duration is at least a second.
    const talked = Date.now() - acceptedAt;
    if (talked < 1200) await new Promise((r) => setTimeout(r, 1200 - talked));
    await cust.getByTestId('widget-hangup').click();
    await cust.waitForFunction(() => window.EdgedeskWidget.state().status === 'ended');
    assert.equal(await cust.getByTestId('call-state').textContent(), 'closed');
    await page.locator(`[data-testid=conversation][data-session-id="${callId}"][data-status=ended]`).waitFor();
    await page.locator('[data-testid=call-state][data-state=closed]').waitFor();
    await page.getByTestId('transcript-notice').filter({ hasText: 'The conversation has ended.' }).waitFor();

    const d = (await h.api('GET', `/api/v1/support/sessions/${callId}`, { token: owner })).json;
    assert.equal(d.session.status, 'ended');
    assert.equal(d.session.kind, 'voice');
    assert.equal(d.session.assigned_to, s.agent.staff_id);
    assert.ok(d.call?.answered_at, JSON.stringify(d.call));
    assert.ok(d.call.duration_seconds >= 1, JSON.stringify(d.call));
    assert.equal(d.call.end_reason, 'customer left');
    assert.ok(d.session.ticket_id, JSON.stringify(d.session));
    const ticket = (await h.api('GET', `/api/v1/tickets/${d.session.ticket_id}`, { token: owner })).json.ticket;
    assert.deepEqual([ticket.channel, ticket.subject, ticket.customer_email], ['voice', 'Call with Dora Dial', 'dora@example.com']);
    await page.getByTestId('session-ticket').waitFor();

    assertNoPageErrors(s.staff.errors, s.customer.errors);
  });

  test('chat through the widget and the console: messages both ways, typing, card numbers masked everywhere, the agent ends, the transcript is a chat ticket', async (t) => {
    const s = await setup(t);
    const { h, owner, page, cust } = s;
    await s.goOnline();

    // The chat is in the agent's conversations; she opens it and joins the room.
    const started = await chatWithAgent(s, { name: 'Cleo Customer', email: 'cleo@example.com' });
    const id = started.session_id;

    // Customer → agent, with the typing indicator first.
    await cust.getByTestId('widget-input').fill('Hello, my order #48213 has not arrived');
    await page.getByTestId('typing-indicator').filter({ hasText: 'Cleo Customer is typing' }).waitFor();
    await cust.getByTestId('widget-send').click();
    const fromCustomer = page.locator('[data-testid=transcript-line][data-role=customer]').filter({ hasText: 'Hello, my order #48213 has not arrived' });
    await fromCustomer.waitFor();
    assert.match(await fromCustomer.textContent(), /^Cleo Customer/);
    await cust.locator('[data-testid=chat-message][data-own=true]').filter({ hasText: 'Hello, my order #48213 has not arrived' }).waitFor();
    assert.equal(await page.getByTestId('typing-indicator').textContent(), '', 'a message clears the indicator');

    // Agent → customer, the widget shows her typing.
    await page.getByTestId('console-input').fill('Hi Cleo, I am looking into it right now.');
    await cust.getByTestId('widget-typing').filter({ hasText: 'Ana Agent is typing' }).waitFor();
    await page.getByTestId('console-send').click();
    const fromAgent = cust.locator('[data-testid=chat-message][data-own=false][data-role=agent]');
    await fromAgent.filter({ hasText: 'Hi Cleo, I am looking into it right now.' }).waitFor();
    assert.match(await fromAgent.textContent(), /^Ana Agent/);
    await page.locator('[data-testid=transcript-line][data-role=agent]').filter({ hasText: 'Hi Cleo, I am looking into it right now.' }).waitFor();

    // A card number is masked before anyone sees it: in the widget, in the console and in D1.
    await cust.getByTestId('widget-input').fill('You can charge my card 4111 1111 1111 1111 again');
    await cust.getByTestId('widget-input').press('Enter');
    const masked = 'You can charge my card **** again';
    await cust.locator('[data-testid=chat-message][data-own=true]').getByTestId('chat-text').filter({ hasText: masked }).waitFor();
    await page.locator('[data-testid=transcript-line][data-role=customer]').filter({ hasText: masked }).waitFor();
    assert.equal(await cust.getByTestId('widget-input').inputValue(), '');
    const widgetText = await cust.getByTestId('widget-messages').innerText();
    const consoleText = await page.getByTestId('transcript').innerText();
    for (const text of [widgetText, consoleText]) {
      assert.ok(text.includes(masked), text);
      assert.doesNotMatch(text, /4111/);
    }
    const stored = await h.rows('SELECT text, role FROM chat_messages WHERE session_id = ? ORDER BY created_at, rowid', id);
    assert.deepEqual(stored.map((r) => [r.role, r.text]), [
      ['customer', 'Hello, my order #48213 has not arrived'],
      ['agent', 'Hi Cleo, I am looking into it right now.'],
      ['customer', masked],
    ]);
    assert.doesNotMatch(JSON.stringify(await h.rows('SELECT text FROM chat_messages')), /4111/);

    // The agent ends the chat: the customer is told, the composer is off; the console links the transcript.
    await page.getByTestId('end-button').click();
    await cust.getByTestId('system-message').filter({ hasText: 'The conversation has ended. Thank you for contacting us!' }).waitFor();
    assert.equal(await cust.getByTestId('widget-status').textContent(), 'The conversation has ended. Thank you for contacting us!');
    assert.ok(await cust.getByTestId('widget-input').isDisabled());
    assert.ok(await cust.getByTestId('widget-new').isVisible(), 'a new conversation can be started');
    await page.locator(`[data-testid=conversation][data-session-id="${id}"][data-status=ended]`).waitFor();
    await page.getByTestId('conversation-notice').filter({ hasText: 'The transcript is saved as a ticket' }).waitFor();

    const d = (await h.api('GET', `/api/v1/support/sessions/${id}`, { token: owner })).json;
    assert.equal(d.session.status, 'ended');
    const ticketId = d.session.ticket_id;
    assert.ok(ticketId, JSON.stringify(d.session));
    const tk = (await h.api('GET', `/api/v1/tickets/${ticketId}`, { token: owner })).json;
    assert.deepEqual([tk.ticket.channel, tk.ticket.customer_email], ['chat', 'cleo@example.com']);
    assert.ok(tk.messages.some((m) => m.sender_type === 'customer' && m.content === masked), JSON.stringify(tk.messages));
    // The card's digits, not any "4111" (random UUIDs in the ticket may contain that).
    assert.doesNotMatch(JSON.stringify(tk), /4111[\s-]*1111/);

    // In the inbox: every ticket, filtered to the chat channel.
    await page.getByTestId('nav-inbox').click();
    await page.getByTestId('view-all').click();
    await page.getByTestId('filter-channel').selectOption('chat');
    const row = page.locator(`[data-testid=ticket-row][data-ticket-id="${ticketId}"]`);
    await row.waitFor();
    assert.equal(await page.getByTestId('ticket-row').count(), 1);
    assert.match(page.url(), /channel=chat/);

    assertNoPageErrors(s.staff.errors, s.customer.errors);
  });

  test('a chat survives a reload of the shop page: the widget reopens it with the earlier messages once, and it goes on both ways; a conversation that ended meanwhile is not reopened', async (t) => {
    const s = await setup(t);
    const { page, cust, shop } = s;
    await s.customer.context.addInitScript(trackWebSockets);
    await s.staff.context.addInitScript(trackWebSockets); // from the console's reload on
    await s.goOnline();

    const started = await chatWithAgent(s, { name: 'Rita Reload', email: 'rita@example.com' });
    const id = started.session_id;

    // One message each way before the reload.
    const first = 'Where is my parcel? It should have come on Monday.';
    const reply = 'Let me check that for you, Rita.';
    await cust.getByTestId('widget-input').fill(first);
    await cust.getByTestId('widget-send').click();
    await page.locator('[data-testid=transcript-line][data-role=customer]').filter({ hasText: first }).waitFor();
    await page.getByTestId('console-input').fill(reply);
    await page.getByTestId('console-send').click();
    await cust.locator('[data-testid=chat-message][data-role=agent]').filter({ hasText: reply }).waitFor();

    // The conversation is kept in the tab's sessionStorage, under the tenant.
    const kept = await cust.evaluate(() => JSON.parse(sessionStorage.getItem('edgedesk:default')));
    assert.deepEqual([kept.session_id, kept.room_id, kept.peer_id, kept.token, kept.ws_url, kept.kind, kept.status],
      [id, started.room_id, started.peer_id, started.token, started.ws_url, 'chat', 'active']);

    // The shop page is reloaded: the widget reopens the conversation by itself (no click) with the same peer id,
    // and the room's welcome brings both messages back, each exactly once, own and the agent's.
    await cust.reload();
    await cust.getByTestId('widget-conversation').waitFor();
    assert.ok(await cust.getByTestId('widget-form').isHidden(), 'no start form');
    await cust.waitForFunction(() => window.EdgedeskWidget?.state().status === 'active');
    const messages = () => cust.getByTestId('chat-message').evaluateAll((els) => els.map((e) => [e.dataset.own, e.dataset.role,
      e.querySelector('[data-testid=chat-text]').textContent]));
    await until(messages, (m) => m.length >= 2, 'the earlier messages in the widget');
    assert.deepEqual(await messages(), [['true', 'customer', first], ['false', 'agent', reply]]);
    const st = await cust.evaluate(() => window.EdgedeskWidget.state());
    assert.deepEqual([st.sessionId, st.peerId, st.status], [id, started.peer_id, 'active']);
    assert.equal(await cust.getByTestId('widget-status').textContent(), 'Ana Agent joined');

    // The chat goes on both ways.
    const after = 'Thanks, I am back on the page.';
    const answer = 'Good: it is with the courier, arriving tomorrow.';
    await cust.getByTestId('widget-input').fill(after);
    await cust.getByTestId('widget-send').click();
    await page.locator('[data-testid=transcript-line][data-role=customer]').filter({ hasText: after }).waitFor();
    await page.getByTestId('console-input').fill(answer);
    await page.getByTestId('console-send').click();
    await cust.locator('[data-testid=chat-message][data-role=agent]').filter({ hasText: answer }).waitFor();
    assert.deepEqual(await messages(), [['true', 'customer', first], ['false', 'agent', reply], ['true', 'customer', after],
      ['false', 'agent', answer]]);
    // The console shows its own line when the room echoes it (its own copy may come a moment after the widget's).
    await page.locator('[data-testid=transcript-line][data-role=agent]').filter({ hasText: answer }).waitFor();

    // The agent's console reloads too: the stored history and the welcome's are merged, nothing twice.
    const consoleLines = () => page.getByTestId('transcript-line').evaluateAll((els) => els.map((e) => e.dataset.role));
    assert.deepEqual(await consoleLines(), ['customer', 'agent', 'customer', 'agent']);
    await page.reload();
    await page.locator(`[data-testid=conversation][data-session-id="${id}"][data-kind=chat]`).waitFor();
    await page.locator('[data-testid=room-status][data-status=open]').waitFor();
    await page.locator('[data-testid=transcript-line]').filter({ hasText: answer }).waitFor();
    assert.deepEqual(await consoleLines(), ['customer', 'agent', 'customer', 'agent']);

    // The widget's socket drops and reconnects: the welcome's history adds nothing twice.
    const w0 = await welcomes(cust);
    await dropRoomSocket(cust);
    await until(() => welcomes(cust), (n) => n > w0, 'the widget reconnected');
    await cust.waitForFunction(() => window.EdgedeskWidget.state().status === 'active');
    assert.deepEqual(await messages(), [['true', 'customer', first], ['false', 'agent', reply], ['true', 'customer', after],
      ['false', 'agent', answer]]);

    // The console's socket is away while the customer writes: after its reconnect the welcome's history brings the
    // missed message, once.
    const a0 = await welcomes(page);
    await dropRoomSocket(page, true);
    await page.locator('[data-testid=room-status]:not([data-status=open])').waitFor();
    const missed = 'Did you see this while you were away?';
    await cust.getByTestId('widget-input').fill(missed);
    await cust.getByTestId('widget-send').click();
    await cust.locator('[data-testid=chat-message][data-own=true]').filter({ hasText: missed }).waitFor();
    assert.equal(await page.locator('[data-testid=transcript-line]').filter({ hasText: missed }).count(), 0);
    await page.evaluate(() => (window.__edgedeskWsBlocked = false));
    await until(() => welcomes(page), (n) => n > a0, 'the console reconnected', 25_000);
    await page.locator('[data-testid=transcript-line][data-role=customer]').filter({ hasText: missed }).waitFor();
    assert.deepEqual(await consoleLines(), ['customer', 'agent', 'customer', 'agent', 'customer']);

    // The customer leaves the shop, the agent ends the chat meanwhile: back on the shop the widget does not reopen
    // it (the room refuses the token of an ended conversation), forgets it and offers a new one.
    await cust.goto('about:blank');
    await page.getByTestId('end-button').click();
    await page.locator(`[data-testid=conversation][data-session-id="${id}"][data-status=ended]`).waitFor();
    await cust.goto(shop.url);
    await cust.getByTestId('widget-error').filter({ hasText: 'Your previous conversation has ended' }).waitFor();
    assert.ok(await cust.getByTestId('widget-form').isVisible(), 'the start form');
    assert.ok(await cust.getByTestId('widget-conversation').isHidden());
    assert.equal(await cust.evaluate(() => sessionStorage.getItem('edgedesk:default')), null);
    assert.equal(await cust.evaluate(() => window.EdgedeskWidget.state().status), 'idle');

    assertNoPageErrors(s.staff.errors, s.customer.errors);
  });

  test('a call interrupted by a reload of the shop page goes on as a chat: no audio is resumed, the customer is told, chat works, the agent ends it', async (t) => {
    const s = await setup(t);
    const { page, cust } = s;
    await s.goOnline();

    const started = await customerStarts(s, 'call', { name: 'Ivo Interrupted', email: 'ivo@example.com' });
    const callId = started.call_id;
    await page.locator(`[data-testid=incoming-call][data-session-id="${callId}"]`).getByTestId('call-accept').click();
    await page.locator('[data-testid=call-state][data-state=connected]').waitFor();
    await cust.waitForFunction(() => window.EdgedeskWidget?.state().connectionState === 'connected');
    assert.equal(await cust.evaluate(() => JSON.parse(sessionStorage.getItem('edgedesk:default')).kind), 'voice');

    await cust.reload();
    await cust.getByTestId('widget-conversation').waitFor();
    await cust.getByTestId('system-message').filter({ hasText: 'The call was interrupted' }).waitFor();
    assert.ok(await cust.getByTestId('widget-call').isHidden(), 'no call bar');
    assert.equal(await cust.getByTestId('widget-end').textContent(), 'End call');
    const st = await cust.evaluate(() => window.EdgedeskWidget.state());
    assert.deepEqual([st.sessionId, st.peerId, st.status, st.connectionState], [callId, started.peer_id, 'active', null]);
    assert.equal(await cust.evaluate(() => window.__edgedeskPcs.length), 0, 'no RTCPeerConnection after the reload');

    // Chat works both ways in the call's room.
    await cust.getByTestId('widget-input').fill('My call dropped, can we continue here?');
    await cust.getByTestId('widget-send').click();
    await page.locator('[data-testid=transcript-line][data-role=customer]').filter({ hasText: 'My call dropped' }).waitFor();
    await page.getByTestId('console-input').fill('Of course, Ivo.');
    await page.getByTestId('console-send').click();
    await cust.locator('[data-testid=chat-message][data-role=agent]').filter({ hasText: 'Of course, Ivo.' }).waitFor();

    // The agent ends it: the widget shows the end and forgets the conversation.
    await page.getByTestId('hangup-button').click();
    await cust.getByTestId('system-message').filter({ hasText: 'The conversation has ended. Thank you for contacting us!' }).waitFor();
    assert.ok(await cust.getByTestId('widget-input').isDisabled());
    assert.equal(await cust.evaluate(() => sessionStorage.getItem('edgedesk:default')), null);

    assertNoPageErrors(s.staff.errors, s.customer.errors);
  });

  test('queue position in the widget: nobody online → "number 1 in the queue"; the agent goes online → the customer sees her join', async (t) => {
    const s = await setup(t);
    const { page, cust } = s;

    const started = await customerStarts(s, 'chat', { name: 'Quinn Queue', email: 'quinn@example.com' });
    const id = started.session_id;
    assert.deepEqual([started.status, started.position], ['queued', 1]);
    await cust.getByTestId('widget-status').filter({ hasText: 'You are number 1 in the queue' }).waitFor();
    assert.equal(await cust.evaluate(() => window.EdgedeskWidget.state().status), 'queued');

    // The offline agent sees the waiting chat in the queue (live), then goes online and gets it.
    const waiting = page.locator(`[data-testid=queue-item][data-session-id="${id}"]`);
    await waiting.waitFor();
    assert.match(await waiting.textContent(), /Quinn Queue.*#1/);
    await s.goOnline();
    await cust.getByTestId('widget-status').filter({ hasText: 'Ana Agent joined' }).waitFor();
    await cust.getByTestId('system-message').filter({ hasText: 'Ana Agent joined' }).waitFor();
    assert.equal(await cust.evaluate(() => window.EdgedeskWidget.state().status), 'active');
    await page.locator(`[data-testid=my-session][data-session-id="${id}"]`).waitFor();
    await page.getByTestId('queue-empty').waitFor();

    assertNoPageErrors(s.staff.errors, s.customer.errors);
  });

  test('a supervisor listens in on a call: both talking peers offer it send-only audio, it hears both and sends nothing, the call is unaffected', async (t) => {
    const s = await setup(t);
    const { h, owner, page, cust } = s;
    await s.goOnline();
    await createStaff(h, owner, SUPERVISOR);

    // Customer calls, the agent accepts, their call connects (as in the first test).
    const started = await customerStarts(s, 'call', { name: 'Lena Listen', email: 'lena@example.com' });
    const callId = started.call_id;
    assert.equal(started.status, 'active', 'auto-assigned to the online agent');
    const ring = page.locator(`[data-testid=incoming-call][data-session-id="${callId}"]`);
    await ring.getByTestId('call-accept').click();
    await page.locator('[data-testid=call-state][data-state=connected]').waitFor();
    await cust.waitForFunction(() => window.EdgedeskWidget?.state().connectionState === 'connected');

    // The supervisor, in a third browser context, finds the call among all conversations and listens in.
    const sup = await openPage(browser);
    t.after(() => sup.context.close().catch(() => undefined));
    await sup.context.addInitScript(trackPeerConnections);
    const sp = sup.page;
    await login(sp, h.url, { email: SUPERVISOR.email, password: SUPERVISOR.password });
    await sp.getByTestId('nav-support').click();
    const item = sp.locator(`[data-testid=all-session][data-session-id="${callId}"][data-kind=voice]`);
    await item.waitFor();
    assert.match(await item.textContent(), /Lena Listen.*with Ana Agent/);
    await item.getByTestId('listen-button').click();
    await sp.locator(`[data-testid=conversation][data-session-id="${callId}"][data-kind=voice]`).waitFor();

    // Two receive-only connections, one from each talking peer, both connected; two audio elements play them.
    const listenState = sp.locator('[data-testid=listen-state][data-peers-connected="2"]');
    await listenState.waitFor();
    assert.match(await listenState.textContent(), /Listening in.*Lena Listen \(customer\): connected.*Ana Agent \(agent\): connected/);
    assert.deepEqual(await sp.getByTestId('listen-peer').evaluateAll((els) => els.map((e) => e.dataset.role)), ['customer', 'agent']);
    assert.equal(await sp.evaluate(() => window.EdgedeskConsole.state().role), 'supervisor');
    const supPcs = await until(() => allPcs(sp), (pcs) => pcs.length === 2 && pcs.every((p) => p.connectionState === 'connected'
      && p.received > 0), 'supervisor: two connections receiving audio');
    for (const p of supPcs) {
      assert.equal(p.sent, 0, `the supervisor sends no audio: ${JSON.stringify(p)}`);
      assert.deepEqual(p.directions, ['recvonly'], JSON.stringify(p));
    }
    const audios = await sp.getByTestId('listen-audio').evaluateAll((els) => els.map((el) => {
      const track = el.srcObject?.getAudioTracks?.()[0];
      return { role: el.dataset.role, readyState: track?.readyState, paused: el.paused };
    }));
    assert.deepEqual(audios, [
      { role: 'customer', readyState: 'live', paused: false },
      { role: 'agent', readyState: 'live', paused: false },
    ]);

    // The customer and the agent each have their call (first connection) plus a send-only one to the supervisor.
    for (const [who, p] of [['customer', cust], ['agent', page]]) {
      const pcs = await until(() => allPcs(p), (x) => x.length === 2 && x[1].connectionState === 'connected' && x[1].sent > 0,
        `${who}: sending audio to the supervisor`);
      assert.equal(pcs[0].connectionState, 'connected', `${who}: the call stays connected`);
      assert.deepEqual(pcs[1].directions, ['sendonly'], `${who}: ${JSON.stringify(pcs[1])}`);
      assert.equal(pcs[1].received, 0, `${who}: nothing comes back from the supervisor`);
    }
    // The call itself still carries audio both ways.
    const before = await Promise.all([cust, page].map(async (p) => (await allPcs(p))[0].received));
    await until(() => Promise.all([cust, page].map(async (p) => (await allPcs(p))[0].received)),
      (now) => now[0] > before[0] && now[1] > before[1], 'the call\'s audio keeps flowing');
    assert.equal(await cust.evaluate(() => window.EdgedeskWidget.state().connectionState), 'connected');
    assert.equal(await page.evaluate(() => window.EdgedeskConsole.state().connectionState), 'connected');
    await page.getByTestId('transcript-notice').filter({ hasText: 'Sam Supervisor is listening in' }).waitFor();
    // The customer is told that a supervisor is on the call (once).
    const supNotice = cust.getByTestId('system-message').filter({ hasText: 'A supervisor joined the call to help' });
    await supNotice.waitFor();
    assert.equal(await supNotice.count(), 1);

    // Listen-only: no composer (the room refuses a supervisor's chat in a call), no mute / hang-up of the call.
    assert.equal(await sp.getByTestId('console-input').count(), 0);
    assert.equal(await sp.getByTestId('console-send').count(), 0);
    assert.ok(await sp.getByTestId('listen-only-note').isVisible());
    assert.equal(await sp.getByTestId('hangup-button').count(), 0);
    await screenshot(sp, 'support-listen-in');

    // The supervisor stops listening: the talking peers close its connections, their call goes on.
    await sp.getByTestId('stop-listening').click();
    await sp.getByTestId('no-conversation').waitFor();
    await cust.getByTestId('system-message').filter({ hasText: 'The supervisor left' }).waitFor();
    const told = (await cust.getByTestId('system-message').allTextContents()).filter((x) => /supervisor/i.test(x));
    assert.deepEqual(told, ['A supervisor joined the call to help', 'The supervisor left']);
    for (const [who, p] of [['customer', cust], ['agent', page]]) {
      const pcs = await until(() => allPcs(p), (x) => x[1]?.connectionState === 'closed', `${who}: the listen-in connection closed`);
      assert.equal(pcs[0].connectionState, 'connected', `${who}: the call stays connected`);
    }

    assertNoPageErrors(s.staff.errors, s.customer.errors, sup.errors);
  });
});
