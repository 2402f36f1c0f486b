/**
 * Inbox figures: seeds a tenant with many tickets and messages in local D1 (through the real migrations and
 * triggers, so the FTS5 index is filled as production fills it), then times the dashboard's list, view, search
 * and report requests against the built worker in workerd. Prints figures; asserts nothing.
 *
 *   node bench/inbox.mjs [tickets=2000] [messages per ticket=3]
 */
import { startEdgedesk } from '../tests/support/worker.mjs';

const TICKETS = Number(process.argv[2] ?? 2000);
const PER = Number(process.argv[3] ?? 3);
const WORDS = ['refund', 'invoice', 'parcel', 'delivery', 'password', 'login', 'jacket', 'size', 'colour', 'broken',
  'warranty', 'discount', 'coupon', 'address', 'tracking', 'courier', 'damaged', 'exchange', 'return', 'charge'];
const pick = (i, n) => WORDS[(i * 7 + n * 13) % WORDS.length];

const h = await startEdgedesk();
try {
  const token = await h.login();
  const t0 = Date.now();
  const now = Date.now();
  const stmts = [];
  for (let i = 0; i < TICKETS; i++) {
    const created = new Date(now - i * 60_000 * 37).toISOString();
    const due = new Date(now - i * 60_000 * 37 + 4 * 3600_000).toISOString();
    const id = `bench-t${i}`;
    stmts.push(h.db.prepare(`INSERT INTO tickets (ticket_id, tenant_id, ticket_number, customer_email, customer_name, subject,
      status, priority, category, sla_due_at, created_at, updated_at) VALUES (?, 'default', ?, ?, ?, ?, ?, ?, 'other', ?, ?, ?)`)
      .bind(id, `TKT-${String(i + 1).padStart(6, '0')}`, `c${i % 500}@example.com`, `Customer ${i % 500}`,
        `Question about ${pick(i, 0)} and ${pick(i, 1)}`, ['open', 'pending', 'resolved', 'closed'][i % 4],
        ['urgent', 'high', 'medium', 'low'][i % 4], due, created, created));
    for (let m = 0; m < PER; m++) {
      stmts.push(h.db.prepare(`INSERT INTO ticket_messages (id, tenant_id, ticket_id, sender_type, content, created_at)
        VALUES (?, 'default', ?, 'customer', ?, ?)`).bind(`${id}-m${m}`, id,
        `Hello, my ${pick(i, m + 2)} needs help. ${'Lorem ipsum dolor sit amet. '.repeat(20)} Order ${i * 31 + m}.`, created));
    }
  }
  for (let i = 0; i < stmts.length; i += 500) await h.db.batch(stmts.slice(i, i + 500));
  console.log(`seeded ${TICKETS} tickets, ${TICKETS * PER} messages in ${Date.now() - t0} ms`);

  const time = async (label, path, runs = 5) => {
    const ms = [];
    let last;
    for (let r = 0; r < runs; r++) {
      const s = performance.now();
      last = await h.api('GET', path, { token });
      ms.push(performance.now() - s);
      if (last.status !== 200) throw new Error(`${path}: ${last.status} ${last.text}`);
    }
    ms.sort((a, b) => a - b);
    const n = last.json.tickets?.length ?? '-';
    console.log(`${label.padEnd(34)} median ${ms[Math.floor(runs / 2)].toFixed(1).padStart(7)} ms  (rows ${n})`);
  };
  await time('list newest, 25', '/api/v1/tickets');
  await time('list priority sort, 100', '/api/v1/tickets?sort=priority&limit=100');
  await time('view open + status filter', '/api/v1/tickets?view=open&status=pending');
  await time('view sla_breached', '/api/v1/tickets?view=sla_breached');
  await time('FTS one word (common)', '/api/v1/tickets?q=refund');
  await time('FTS two words (subject + body)', '/api/v1/tickets?q=refund%20jacket');
  await time('FTS rare number', `/api/v1/tickets?q=${Math.floor(TICKETS / 2) * 31}`);
  await time('ticket detail', '/api/v1/tickets/TKT-000010');
  await time('reports overview, 90 days', '/api/v1/reports/overview?days=90');
} finally {
  await h.dispose();
}
