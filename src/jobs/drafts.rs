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
use crate::storage::{drafts as draft_store, mail, mailboxes::MailboxRow, tickets, Db};

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
        draft_store::due(db, DEFAULT_TENANT, platform::now_ms(), cfg.poll_max_drafts).await?;
    for job in jobs {
        if !draft_store::claim(db, &job.id, platform::now_ms()).await? {
            continue; // another run is on it
        }
        match deliver(db, http, gmail, cfg, mb, &job).await? {
            Ok(()) => report.drafts_created += 1,
            Err((problem, retryable)) => {
                let attempts = job.attempts + 1;
                let give_up = retry::give_up(attempts, retryable);
                let retry_at = platform::now_ms() + retry::backoff_ms(attempts);
                let now = time::rfc3339(platform::now());
                draft_store::record_failure(db, &job.id, &problem, retry_at, give_up, &now).await?;
                let next = if give_up { "gave up" } else { "retried later" };
                report.errors.push(format!(
                    "draft for ticket {}: {problem} ({next})",
                    job.ticket_number
                ));
            }
        }
    }
    Ok(())
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
    for draft_id in stale {
        if let Err(e) = gmail.delete_draft(&draft_id).await {
            worker::console_warn!("deleting stale Gmail draft {draft_id}: {e}");
        }
    }
    Ok(())
}

/// Outer error: storage failed (stop the run). Inner error: why this job failed and whether that is
/// transient (recorded, retried).
async fn deliver(
    db: &Db,
    http: &Http,
    gmail: &Gmail<'_>,
    cfg: &Config,
    mb: &MailboxRow,
    job: &draft_store::Job,
) -> AppResult<Result<(), (String, bool)>> {
    let Some(answered) = mail::email_of_message(db, &job.message_id).await? else {
        return Ok(Err(("the answered message has no e-mail".into(), false)));
    };
    let Some(to) = answered.reply_to.clone().or(answered.from_email.clone()) else {
        return Ok(Err((
            "the answered message has no sender address".into(),
            false,
        )));
    };
    let category: Category = job.category.parse().unwrap_or(Category::Other);
    let ctx = TicketContext {
        ticket_number: &job.ticket_number,
        subject: &job.ticket_subject,
        category,
        customer_name: job.customer_name.as_deref(),
        signature: &cfg.support_name,
    };
    let content = match (&job.content, &cfg.llm_api_key) {
        (Some(c), _) if job.status == "generated" => c.clone(),
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
                Ok(text) => {
                    draft_store::set_generated(
                        db,
                        &job.id,
                        &text,
                        "llm",
                        &time::rfc3339(platform::now()),
                    )
                    .await?;
                    text
                }
                Err(e) => return Ok(Err((e.to_string(), e.retryable()))),
            }
        }
        (_, None) => {
            let text = template_reply(&ctx);
            draft_store::set_generated(
                db,
                &job.id,
                &text,
                "template",
                &time::rfc3339(platform::now()),
            )
            .await?;
            text
        }
    };

    let to_customer = ReplyTo {
        answered: &answered,
        to: &to,
        to_name: answered.from_name.as_deref(),
        fallback_subject: &job.ticket_subject,
    };
    let now = time::rfc3339(platform::now());
    if cfg.ai_mode == AiMode::Auto {
        let (sent, mut stmts) = match reply::send(
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
        .await?
        {
            Ok(s) => s,
            Err(e) => return Ok(Err((e.to_string(), e.retryable()))),
        };
        stmts.push(draft_store::set_sent(
            db,
            &job.id,
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
        // One AI draft per ticket in Gmail: the newer one replaces the older.
        retire_gmail_drafts(db, gmail, &job.tenant_id, &job.ticket_id, false).await?;
        let draft_id = match gmail
            .create_draft(&raw, answered.gmail_thread_id.as_deref())
            .await
        {
            Ok(id) => id,
            Err(e) => return Ok(Err((e.to_string(), e.retryable()))),
        };
        if !draft_store::mark_created(db, &job.id, &draft_id, &now).await? {
            // An agent replied while this run was drafting: the draft is moot.
            if let Err(e) = gmail.delete_draft(&draft_id).await {
                worker::console_warn!("deleting moot Gmail draft {draft_id}: {e}");
            }
        }
    }
    Ok(Ok(()))
}
