// Prints Edgedesk's size and the cost of one Gmail poll of 100 messages, measured on the built worker in
// workerd (Miniflare) with local D1 and the loopback Gmail/OAuth/LLM fakes. Figures, not assertions.
//   node bench/poll.mjs          (after scripts/build.sh; bench/run.sh does both)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { startEdgedesk, emlFiles, CORPUS, FIXTURES, ROOT } from '../tests/support/worker.mjs';
import { email } from '../tests/support/mail.mjs';

const wasmDir = join(ROOT, 'build', 'worker');
const wasm = readdirSync(wasmDir).filter((f) => f.endsWith('.wasm')).map((f) => join(wasmDir, f))[0]
  ?? readdirSync(join(ROOT, 'build')).filter((f) => f.endsWith('.wasm')).map((f) => join(ROOT, 'build', f))[0];
const bytes = readFileSync(wasm);
console.log(`wasm: ${bytes.length} bytes raw, ${gzipSync(bytes, { level: 9 }).length} bytes gzip (${wasm.replace(ROOT + '/', '')})`);
console.log(`shim: ${statSync(join(wasmDir, 'shim.mjs')).size} bytes`);

async function scenario(name, vars, extraMessages) {
  const h = await startEdgedesk({ eml: [...emlFiles(CORPUS), ...emlFiles(FIXTURES)], vars: { POLL_MAX_MESSAGES: '100', ...vars } });
  try {
    for (let i = 0; i < extraMessages; i++) {
      h.fakes.addMessage({ raw: email({ from: `Customer ${i} <c${i}@example.com>`, subject: `Order ${1000 + i} question`, body: `Where is order ${1000 + i}?` }) });
    }
    const token = await h.login();
    const t0 = performance.now();
    const r = await h.poll(token);
    const ms = performance.now() - t0;
    const total = r.tickets_created + r.messages_appended + r.skipped;
    console.log(`${name}: ${r.fetched} messages fetched (${r.tickets_created} tickets, ${r.messages_appended} appended, ${r.skipped} skipped), `
      + `${r.drafts_created} drafts; subrequests ${r.usage.subrequests}, D1 calls ${r.usage.d1_calls} (${r.usage.d1_statements} statements), `
      + `wall ${ms.toFixed(0)} ms${r.errors.length ? `; errors: ${r.errors.length}` : ''}${total !== r.fetched ? ' (!)' : ''}`);
  } finally {
    await h.dispose();
  }
}

const extra = 100 - emlFiles(CORPUS).length - emlFiles(FIXTURES).length;
await scenario('poll of 100, no drafts', { POLL_MAX_DRAFTS: '0' }, extra);
await scenario('poll of 100, default drafts cap (8, LLM)', {}, extra);
await scenario('poll of 100, 8 template drafts (no LLM key)', { LLM_API_KEY: undefined }, extra);
