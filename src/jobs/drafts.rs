//! AI drafting: for each due draft job, generate the reply (LLM, or the category template without
//! `LLM_API_KEY`), then create a Gmail draft in the customer's thread (`draft` mode) or send it (`auto` mode).
//!
//! Text is stored before Gmail is called, so a Gmail failure retries without a second LLM call; the UNIQUE
//! message id of a job makes two drafts for one message impossible, and a run claims a job before working on it
//! so two overlapping runs never deliver it twice. A newer draft replaces the ticket's older Gmail draft (deleted
//! from Gmail). Failures retry with backoff ([`crate::domain::retry`]), their error recorded on the draft row
//! and in the poll report.

use super::email_poll::PollReport;
use super::mailbox::DEFAULT_TENANT;
use super::reply::{self, ReplyTo};
use crate::config::{AiMode, Config};
use crate::domain::draft::{build_prompt, template_reply, ThreadEntry, TicketContext};
use crate::domain::ticket::{Category, SenderType};
use crate::domain::{retry, time};
use crate::error::AppResult;
use crate::integrations::gmail::Gmail;
use crate::integrations::http::Http;
use crate::integrations::llm;
use crate::platform;
use crate::storage::{drafts as draft_store, mailboxes::MailboxRow, tickets, Db};

/// Generates and delivers due drafts of the mailbox's tenant.
pub async fn run(
    db: &Db,
    http: &Http,
    gmail: &Gmail<'_>,
    cfg: &Config,
    mb: &MailboxRow,
    report: &mut PollReport,
) -> AppResult<()> {
    if cfg.ai_mode == AiMode::Off || cfg.poll_max_drafts == 0 {
        return Ok(());
    }
    let jobs =
        draft_store::claim_due(db, DEFAULT_TENANT, platform::now_ms(), cfg.poll_max_drafts).await?;
    let send = cfg.ai_mode == AiMode::Auto;
    // Loaded once per run: tickets are enriched from the tenant's primary CRM only when it has one.
    let primary = crate::storage::crm::primary(db, DEFAULT_TENANT).await?;
    for job in jobs {
        match deliver(db, http, gmail, cfg, mb, &job, send, primary.as_ref()).await? {
            Ok(true) => report.drafts_created += 1,
            Ok(false) => {}
            Err(failure) => {
                let problem = record(db, &job, failure).await?;
                report
                    .errors
                    .push(format!("draft for ticket {}: {problem}", job.ticket_number));
            }
        }
    }
    Ok(())
}

/// Records a failed attempt (retry later or give up) and returns what to report.
async fn record(db: &Db, job: &draft_store::Job, failure: Failure) -> AppResult<String> {
    let attempts = job.attempts + 1;
    let give_up = retry::give_up(attempts, failure.retryable);
    let retry_at = platform::now_ms() + retry::backoff_ms(attempts);
    let now = time::rfc3339(platform::now());
    let generated = failure.generated.as_ref().map(|(c, s)| (c.as_str(), *s));
    draft_store::record_failure(
        db,
        &job.id,
        &failure.problem,
        retry_at,
        give_up,
        generated,
        &now,
    )
    .await?;
    let next = if give_up { "gave up" } else { "retried later" };
    Ok(format!("{} ({next})", failure.problem))
}

