//! The Gmail poll: discover new inbox mail, turn it into tickets and messages, then draft AI replies.
//!
//! One run, per mailbox, holding the mailbox's lease (so concurrent polls never both ingest):
//! 1. **Discover** (`history.list` from the stored `historyId`; a full sync through `messages.list` on the first
//!    run or when Gmail answers 404): new message ids go into `mail_queue` in the same D1 transaction that
//!    moves `historyId`, so a discovered message is never lost and read/unread state never matters.
//! 2. **Ingest** up to `POLL_MAX_MESSAGES` queued messages: one batch call fetches up to 50 raw messages;
//!    [`crate::domain::threading::plan`] decides for each; one D1 batch writes tickets, messages, queue
//!    outcomes and draft jobs atomically; `batchModify` marks them read. A Gmail failure for a message leaves
//!    it queued for the next run, with bounded attempts ([`MAX_ATTEMPTS`]) and its error recorded.
//! 3. **Draft** up to `POLL_MAX_DRAFTS` replies ([`super::drafts`]).
//!
//! Budget for a poll of 100 messages with no drafts: about 6 subrequests (token, history, 2 batch gets,
//! batchModify) and about 10 D1 calls; see `bench/`.

use super::drafts;
use super::mailbox::{self, DEFAULT_TENANT};
use crate::config::Config;
use crate::domain::{mail as parse_mail, threading, ticket, time, triage};
use crate::error::{AppError, AppResult};
use crate::integrations::gmail::{Gmail, GmailError, MessageRef, RawMessage, BATCH_MAX};
use crate::integrations::http::Http;
use crate::platform;
use crate::storage::{drafts as draft_store, mail, mailboxes, tickets, Db};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Attempts to fetch a message before it is marked `failed` for good.
pub const MAX_ATTEMPTS: i64 = 5;
/// Most `history.list` pages read per run (500 records each).
const MAX_HISTORY_PAGES: usize = 4;
/// Messages listed on a full sync (newest first).
const FULL_SYNC_MESSAGES: usize = 200;

/// What a poll did; the admin route answers it as JSON.
#[derive(Debug, Default, Serialize)]
pub struct PollReport {
    /// Raw messages fetched from Gmail.
    pub fetched: u32,
    /// Tickets opened.
    pub tickets_created: u32,
    /// Messages added to a ticket rather than opening one: customer mail and replies staff sent from Gmail.
    pub messages_appended: u32,
    /// Duplicates, loops, auto-replies, bulk mail, unparseable or deleted messages.
    pub skipped: u32,
    /// Drafts delivered: Gmail drafts created (`draft` mode) or replies sent (`auto` mode).
    pub drafts_created: u32,
    /// One line per problem; a poll with errors still did everything it could.
    pub errors: Vec<String>,
    /// Resources this invocation used.
    pub usage: Usage,
}

/// Per-invocation resource use (Workers free plan: 50 subrequests, 50 D1 queries).
#[derive(Debug, Default, Serialize)]
pub struct Usage {
    /// Outbound `fetch` calls (Gmail, Google OAuth, LLM).
    pub subrequests: u32,
    /// D1 round trips; a `batch()` counts once.
    pub d1_calls: u32,
    /// SQL statements executed; each statement of a batch counts.
    pub d1_statements: u32,
}

/// Runs the poll for every configured mailbox. Never fails: problems are in `errors`.
pub async fn run(env: &worker::Env) -> PollReport {
    let mut report = PollReport::default();
    let http = Http::default();
    let db = match env.d1("DB") {
        Ok(d) => Db::new(d),
        Err(e) => {
            report.errors.push(format!("D1 binding DB: {e}"));
            return report;
        }
    };
    match Config::from_env(env) {
        Err(e) => report.errors.push(format!("configuration: {e}")),
        Ok(cfg) => {
            if let Err(e) = poll_mailbox(&db, &http, &cfg, &mut report).await {
                report.errors.push(e.to_string());
            }
        }
    }
    report.usage = Usage {
        subrequests: http.subrequests.get(),
        d1_calls: db.usage.calls.get(),
        d1_statements: db.usage.statements.get(),
    };
    report
}

