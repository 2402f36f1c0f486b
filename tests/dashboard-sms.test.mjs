/**
 * SMS tickets in the dashboard (issue 4): a text from a customer becomes an `sms` ticket the agent sees in the
 * inbox (Channel filter), reads in the thread with the assistant's answers, and answers from the composer — the
 * reply goes out through (the fake of) Twilio's REST API. Real headless Chromium against the built worker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEdgedesk } from './support/worker.mjs';
import { launch, login, openPage, screenshot } from './support/browser.mjs';
import { postWebhook, smsParams, startTwilio } from './fakes/twilio.mjs';
import { startZapier } from './fakes/zapier.mjs';

const OUR = '+15550100001';
const CUSTOMER = '+15557770001';

describe('SMS tickets in the dashboard', () => {
  let h; let twilio; let zap; let browser;
  before(async () => {
    twilio = await startTwilio();
    zap = await startZapier({ secret: 'dash-secret-123', customers: { [CUSTOMER]: { jackrabbit_id: 'JR-1', name: 'Maya Patel', email: 'maya@example.com' } } });
    h = await startEdgedesk({ vars: { TWILIO_API_BASE: twilio.url, CS_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64') } });
    const token = await h.login();
    const put = await h.api('PUT', '/api/v1/admin/customer-service/config', { token, body: {
      is_enabled: true, zapier_webhook_url: zap.hookUrl, zapier_callback_secret: 'dash-secret-123',
      account_sid: twilio.accountSid, auth_token: twilio.authToken, phone_numbers: [OUR] } });
    assert.equal(put.status, 200, put.text);
    h.fakes.llmReply = () => 'We are open 9 to 5 on weekdays.';
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await h?.dispose();
    await twilio?.close();
    await zap?.close();
  });

  test('the agent sees the conversation and answers it by SMS', async () => {
    const r = await postWebhook(h.url, '/api/v1/customer-service/sms/inbound',
      smsParams({ from: CUSTOMER, to: OUR, body: 'Are you open on Saturday?', accountSid: twilio.accountSid }),
      { authToken: twilio.authToken });
    assert.equal(r.status, 200, r.text);
    // The answer and the customer lookup run after the webhook has answered (waitUntil).
    for (let i = 0; i < 300 && !twilio.messages.some((m) => /open 9 to 5/.test(m.body)); i++) {
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.ok(twilio.messages.some((m) => /open 9 to 5/.test(m.body)), 'the SMS answer was sent');
    const token = await h.login();
    const named = async () => (await h.api('GET', '/api/v1/tickets?channel=sms', { token })).json.tickets?.[0]?.customer_name;
    for (let i = 0; i < 100 && (await named()) !== 'Maya Patel'; i++) await new Promise((res) => setTimeout(res, 50));
    const { page, errors } = await openPage(browser);
    await login(page, h.url);
    await page.goto(`${h.url}/?channel=sms`);
    const row = page.getByTestId('ticket-row').first();
    await row.waitFor();
    assert.match(await row.getByTestId('row-customer').innerText(), /Maya Patel/);
    await row.click();
    await page.getByTestId('thread').waitFor();
    await page.getByTestId('message-body').filter({ hasText: 'Are you open on Saturday?' }).waitFor();
    await page.getByTestId('message-body').filter({ hasText: 'We are open 9 to 5 on weekdays.' }).waitFor();
    assert.equal(await page.getByTestId('customer-phone').innerText(), CUSTOMER);
    await page.getByTestId('composer-text').fill('Yes, 10 to 2 on Saturdays. See you!');
    assert.equal(await page.getByTestId('send-button').innerText(), 'Send SMS');
    await page.getByTestId('send-button').click();
    await page.getByTestId('message-body').filter({ hasText: 'Yes, 10 to 2 on Saturdays. See you!' }).waitFor();
    const sent = twilio.messages.at(-1);
    assert.equal(sent.to, CUSTOMER);
    assert.equal(sent.from, OUR);
    assert.equal(sent.body, 'Yes, 10 to 2 on Saturdays. See you!');
    await screenshot(page, 'sms-ticket');
    assert.deepEqual(errors, []);
  });
});