/// `POST /api/v1/tickets/{id}/draft/regenerate`: retires the ticket's current drafts (deleted from Gmail), then
/// generates a fresh draft of the newest customer e-mail now and stores it as a Gmail draft (never sends it,
/// also in `auto` mode). Outer error: storage failed. Inner error: why there is no new draft (the job stays
/// queued for the poll's retries when the failure is transient).
pub async fn regenerate(
    db: &Db,
    http: &Http,
    gmail: &Gmail<'_>,
    cfg: &Config,
    mb: &MailboxRow,
    tenant: &str,
    ticket_id: &str,
) -> AppResult<Result<String, String>> {
    retire_gmail_drafts(db, gmail, tenant, ticket_id, true).await?;
    let now = time::rfc3339(platform::now());
    let now_ms = platform::now_ms();
    let claim = now_ms + draft_store::CLAIM_MS;
    let new_id = platform::uuid()?;
    let Some(id) =
        draft_store::reopen_newest(db, tenant, ticket_id, &new_id, now_ms, claim, &now).await?
    else {
        return Ok(Err(
            "this ticket has no customer e-mail to draft a reply to, or a poll is \
             drafting it right now"
                .into(),
        ));
    };
    let Some(job) = draft_store::load(db, std::slice::from_ref(&id))
        .await?
        .into_iter()
        .next()
    else {
        return Ok(Err("the draft job could not be loaded".into()));
    };
    let primary = crate::storage::crm::primary(db, tenant).await?;
    match deliver(db, http, gmail, cfg, mb, &job, false, primary.as_ref()).await? {
        Ok(true) => Ok(Ok(id)),
        Ok(false) => Ok(Err("the customer is blocked: no drafts".into())),
        Err(failure) => Ok(Err(record(db, &job, failure).await?)),
    }
}

/// Supersedes the ticket's drafts already in Gmail (and, with `all_open`, those still being generated) and
/// deletes them from Gmail (best effort: a failure is logged; the rows are superseded either way).
pub async fn retire_gmail_drafts(
    db: &Db,
    gmail: &Gmail<'_>,
    tenant: &str,
    ticket_id: &str,
    all_open: bool,
) -> AppResult<()> {
    let stale = draft_store::open_gmail_drafts(db, tenant, ticket_id).await?;
    let now = time::rfc3339(platform::now());
    db.batch(vec![draft_store::supersede(db, ticket_id, all_open, &now)?])
        .await?;
    delete_gmail_drafts(gmail, &stale).await;
    Ok(())
}

async fn delete_gmail_drafts(gmail: &Gmail<'_>, ids: &[String]) {
    for draft_id in ids {
        if let Err(e) = gmail.delete_draft(draft_id).await {
            worker::console_warn!("deleting stale Gmail draft {draft_id}: {e}");
        }
    }
}