async fn poll_mailbox(
    db: &Db,
    http: &Http,
    cfg: &Config,
    report: &mut PollReport,
) -> AppResult<()> {
    let mb = mailbox::configured(db, cfg).await?;
    if !mailboxes::try_lease(db, &mb.id, platform::now_ms()).await? {
        report.errors.push(format!(
            "mailbox {}: another poll is running; skipped",
            mb.address
        ));
        return Ok(());
    }
    let result = poll_leased(db, http, cfg, &mb, report).await;
    let error = result.as_ref().err().map(ToString::to_string);
    mailboxes::finish_poll(
        db,
        &mb.id,
        &time::rfc3339(platform::now()),
        error.as_deref(),
    )
    .await?;
    result
}

async fn poll_leased(
    db: &Db,
    http: &Http,
    cfg: &Config,
    mb: &mailboxes::MailboxRow,
    report: &mut PollReport,
) -> AppResult<()> {
    let mut token = mailbox::access_token(db, http, cfg, mb).await?;
    let mut result = discover(db, &Gmail::new(http, &cfg.gmail_api_base, &token), cfg, mb).await;
    if matches!(result, Err(DiscoverError::Gmail(GmailError::Unauthorized))) {
        // A cached token Google no longer accepts (revoked, or the clock lied): refresh once and retry.
        mailboxes::clear_token(db, &mb.id).await?;
        let fresh = mailboxes::MailboxRow {
            access_token: None,
            ..mb.clone()
        };
        token = mailbox::access_token(db, http, cfg, &fresh).await?;
        result = discover(db, &Gmail::new(http, &cfg.gmail_api_base, &token), cfg, mb).await;
    }
    let gmail = Gmail::new(http, &cfg.gmail_api_base, &token);
    match result {
        Ok(()) => {}
        Err(DiscoverError::Gmail(e)) => report
            .errors
            .push(gmail_problem(db, mb, "discovery", e).await),
        Err(DiscoverError::Db(e)) => return Err(e),
    }
    ingest(db, &gmail, cfg, mb, report).await?;
    drafts::run(db, http, &gmail, cfg, mb, report).await
}

/// Describes a Gmail failure for the report; a refused token is forgotten so the next run refreshes it.
async fn gmail_problem(db: &Db, mb: &mailboxes::MailboxRow, step: &str, e: GmailError) -> String {
    if matches!(e, GmailError::Unauthorized) {
        if let Err(clear) = mailboxes::clear_token(db, &mb.id).await {
            return format!(
                "mailbox {} {step}: {e}; clearing the token failed: {clear}",
                mb.address
            );
        }
    }
    format!("mailbox {} {step}: {e} (retried next run)", mb.address)
}

/// Queues new inbox messages and moves `historyId`, atomically.
async fn discover(
    db: &Db,
    gmail: &Gmail<'_>,
    cfg: &Config,
    mb: &mailboxes::MailboxRow,
) -> Result<(), DiscoverError> {
    let (mut found, history_id) = match &mb.history_id {
        Some(start) => match incremental(gmail, start).await {
            Err(GmailError::HistoryExpired) => full_sync(gmail, cfg).await?,
            other => other?,
        },
        None => full_sync(gmail, cfg).await?,
    };
    if let (Some(q), false) = (&cfg.gmail_query, found.is_empty()) {
        // history.list cannot search: keep only what the query matches among the newest inbox mail.
        let (allowed, _) = gmail.list(&format!("in:inbox {q}"), None, 500).await?;
        let allowed: HashSet<String> = allowed.into_iter().map(|m| m.id).collect();
        found.retain(|m| allowed.contains(&m.id));
    }
    let now = time::rfc3339(platform::now());
    let pairs: Vec<(String, String)> = found.into_iter().map(|m| (m.id, m.thread_id)).collect();
    let mut stmts = mail::enqueue(db, &mb.id, &pairs, &now)?;
    stmts.push(mail::set_history(db, &mb.id, &history_id)?);
    db.batch(stmts).await?;
    Ok(())
}

