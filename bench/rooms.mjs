/**
 * Live-chat rooms in local workerd (Miniflare, the built worker): relay latency of a signaling frame through a
 * SignalingRoom Durable Object (customer → agent, p50/p99 of 500 round trips measured as send → receive on the
 * other socket, both in this process), and how many rooms with two connected peers one local workerd holds while
 * still relaying (ROOMS rooms opened in batches; a relay check in the last room after each batch).
 *
 * Usage: node bench/rooms.mjs [rooms=200]. Prints figures; asserts nothing.
 */
import { startEdgedesk } from '../tests/support/worker.mjs';

const ROOMS = Number(process.argv[2] ?? 200);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const waiting = [];
    const frames = [];
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      const i = waiting.findIndex((w) => w.pred(f));
      if (i >= 0) waiting.splice(i, 1)[0].resolve(f); else frames.push(f);
    };
    ws.onopen = () => resolve({
      ws,
      next(pred) {
        const i = frames.findIndex(pred);
        if (i >= 0) return Promise.resolve(frames.splice(i, 1)[0]);
        return new Promise((res) => waiting.push({ pred, resolve: res }));
      },
    });
    ws.onerror = () => reject(new Error('websocket refused'));
  });
}

const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

const h = await startEdgedesk({ supportStartLimit: 100_000 });
try {
  const owner = await h.login();
  await h.api('PUT', '/api/v1/support/settings', { token: owner, body: { max_concurrent_chats_per_agent: 50 } });
  await h.api('PUT', '/api/v1/support/availability', { token: owner, body: { status: 'online' } });
  const ws = h.url.replace(/^http/, 'ws');

  async function room() {
    const r = await h.api('POST', '/api/v1/support/chat/start', { body: { tenant: 'default', customer_name: 'Bench' } });
    if (r.status !== 201) throw new Error(`start: ${r.status} ${r.text}`);
    const customer = await open(r.json.ws_url);
    const welcome = await customer.next((f) => f.type === 'welcome');
    const agent = await open(`${ws}/api/v1/rooms/${r.json.room_id}/ws?token=${owner}`);
    const joined = await customer.next((f) => f.type === 'peer-joined');
    await agent.next((f) => f.type === 'welcome');
    return { customer, agent, customerId: welcome.peer_id, agentId: joined.peer_id, session: r.json.session_id };
  }

  // Relay latency in one room.
  const r0 = await room();
  const lat = [];
  for (let i = 0; i < 500; i++) {
    const t = performance.now();
    r0.customer.ws.send(JSON.stringify({ type: 'ice-candidate', to: r0.agentId, candidate: { candidate: `c${i}`, sdpMid: '0' } }));
    await r0.agent.next((f) => f.type === 'ice-candidate' && f.candidate.candidate === `c${i}`);
    lat.push(performance.now() - t);
  }
  console.log(`relay customer → agent through a room: p50 ${pct(lat, 0.5).toFixed(2)} ms, p99 ${pct(lat, 0.99).toFixed(2)} ms (500 frames)`);

  // Concurrent rooms with two peers each.
  const rooms = [r0];
  const started = performance.now();
  let failed = null;
  while (rooms.length < ROOMS && !failed) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(20, ROOMS - rooms.length) }, room));
    for (const b of batch) {
      if (b.status === 'fulfilled') rooms.push(b.value); else failed = b.reason;
    }
    const last = rooms.at(-1);
    const t = performance.now();
    last.agent.ws.send(JSON.stringify({ type: 'chat', text: 'still there?' }));
    await last.customer.next((f) => f.type === 'chat');
    if (rooms.length % 100 === 0 || rooms.length >= ROOMS) {
      console.log(`  ${rooms.length} rooms open (${rooms.length * 2} sockets); a chat relay in the newest: ${(performance.now() - t).toFixed(1)} ms`);
    }
  }
  console.log(`${rooms.length} rooms with 2 peers each held by one local workerd in ${((performance.now() - started) / 1000).toFixed(1)} s${failed ? `; stopped at: ${failed.message}` : ''}`);
  const lat2 = [];
  for (let i = 0; i < 100; i++) {
    const t = performance.now();
    r0.customer.ws.send(JSON.stringify({ type: 'typing' }));
    await r0.agent.next((f) => f.type === 'typing');
    lat2.push(performance.now() - t);
  }
  console.log(`relay with ${rooms.length} rooms open: p50 ${pct(lat2, 0.5).toFixed(2)} ms, p99 ${pct(lat2, 0.99).toFixed(2)} ms`);
  for (const r of rooms) { r.customer.ws.close(); r.agent.ws.close(); }
  await sleep(200);
} finally {
  await h.dispose();
}
