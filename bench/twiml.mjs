/**
 * TwiML latency: 50 concurrent signed SMS webhooks (and 50 call webhooks) from different numbers against the
 * built worker in local workerd, with the Twilio and Zapier fakes; prints the distribution of the time to the
 * TwiML answer (the slow work — Zapier, LLM, outbound SMS — runs after it in ctx.wait_until). Asserts nothing.
 *
 *   node bench/twiml.mjs [concurrency=50]
 */
import { startEdgedesk } from '../tests/support/worker.mjs';
import { postWebhook, smsParams, startTwilio, voiceParams } from '../tests/fakes/twilio.mjs';
import { startZapier } from '../tests/fakes/zapier.mjs';

const N = Number(process.argv[2] ?? 50);
const OUR = '+15550100001';
const twilio = await startTwilio();
const zap = await startZapier({ secret: 'bench-secret-123' });
const h = await startEdgedesk({ vars: { TWILIO_API_BASE: twilio.url, CS_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') } });
try {
  const token = await h.login();
  const put = await h.api('PUT', '/api/v1/admin/customer-service/config', { token, body: {
    is_enabled: true, zapier_webhook_url: zap.hookUrl, zapier_callback_secret: 'bench-secret-123',
    account_sid: twilio.accountSid, auth_token: twilio.authToken, phone_numbers: [OUR] } });
  if (put.status !== 200) throw new Error(put.text);
  function stats(ms) {
    const s = [...ms].sort((a, b) => a - b);
    const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
    return `p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${s.at(-1).toFixed(1)} ms`;
  }
  // One at a time first: our own time per webhook, without queueing behind the others in the one local isolate.
  const one = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await postWebhook(h.url, '/api/v1/customer-service/sms/inbound',
      smsParams({ from: `+1555700${String(i).padStart(4, '0')}`, to: OUR, body: 'Hi', accountSid: twilio.accountSid }),
      { authToken: twilio.authToken });
    one.push(performance.now() - t0);
  }
  console.log(`SMS inbound, sequential: ${stats(one)}`);
  for (const [label, path, params] of [
    ['SMS inbound (new caller, lookup started)', '/api/v1/customer-service/sms/inbound',
      (i) => smsParams({ from: `+1555800${String(i).padStart(4, '0')}`, to: OUR, body: 'What are your hours?', accountSid: twilio.accountSid })],
    ['voice inbound (new call, greeting + gather)', '/api/v1/customer-service/voice/inbound',
      (i) => voiceParams({ from: `+1555900${String(i).padStart(4, '0')}`, to: OUR, accountSid: twilio.accountSid })],
  ]) {
    const started = performance.now();
    const ms = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const t0 = performance.now();
      const r = await postWebhook(h.url, path, params(i), { authToken: twilio.authToken });
      if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.text}`);
      return performance.now() - t0;
    }));
    console.log(`${label}: ${N} concurrent, ${stats(ms)}; all answered in ${(performance.now() - started).toFixed(0)} ms`);
  }
} finally {
  await h.dispose();
  await twilio.close();
  await zap.close();
}
