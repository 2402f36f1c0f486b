/** Small helpers for building and reading RFC 5322 messages in tests. */

let counter = 0;

/** A plain-text e-mail. `headers` are extra header lines, e.g. { 'In-Reply-To': '<a@x>' }. */
export function email({ from = 'Ana Customer <ana@example.com>', to = 'support@demo.edgedesk.test', subject = 'Hello',
  body = 'Hi there', messageId = `<t${Date.now()}.${++counter}@example.com>`, headers = {} } = {}) {
  const lines = [`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, `Message-ID: ${messageId}`,
    'Date: Sun, 22 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}\r\n`;
}

/** Decodes Gmail `raw` (base64url, padded or not) to text. */
export function decodeRaw(raw) {
  return Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
}

/** A header's value (unfolded) from raw message text. */
export function header(text, name) {
  const head = text.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}
