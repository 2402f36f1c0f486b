// The conversation of a ticket, oldest first: customer mail, agent replies, internal notes (yellow) and system
// lines, each visually distinct. E-mail HTML is shown only after sanitize.ts; otherwise the plain text.
import { useMemo } from 'preact/hooks';
import type { Message } from '../api';
import { formatDate, formatSize, initials } from '../format';
import { sanitizeEmailHtml } from '../sanitize';

const LABELS: Record<Message['sender_type'], string> = {
  customer: 'Customer',
  agent: 'Reply',
  note: 'Internal note',
  system: 'System',
};

export function Thread({ messages }: { messages: Message[] }) {
  if (!messages.length) return <p class="muted" data-testid="thread-empty">No messages yet.</p>;
  return (
    <ol class="thread" data-testid="thread" aria-label="Conversation">
      {messages.map((m) => (m.sender_type === 'system' ? <SystemLine key={m.id} m={m} /> : <MessageCard key={m.id} m={m} />))}
    </ol>
  );
}

function SystemLine({ m }: { m: Message }) {
  return (
    <li class="msg msg-system" data-testid="message" data-sender-type="system" data-message-id={m.id}>
      <span class="msg-system-text" data-testid="message-body">{m.content}</span>
      <time dateTime={m.created_at}>{formatDate(m.created_at)}</time>
    </li>
  );
}

function MessageCard({ m }: { m: Message }) {
  const who = m.sender_name || m.sender_email || LABELS[m.sender_type];
  return (
    <li class={`msg msg-${m.sender_type}`} data-testid="message" data-sender-type={m.sender_type} data-message-id={m.id}>
      <div class="msg-head">
        <span class={`avatar avatar-${m.sender_type}`} aria-hidden="true">{initials(who)}</span>
        <div class="msg-who">
          <strong data-testid="message-sender">{who}</strong>
          {m.sender_email && m.sender_name && <span class="muted"> &lt;{m.sender_email}&gt;</span>}
          <span class={`msg-kind msg-kind-${m.sender_type}`} data-testid="message-kind">{LABELS[m.sender_type]}</span>
          {m.auto_reason && <span class="tag tag-warn" data-testid="auto-marker" title={m.auto_reason}>auto-reply</span>}
        </div>
        <time class="muted" dateTime={m.created_at}>{formatDate(m.created_at)}</time>
      </div>
      {m.body_html ? <MailHtml html={m.body_html} /> : <div class="msg-text" data-testid="message-body">{m.content}</div>}
      {m.attachments.length > 0 && (
        <ul class="attachments" data-testid="attachments" aria-label="Attachments">
          {m.attachments.map((a, i) => (
            <li key={i} data-testid="attachment">
              <svg class="att-icon" aria-hidden="true" viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor"
                stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
                <path d="m21.4 11.1-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5" />
              </svg>
              <span class="att-name" data-testid="attachment-name">{a.filename}</span>
              <span class="muted" data-testid="attachment-meta">{a.content_type}, {formatSize(a.size)}</span>
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

/** Sanitized e-mail HTML in a contained box (its CSS cannot escape it: `contain: content`, overflow clipped). */
function MailHtml({ html }: { html: string }) {
  const clean = useMemo(() => sanitizeEmailHtml(html), [html]);
  return (
    <>
      {clean.blockedImages > 0 && (
        <p class="blocked-note" data-testid="blocked-images">
          {clean.blockedImages === 1 ? '1 remote image was' : `${clean.blockedImages} remote images were`} not loaded (privacy).
        </p>
      )}
      <div class="mail-html" data-testid="mail-html" dangerouslySetInnerHTML={{ __html: clean.html }} />
    </>
  );
}
