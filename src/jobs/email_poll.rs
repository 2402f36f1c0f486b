//! The Gmail poll: discover new inbox mail, turn it into tickets and messages, then draft AI replies.
//!
//! One run, per mailbox, holding the mailbox's lease (so concurrent polls never both ingest):
//! 1. **Discover** (`history.list` from the stored `historyId`; a full sync through `messages.list` on the first
//!    run or when Gmail answers 404): new message ids go into `mail_queue` in the same D1 transaction that
//!    moves `historyId`, so a discovered message is never lost and read/unread state never matters.
//! 2. **Ingest** up to `POLL_MAX_MESSAGES` queued messages: one batch call fetches up to 50 raw messages;
//!    [`crate::domain::threading::plan`] decides for each; one D1 batch writes tickets, messages, queue
//!    outcomes and draft jobs atomically; `batchModify` marks them read. A Gmail failure for a message leaves
//!    it queued for the next run, with backoff and bounded attempts ([`retry`]) and its error recorded.
//! 3. **Draft** up to `POLL_MAX_DRAFTS` replies ([`super::drafts`]).
//!
//! Budget for a poll of 100 messages with no drafts: about 6 subrequests (token, history, 2 batch gets,
//! batchModify) and about 10 D1 calls; see `bench/`.

use super::drafts;
use super::mailbox::{self, DEFAULT_TENANT};
use crate::config::Config;
use crate::domain::{mail as parse_mail, retry, threading, ticket, time, triage};
use crate::error::{AppError, AppResult};
use crate::integrations::gmail::{Gmail, GmailError, MessageRef, BATCH_MAX};
use crate::integrations::http::{Http, DEFAULT_TIMEOUT_MS};
use crate::platform;
use crate::storage::{drafts as draft_store, mail, mailboxes, tickets, Db};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Most `history.list` pages read per run (500 records each).
const MAX_HISTORY_PAGES: usize = 4;
/// Messages listed on a full sync (newest first).
const FULL_SYNC_MESSAGES: usize = 200;
/// How far back a full sync looks, in days: older mail never becomes tickets (nor drafts, nor auto replies).
const FULL_SYNC_DAYS: u32 = 7;

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