/// `history.list` pages after `start`. Returns the added inbox messages (oldest first) and the new position.
async fn incremental(
    gmail: &Gmail<'_>,
    start: &str,
) -> Result<(Vec<MessageRef>, String), GmailError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    let mut position = start.to_string();
    for _ in 0..MAX_HISTORY_PAGES {
        let page = gmail.history(start, token.as_deref()).await?;
        found.extend(page.added.into_iter().filter(|m| {
            let has = |l: &str| m.label_ids.iter().any(|x| x == l);
            (has("INBOX") || has("SENT")) && !has("DRAFT")
        }));
        match page.next_page_token {
            Some(t) => {
                position = page.last_record_id.unwrap_or(position);
                token = Some(t);
            }
            None => return Ok((found, page.history_id)),
        }
    }
    // More history than one run reads: continue from the last record seen.
    Ok((found, position))
}

/// First run or expired history: the current `historyId`, then the newest inbox messages (read or not).
async fn full_sync(
    gmail: &Gmail<'_>,
    cfg: &Config,
) -> Result<(Vec<MessageRef>, String), GmailError> {
    let history_id = gmail.current_history_id().await?;
    let q = match &cfg.gmail_query {
        Some(extra) => format!("in:inbox -in:chats {extra}"),
        None => "in:inbox -in:chats".to_string(),
    };
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    while found.len() < FULL_SYNC_MESSAGES {
        let (refs, next) = gmail.list(&q, token.as_deref(), 100).await?;
        found.extend(refs);
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    found.truncate(FULL_SYNC_MESSAGES);
    found.reverse(); // oldest first
    Ok((found, history_id))
}

/// Discovery failures: Gmail's, or D1's while queueing.
#[derive(Debug, thiserror::Error)]
enum DiscoverError {
    #[error(transparent)]
    Gmail(#[from] GmailError),
    #[error(transparent)]
    Db(#[from] AppError),
}

/// The ticket id a plan target names: stored, or opened earlier in this run.
fn resolve(target: &threading::Target, opened: &[String]) -> AppResult<String> {
    match target {
        threading::Target::Existing(id) => Ok(id.clone()),
        threading::Target::New(k) => opened.get(*k).cloned().ok_or_else(|| {
            AppError::Internal("threading plan refers to an unopened ticket".into())
        }),
    }
}

/// Retry delay after `attempts` failures: 1, 2, 4, 8 … minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    60_000 << attempts.clamp(0, 10)
}

async fn ingest(
    db: &Db,
    gmail: &Gmail<'_>,
    cfg: &Config,
    mb: &mailboxes::MailboxRow,
    report: &mut PollReport,
) -> AppResult<()> {
    let now_ms = platform::now_ms();
    let now = time::rfc3339(platform::now());
    let due = mail::due(db, &mb.id, now_ms, cfg.poll_max_messages).await?;
    let attempts: HashMap<String, i64> = due
        .iter()
        .map(|q| (q.gmail_message_id.clone(), q.attempts))
        .collect();
    let fail = |id: &str, e: &str| {
        let tries = attempts.get(id).copied().unwrap_or(0) + 1;
        (
            id.to_string(),
            e.to_string(),
            now_ms + backoff_ms(tries),
            tries >= MAX_ATTEMPTS,
        )
    };
    let mut failures = Vec::new();
    let mut fetched: Vec<RawMessage> = Vec::new();
    let mut settled: Vec<(String, &'static str, String)> = Vec::new();
    let ids: Vec<String> = due.into_iter().map(|q| q.gmail_message_id).collect();
    for chunk in ids.chunks(BATCH_MAX) {
        match gmail.get_raw_batch(chunk).await {
            Err(e) => {
                let line = gmail_problem(db, mb, "fetch", e).await;
                failures.extend(chunk.iter().map(|id| fail(id, &line)));
                report.errors.push(line);
            }
            Ok(results) => {
                for (id, r) in results {
                    match r {
                        Ok(m) => fetched.push(m),
                        Err(GmailError::Upstream(u)) if u.status == Some(404) => settled.push((
                            id,
                            "skipped",
                            "deleted from Gmail before it was ingested".into(),
                        )),
                        Err(e) => {
                            let line = format!("mailbox {} message {id}: {e}", mb.address);
                            failures.push(fail(&id, &line));
                            report.errors.push(line);
                        }
                    }
                }
            }
        }
    }
    report.fetched += fetched.len() as u32;
    for (id, error, next, give_up) in &failures {
        mail::record_failure(db, &mb.id, id, error, *next, *give_up, &now).await?;
    }

    // Parse, oldest first.
    fetched.sort_by_key(|m| m.internal_date);
    let mut parsed = Vec::new();
    for m in fetched {
        match parse_mail::parse(&m.raw) {
            Ok(p) => parsed.push((m, p)),
            Err(e) => settled.push((m.id, "skipped", format!("unparseable: {e}"))),
        }
    }
    let incoming: Vec<threading::Incoming> = parsed
        .iter()
        .map(|(m, p)| threading::Incoming {
            gmail_message_id: m.id.clone(),
            gmail_thread_id: m.thread_id.clone(),
            message_id: p.message_id.clone(),
            referenced_ids: p.referenced_ids().into_iter().map(str::to_string).collect(),
            auto_reason: p.auto.as_ref().map(parse_mail::AutoKind::reason),
            from_self: p.from_email.as_deref() == Some(mb.address.as_str()),
        })
        .collect();
    let mut lookup_ids: Vec<String> = incoming
        .iter()
        .flat_map(|m| m.message_id.iter().chain(m.referenced_ids.iter()).cloned())
        .collect();
    lookup_ids.sort();
    lookup_ids.dedup();
    let thread_ids: Vec<String> = incoming
        .iter()
        .map(|m| m.gmail_thread_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let gmail_ids: Vec<String> = incoming
        .iter()
        .map(|m| m.gmail_message_id.clone())
        .collect();
    let known = if incoming.is_empty() {
        threading::Known::default()
    } else {
        mail::known(
            db,
            DEFAULT_TENANT,
            &mb.id,
            &thread_ids,
            &lookup_ids,
            &gmail_ids,
        )
        .await?
    };
    let decisions = threading::plan(&incoming, &known);

    let opens = decisions
        .iter()
        .filter(|d| matches!(d, threading::Decision::Open(_)))
        .count();
    let first_number = if opens > 0 {
        tickets::reserve_numbers(db, DEFAULT_TENANT, opens).await?
    } else {
        0
    };

    let mut stmts = Vec::new();
    let mut new_ticket_ids: Vec<String> = Vec::new();
    // ticket id → the newest customer message that deserves a draft
    let mut draft_for: Vec<(String, String)> = Vec::new();
    let mut counts = (0u32, 0u32, 0u32); // created, appended, skipped
    for ((m, p), decision) in parsed.iter().zip(&decisions) {
        let when = time::rfc3339(time::from_millis(if m.internal_date > 0 {
            m.internal_date
        } else {
            now_ms
        }));
        let ticket_id = match decision {
            threading::Decision::Duplicate => {
                settled.push((
                    m.id.clone(),
                    "skipped",
                    "duplicate of a stored message".into(),
                ));
                continue;
            }
            threading::Decision::Skip(reason) => {
                settled.push((m.id.clone(), "skipped", reason.clone()));
                continue;
            }
            threading::Decision::Open(k) => {
                let id = platform::uuid()?;
                let number = ticket::ticket_number(first_number + *k as i64);
                let subject = p.subject.as_deref().unwrap_or("(no subject)");
                let t = triage::triage(subject, &p.body_text);
                let sla = time::rfc3339(triage::sla_due(
                    time::from_millis(now_ms.max(m.internal_date)),
                    t.priority,
                ));
                stmts.push(tickets::insert(
                    db,
                    &tickets::NewTicket {
                        ticket_id: &id,
                        tenant: DEFAULT_TENANT,
                        ticket_number: &number,
                        customer_email: p.reply_address(),
                        customer_name: p.from_name.as_deref(),
                        subject,
                        description: &p.body_text,
                        priority: t.priority.as_str(),
                        category: t.category.as_str(),
                        channel: ticket::Channel::Email.as_str(),
                        mailbox_id: Some(&mb.id),
                        sla_due_at: &sla,
                        created_at: &when,
                    },
                )?);
                settled.push((m.id.clone(), "done", number));
                new_ticket_ids.push(id.clone());
                counts.0 += 1;
                id
            }
            threading::Decision::Append(target) => {
                let id = resolve(target, &new_ticket_ids)?;
                if p.auto.is_none() {
                    stmts.push(tickets::reopen_on_customer_message(db, &id, &now)?);
                }
                settled.push((m.id.clone(), "done", format!("appended to ticket {id}")));
                counts.1 += 1;
                id
            }
            threading::Decision::Outgoing(target) => {
                // Staff replied from Gmail (often by sending the AI draft): the ticket's first response, and
                // its open drafts are moot.
                let id = resolve(target, &new_ticket_ids)?;
                stmts.push(tickets::record_response(db, &id, &when)?);
                stmts.push(draft_store::supersede_open(db, &id, &now)?);
                draft_for.retain(|(t, _)| t != &id);
                settled.push((
                    m.id.clone(),
                    "done",
                    format!("our reply recorded on ticket {id}"),
                ));
                counts.1 += 1;
                id
            }
        };
        let outgoing = matches!(decision, threading::Decision::Outgoing(_));
        let message_id = platform::uuid()?;
        let content = if p.body_text.is_empty() {
            "(this e-mail has no text)".to_string()
        } else {
            p.body_text.clone()
        };
        stmts.extend(mail::insert_email_message(
            db,
            &mail::NewEmailMessage {
                id: &message_id,
                tenant: DEFAULT_TENANT,
                ticket_id: &ticket_id,
                mailbox_id: Some(&mb.id),
                sender_type: if outgoing { "agent" } else { "customer" },
                sender_id: None,
                sender_name: p
                    .from_name
                    .as_deref()
                    .or(outgoing.then_some(cfg.support_name.as_str())),
                sender_email: p.from_email.as_deref(),
                to_email: p.to.first().map(String::as_str),
                subject: p.subject.as_deref(),
                content: &content,
                body_html: p.body_html.as_deref(),
                gmail_message_id: Some(&m.id),
                gmail_thread_id: Some(&m.thread_id),
                rfc_message_id: p.message_id.as_deref(),
                in_reply_to: p.in_reply_to.first().map(String::as_str),
                references: serde_json::to_string(&p.references)?,
                attachments: serde_json::to_string(&p.attachments)?,
                has_attachments: !p.attachments.is_empty(),
                auto_reason: p.auto.as_ref().map(parse_mail::AutoKind::reason).as_deref(),
                truncated: p.truncated,
                labels: serde_json::to_string(&m.label_ids)?,
                created_at: &when,
            },
        )?);
        if !outgoing
            && p.auto.is_none()
            && p.reply_address().is_some()
            && cfg.ai_mode != crate::config::AiMode::Off
        {
            draft_for.retain(|(t, _)| t != &ticket_id);
            draft_for.push((ticket_id, message_id));
        }
    }
    for (ticket_id, message_id) in &draft_for {
        stmts.push(draft_store::insert_job(
            db,
            &platform::uuid()?,
            DEFAULT_TENANT,
            ticket_id,
            message_id,
            &now,
        )?);
    }
    counts.2 = settled.iter().filter(|s| s.1 == "skipped").count() as u32;
    for (id, status, outcome) in &settled {
        stmts.push(mail::settle(db, &mb.id, id, status, outcome, &now)?);
    }
    if let Err(e) = db.batch(stmts).await {
        // Nothing was written: every message stays queued and is tried again next run.
        for (id, _, _) in &settled {
            let (id, error, next, give_up) = fail(id, &e.to_string());
            mail::record_failure(db, &mb.id, &id, &error, next, give_up, &now).await?;
        }
        report.errors.push(format!(
            "mailbox {}: storing mail failed: {e} (retried next run)",
            mb.address
        ));
        return Ok(());
    }
    report.tickets_created += counts.0;
    report.messages_appended += counts.1;
    report.skipped += counts.2;

    let processed: Vec<String> = settled.into_iter().map(|s| s.0).collect();
    if !processed.is_empty() {
        if let Err(e) = gmail.mark_read(&processed).await {
            report
                .errors
                .push(gmail_problem(db, mb, "marking mail read", e).await);
        }
    }
    Ok(())
}
