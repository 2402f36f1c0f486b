#!/usr/bin/env node
/**
 * Runs the Google/Gmail/LLM fakes (./google.mjs) as a standalone demo mailbox.
 *
 *   node tests/fakes/demo-mailbox.mjs --port 8790 --mailbox support@demo.edgedesk.test \
 *        --eml-dir tests/fixtures/eml [--eml-dir DIR2 ...] [--inject-every SECONDS]
 *
 * Loads every *.eml of each directory (directories in the order given, files sorted by name) into the INBOX,
 * prints exactly one line `DEMO_MAILBOX_URL=http://127.0.0.1:PORT` on stdout and runs until SIGTERM/SIGINT.
 * Every --inject-every seconds (default 45; 0 disables) it delivers one more message so the demo keeps moving,
 * at most three: a customer reply in the first loaded thread (answering the agent's latest sent reply there, if
 * any), a new question, and that customer's follow-up. Credentials are the fakes' defaults (test-client-id,
 * test-client-secret, test-refresh-token, test-llm-key). Progress goes to stderr.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startFakes } from './google.mjs';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '8790' },
    mailbox: { type: 'string', default: 'support@demo.edgedesk.test' },
    'eml-dir': { type: 'string', multiple: true, default: [] },
    'inject-every': { type: 'string', default: '45' },
  },
});

const emlFiles = args['eml-dir'].flatMap((dir) =>
  readdirSync(dir).filter((name) => name.endsWith('.eml')).sort().map((name) => path.join(dir, name)));

const fake = await startFakes({ port: Number(args.port), mailboxAddress: args.mailbox, emlFiles });
console.log(`DEMO_MAILBOX_URL=${fake.url}`);
console.error(`[demo-mailbox] ${emlFiles.length} messages loaded for ${args.mailbox}`);

/** First value of a header in a raw message (unfolded), or ''. */
function header(raw, name) {
  const head = raw.toString('utf8').split(/\r?\n\r?\n/, 1)[0].replace(/\r?\n[ \t]+/g, ' ');
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head)?.[1].trim() ?? '';
}

const rfc5322Date = () => new Date().toUTCString().replace('GMT', '+0000');
let injected = 0;

function compose({ from, subject, inReplyTo, references, body }) {
  const threading = inReplyTo ? [`In-Reply-To: ${inReplyTo}`, `References: ${references}`] : [];
  return [
    'MIME-Version: 1.0',
    `Date: ${rfc5322Date()}`,
    `Message-ID: <demo-${injected + 1}.${Date.now()}@mail.example.org>`,
    ...threading,
    `From: ${from}`,
    `To: ${args.mailbox}`,
    `Subject: ${subject}`,
    'Content-Type: text/plain; charset="UTF-8"',
    'Content-Transfer-Encoding: 7bit',
    '',
    body,
  ].join('\r\n');
}

/** A reply from the original sender of `root`'s thread to the latest message of that thread. */
function replyInThread(root, body) {
  const thread = [...fake.messages.values()].filter((msg) => msg.threadId === root.threadId);
  const parent = thread.findLast((msg) => msg.labelIds.includes('SENT')) ?? thread.at(-1);
  const parentId = header(parent.raw, 'Message-ID');
  const references = `${header(parent.raw, 'References')} ${parentId}`.trim();
  const subject = header(root.raw, 'Subject').replace(/^(re:\s*)+/i, '');
  const raw = compose({ from: header(root.raw, 'From'), subject: `Re: ${subject}`, inReplyTo: parentId, references, body });
  return fake.addMessage({ raw, threadId: root.threadId });
}

let newQuestion;
const INJECTIONS = [
  () => {
    const [first] = fake.messages.values();
    if (!first) return null;
    return replyInThread(first, 'Hello again - any news on this? I have not heard back yet and really need an update today.\r\n');
  },
  () => {
    const raw = compose({
      from: 'Aiko Tanaka <aiko.tanaka@example.org>',
      subject: 'Cannot log in after resetting my password',
      body: 'Hi,\r\n\r\nI reset my password an hour ago, but when I log in the site says "invalid credentials".\r\n'
        + 'My account email is aiko.tanaka@example.org. Could you help me get access again?\r\n\r\nThanks,\r\nAiko\r\n',
    });
    newQuestion = fake.addMessage({ raw });
    return newQuestion;
  },
  () => replyInThread(fake.messages.get(newQuestion.id),
    'Small update: the reset link works on my phone, but on my laptop I still get the same error.\r\n\r\nAiko\r\n'),
];

const intervalS = Number(args['inject-every']);
const timer = intervalS > 0 ? setInterval(() => {
  const added = INJECTIONS[injected]();
  injected += 1;
  if (added) console.error(`[demo-mailbox] injected message ${added.id} (thread ${added.threadId})`);
  if (injected === INJECTIONS.length) clearInterval(timer);
}, intervalS * 1000) : undefined;

async function shutdown(signal) {
  clearInterval(timer);
  await fake.close();
  console.error(`[demo-mailbox] stopped (${signal})`);
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