/// Runs the poll for every configured mailbox, or, with `tenant`, for that tenant's mailboxes only (the admin
/// route polls the caller's tenant). Never fails: problems are in `errors`.
pub async fn run(env: &worker::Env, tenant: Option<&str>) -> PollReport {
    let mut report = PollReport::default();
    let cfg = Config::from_env(env);
    let http = Http::with_timeout(
        cfg.as_ref()
            .map_or(DEFAULT_TIMEOUT_MS, |c| c.http_timeout_ms),
    );
    let db = match env.d1("DB") {
        Ok(d) => Db::new(d),
        Err(e) => {
            report.errors.push(format!("D1 binding DB: {e}"));
            return report;
        }
    };
    match cfg {
        Err(e) => report.errors.push(format!("configuration: {e}")),
        Ok(_) if tenant.is_some_and(|t| t != DEFAULT_TENANT) => report.errors.push(format!(
            "tenant {} has no Gmail mailbox configured",
            tenant.unwrap_or_default()
        )),
        Ok(cfg) => {
            if let Err(e) = poll_mailbox(&db, &http, &cfg, &mut report).await {
                report.errors.push(e.to_string());
            }
            let changes = report.tickets_created + report.messages_appended + report.drafts_created;
            if changes > 0 {
                // One frame for the whole run: the dashboards reload their lists.
                let event = if report.tickets_created > 0 {
                    "created"
                } else {
                    "message"
                };
                let frame = serde_json::json!({"type": "ticket", "event": event, "ticket_id": null,
                    "ticket_number": null, "count": changes});
                crate::rooms::hub::publish(env, DEFAULT_TENANT, &frame).await;
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
    let owner = platform::uuid()?;
    if !mailboxes::try_lease(db, &mb.id, &owner, platform::now_ms()).await? {
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
        &owner,
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
        // history.list cannot search: keep the inbox mail the query matches among the newest 500 matches (a
        // backlog beyond that is dropped), and all mail we sent (staff replies are never filtered).
        let (allowed, _) = gmail.list(&format!("in:inbox {q}"), None, 500).await?;
        let allowed: HashSet<String> = allowed.into_iter().map(|m| m.id).collect();
        found.retain(|m| allowed.contains(&m.id) || m.label_ids.iter().any(|l| l == "SENT"));
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
        Some(extra) => format!("in:inbox -in:chats newer_than:{FULL_SYNC_DAYS}d {extra}"),
        None => format!("in:inbox -in:chats newer_than:{FULL_SYNC_DAYS}d"),
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

/// What one message's writes amount to, for the report.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Created,
    Appended,
    Skipped,
}

/// The D1 writes of one Gmail message.
struct Group {
    gmail_id: String,
    stmts: Vec<worker::D1PreparedStatement>,
    kind: Kind,
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

/// Records a failure of claimed messages, giving up on those whose attempts ran out
/// ([`retry::give_up`]).
async fn record_failures(
    db: &Db,
    mailbox: &str,
    ids: &[String],
    attempts: &HashMap<String, i64>,
    error: &str,
    retryable: bool,
    now: &str,
) -> AppResult<()> {
    let (last, again): (Vec<String>, Vec<String>) = ids
        .iter()
        .cloned()
        .partition(|id| retry::give_up(attempts.get(id).copied().unwrap_or(1), retryable));
    mail::record_failure(db, mailbox, &again, error, false, now).await?;
    mail::record_failure(db, mailbox, &last, error, true, now).await
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
    let (exhausted, due): (Vec<_>, Vec<_>) = due
        .into_iter()
        .partition(|q| q.attempts >= retry::MAX_TRANSIENT_ATTEMPTS);
    if !exhausted.is_empty() {
        let ids: Vec<String> = exhausted.into_iter().map(|q| q.gmail_message_id).collect();
        let line = format!("gave up after {} attempts", retry::MAX_TRANSIENT_ATTEMPTS);
        mail::record_failure(db, &mb.id, &ids, &line, true, &now).await?;
        report.errors.push(format!(
            "mailbox {}: {} message(s) {line}",
            mb.address,
            ids.len()
        ));
    }
    // Attempts as counted by the claim below.
    let attempts: HashMap<String, i64> = due
        .iter()
        .map(|q| (q.gmail_message_id.clone(), q.attempts + 1))
        .collect();
    let ids: Vec<String> = due.into_iter().map(|q| q.gmail_message_id).collect();
    db.batch(mail::claim(db, &mb.id, &ids, now_ms)?).await?;

    // Fetch chunk by chunk and parse at once, so only one chunk of raw mail is in memory.
    let mut failures: Vec<(Vec<String>, String, bool)> = Vec::new();
    let mut parsed = Vec::new();
    let mut settled: Vec<(String, &'static str, String)> = Vec::new();
    let mut deleted: HashSet<String> = HashSet::new();
    for chunk in ids.chunks(BATCH_MAX) {
        match gmail.get_raw_batch(chunk).await {
            Err(e) => {
                let retryable = e.retryable();
                let line = gmail_problem(db, mb, "fetch", e).await;
                failures.push((chunk.to_vec(), line.clone(), retryable));
                report.errors.push(line);
            }
            Ok(results) => {
                for (id, r) in results {
                    match r {
                        Ok(mut m) => {
                            report.fetched += 1;
                            let raw = std::mem::take(&mut m.raw);
                            match parse_mail::parse(&raw) {
                                Ok(p) => parsed.push((m, p)),
                                Err(e) => {
                                    settled.push((m.id, "skipped", format!("unparseable: {e}")))
                                }
                            }
                        }
                        Err(GmailError::Upstream(u)) if u.status == Some(404) => {
                            deleted.insert(id.clone());
                            settled.push((
                                id,
                                "skipped",
                                "deleted from Gmail before it was ingested".into(),
                            ));
                        }
                        Err(e) => {
                            let line = format!("mailbox {} message {id}: {e}", mb.address);
                            failures.push((vec![id], line.clone(), e.retryable()));
                            report.errors.push(line);
                        }
                    }
                }
            }
        }
    }
    for (ids, line, retryable) in &failures {
        record_failures(db, &mb.id, ids, &attempts, line, *retryable, &now).await?;
    }

    // Oldest first.
    parsed.sort_by_key(|(m, _)| m.internal_date);
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

    // The writes of each message (plus the settles of skipped ones), as one group per Gmail message.
    let mut groups: Vec<Group> = Vec::new();
    let mut new_ticket_ids: Vec<String> = Vec::new();
    // (ticket id, message id, Gmail id) of each ticket's newest customer message that deserves a draft
    let mut draft_for: Vec<(String, String, String)> = Vec::new();
    // tickets a staff reply from Gmail answered: their AI drafts are moot
    let mut answered_by_staff: Vec<String> = Vec::new();
    for ((m, p), decision) in parsed.iter().zip(&decisions) {
        let mut stmts = Vec::new();
        // When Gmail received it (now, if Gmail did not say): message time and SLA start.
        let received = time::from_millis(if m.internal_date > 0 {
            m.internal_date
        } else {
            now_ms
        });
        let when = time::rfc3339(received);
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
                let sla = time::rfc3339(triage::sla_due(received, t.priority));
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
                // The customer registry: the ticket belongs to whoever holds this address (created if new).
                if let Some(who) = p
                    .reply_address()
                    .and_then(|a| crate::domain::customers::Identity::email(a).ok())
                {
                    stmts.extend(crate::storage::customers::link_ticket(
                        db,
                        DEFAULT_TENANT,
                        &id,
                        &who,
                        &platform::uuid()?,
                        p.from_name.as_deref(),
                        &when,
                    )?);
                }
                settled.push((m.id.clone(), "done", number));
                new_ticket_ids.push(id.clone());
                id
            }
            threading::Decision::Append(target) => {
                let id = resolve(target, &new_ticket_ids)?;
                if p.auto.is_none() {
                    stmts.push(tickets::reopen_on_customer_message(db, &id, &now)?);
                    stmts.push(crate::storage::customers::touch_by_ticket(
                        db,
                        DEFAULT_TENANT,
                        &id,
                        &when,
                    )?);
                }
                settled.push((m.id.clone(), "done", format!("appended to ticket {id}")));
                id
            }
            threading::Decision::Outgoing(target) => {
                // Staff replied from Gmail (often by sending the AI draft): the ticket's first response, and
                // its open drafts are moot.
                let id = resolve(target, &new_ticket_ids)?;
                stmts.push(tickets::record_response(db, &id, &when)?);
                answered_by_staff.push(id.clone());
                draft_for.retain(|(t, _, _)| t != &id);
                settled.push((
                    m.id.clone(),
                    "done",
                    format!("our reply recorded on ticket {id}"),
                ));
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
                reply_to: p.reply_to.as_deref(),
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
            draft_for.retain(|(t, _, _)| t != &ticket_id);
            draft_for.push((ticket_id, message_id, m.id.clone()));
        }
        let kind = if matches!(decision, threading::Decision::Open(_)) {
            Kind::Created
        } else {
            Kind::Appended
        };
        groups.push(Group {
            gmail_id: m.id.clone(),
            stmts,
            kind,
        });
    }
    for (ticket_id, message_id, gmail_id) in &draft_for {
        let job = draft_store::insert_job(
            db,
            &platform::uuid()?,
            DEFAULT_TENANT,
            ticket_id,
            message_id,
            &now,
        )?;
        if let Some(g) = groups.iter_mut().find(|g| &g.gmail_id == gmail_id) {
            g.stmts.push(job);
        }
    }
    for (id, status, outcome) in &settled {
        let settle = mail::settle(db, &mb.id, id, status, outcome, &now)?;
        match groups.iter_mut().find(|g| &g.gmail_id == id) {
            Some(g) => g.stmts.push(settle),
            None => groups.push(Group {
                gmail_id: id.clone(),
                stmts: vec![settle],
                kind: Kind::Skipped,
            }),
        }
    }
    // One transaction for the whole run; if it fails, message by message, so that one bad message (a value D1
    // refuses) cannot hold back the others.
    let mut written: Vec<&Group> = Vec::new();
    if let Err(e) = db
        .batch(
            groups
                .iter()
                .flat_map(|g| g.stmts.iter().cloned())
                .collect(),
        )
        .await
    {
        worker::console_warn!(
            "storing the run's mail in one batch failed ({e}); storing message by message"
        );
        for g in &groups {
            match db.batch(g.stmts.clone()).await {
                Ok(()) => written.push(g),
                Err(e) => {
                    let line = format!("storing message {} failed: {e}", g.gmail_id);
                    record_failures(
                        db,
                        &mb.id,
                        std::slice::from_ref(&g.gmail_id),
                        &attempts,
                        &line,
                        false,
                        &now,
                    )
                    .await?;
                    report
                        .errors
                        .push(format!("mailbox {}: {line} (retried next run)", mb.address));
                }
            }
        }
    } else {
        written.extend(groups.iter());
    }
    for g in &written {
        match g.kind {
            Kind::Created => report.tickets_created += 1,
            Kind::Appended => report.messages_appended += 1,
            Kind::Skipped => report.skipped += 1,
        }
    }
    let written: HashSet<&str> = written.iter().map(|g| g.gmail_id.as_str()).collect();
    settled.retain(|s| written.contains(s.0.as_str()));

    for ticket_id in &answered_by_staff {
        drafts::retire_gmail_drafts(db, gmail, DEFAULT_TENANT, ticket_id, true).await?;
    }
    // batchModify refuses unknown ids: leave out mail deleted from Gmail.
    let processed: Vec<String> = settled
        .into_iter()
        .map(|s| s.0)
        .filter(|id| !deleted.contains(id))
        .collect();
    if !processed.is_empty() {
        if let Err(e) = gmail.mark_read(&processed).await {
            report
                .errors
                .push(gmail_problem(db, mb, "marking mail read", e).await);
        }
    }
    Ok(())
}