/// Why a job failed this time.
struct Failure {
    problem: String,
    /// Transient (network, 429, 5xx): retried for longer ([`retry::give_up`]).
    retryable: bool,
    /// Text generated before the failure, kept for the retry: `(content, source)`.
    generated: Option<(String, &'static str)>,
}

impl Failure {
    fn new(problem: impl ToString, retryable: bool) -> Self {
        Failure {
            problem: problem.to_string(),
            retryable,
            generated: None,
        }
    }
}

/// Outer error: storage failed (stop the run). Inner error: this job failed (recorded, retried). `Ok(false)`: no
/// draft was due (the customer is blocked).
#[allow(clippy::too_many_arguments)] // the job's whole context; a struct would only rename it
async fn deliver(
    db: &Db,
    http: &Http,
    gmail: &Gmail<'_>,
    cfg: &Config,
    mb: &MailboxRow,
    job: &draft_store::Job,
    send: bool,
    primary: Option<&crate::storage::crm::Connection>,
) -> AppResult<Result<bool, Failure>> {
    let answered = &job.answered;
    if crate::storage::customers::ticket_customer_blocked(db, &job.tenant_id, &job.ticket_id)
        .await?
    {
        // Blocked customers get no drafts: the job ends without one, and it is not a failure.
        let now = time::rfc3339(platform::now());
        db.batch(vec![draft_store::supersede(
            db,
            &job.ticket_id,
            true,
            &now,
        )?])
        .await?;
        return Ok(Ok(false));
    }
    let Some(to) = answered.reply_to.clone().or(answered.from_email.clone()) else {
        return Ok(Err(Failure::new(
            "the answered message has no sender address",
            false,
        )));
    };
    let category: Category = job.category.parse().unwrap_or(Category::Other);
    // The customer's CRM record (primary CRM, cached per TTL) for the prompt; a CRM failure costs only the summary.
    // Skipped when the poll has spent most of its subrequests; the enrichment sweep catches up.
    let crm_summary = match primary.filter(|_| http.subrequests.get() < 35) {
        Some(p) => crate::jobs::crm::summary(
            &crate::jobs::crm::enrich_with(
                db,
                cfg,
                http,
                p,
                &job.tenant_id,
                &job.ticket_id,
                Some(&to),
                None,
            )
            .await
            .unwrap_or(None),
        ),
        None => None,
    };
    let ctx = TicketContext {
        crm_summary: crm_summary.as_deref(),
        ticket_number: &job.ticket_number,
        subject: &job.ticket_subject,
        category,
        customer_name: job.customer_name.as_deref(),
        signature: &cfg.support_name,
    };
    let (content, source): (String, &'static str) = match (&job.content, &cfg.llm_api_key) {
        (Some(c), _) if job.status == "generated" => (
            c.clone(),
            if job.source.as_deref() == Some("template") {
                "template"
            } else {
                "llm"
            },
        ),
        (_, Some(key)) => {
            let thread: Vec<ThreadEntry> = tickets::messages(db, &job.tenant_id, &job.ticket_id)
                .await?
                .into_iter()
                .map(|m| ThreadEntry {
                    sender_type: m.sender_type.parse().unwrap_or(SenderType::System),
                    content: m.content,
                })
                .collect();
            match llm::complete(
                http,
                &cfg.llm_api_base,
                key,
                &cfg.llm_model,
                &build_prompt(&ctx, &thread),
            )
            .await
            {
                Ok(text) => (text, "llm"),
                Err(e) => return Ok(Err(Failure::new(e.to_string(), e.retryable()))),
            }
        }
        (_, None) => (template_reply(&ctx), "template"),
    };
    // From here on a failure keeps the text, so the retry does not ask the LLM again.
    let failed = |e: crate::integrations::gmail::GmailError| Failure {
        problem: e.to_string(),
        retryable: e.retryable(),
        generated: Some((content.clone(), source)),
    };

    let to_customer = ReplyTo {
        answered,
        to: &to,
        to_name: answered.from_name.as_deref(),
        fallback_subject: &job.ticket_subject,
    };
    let now = time::rfc3339(platform::now());
    if send {
        let sent = reply::send(
            db,
            gmail,
            cfg,
            mb,
            &job.tenant_id,
            &job.ticket_id,
            &to_customer,
            &content,
            None,
        )
        .await?;
        let (sent, mut stmts) = match sent {
            Ok(s) => s,
            Err(e) => return Ok(Err(failed(e))),
        };
        stmts.push(draft_store::set_sent(
            db,
            &job.id,
            &content,
            source,
            &sent.gmail_message_id,
            &now,
        )?);
        db.batch(stmts).await?;
    } else {
        let raw = reply::compose(
            cfg,
            mb,
            &to_customer,
            &format!("draft-{}", job.id),
            &content,
        );
        let draft_id = match gmail
            .create_draft(&raw, answered.gmail_thread_id.as_deref())
            .await
        {
            Ok(id) => id,
            Err(e) => return Ok(Err(failed(e))),
        };
        if draft_store::mark_created(db, &job.id, &content, source, &draft_id, &now).await? {
            // One AI draft per ticket in Gmail: this one replaces the older.
            if let Some(older) = &job.older_gmail_draft_id {
                db.batch(vec![draft_store::supersede_draft(db, older, &now)?])
                    .await?;
                delete_gmail_drafts(gmail, std::slice::from_ref(older)).await;
            }
        } else {
            // An agent replied while this run was drafting: the draft is moot.
            delete_gmail_drafts(gmail, &[draft_id]).await;
        }
    }
    Ok(Ok(true))
}
