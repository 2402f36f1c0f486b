//! AI drafting: for each due draft job, generate the reply (LLM, or the category template without
//! `LLM_API_KEY`), then create a Gmail draft in the customer's thread (`draft` mode) or send it (`auto` mode).
//!
//! Text is stored before Gmail is called, so a Gmail failure retries without a second LLM call; the UNIQUE
//! message id of a job makes two drafts for one message impossible. Failures retry with backoff up to
//! [`draft_store::MAX_ATTEMPTS`], their error recorded on the draft row and in the poll report.

use super::email_poll::{backoff_ms, PollReport};
use super::mailbox::DEFAULT_TENANT;
use super::reply::{self, ReplyTo};
use crate::config::{AiMode, Config};
use crate::domain::draft::{build_prompt, template_reply, ThreadEntry, TicketContext};
use crate::domain::ticket::{Category, SenderType};
use crate::domain::time;
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
        let now = time::rfc3339(platform::now());
        let retry_at = platform::now_ms() + backoff_ms(job.attempts + 1);
        match deliver(db, http, gmail, cfg, mb, &job).await? {
            Ok(()) => report.drafts_created += 1,
            Err(problem) => {
                let line = format!(
                    "draft for ticket {}: {problem} (retried later)",
                    job.ticket_number
                );
                draft_store::record_failure(db, &job.id, &problem, retry_at, &now).await?;
                report.errors.push(line);
            }
        }
    }
    Ok(())
}

/// Outer error: storage failed (stop the run). Inner error: this job failed (recorded, retried).
async fn deliver(
    db: &Db,
    http: &Http,
    gmail: &Gmail<'_>,
    cfg: &Config,
    mb: &MailboxRow,
    job: &draft_store::Job,
) -> AppResult<Result<(), String>> {
    let Some(answered) = mail::email_of_message(db, &job.message_id).await? else {
        return Ok(Err("the answered message has no e-mail".into()));
    };
    let Some(to) = answered.from_email.clone() else {
        return Ok(Err("the answered message has no sender address".into()));
    };
    let category: Category = job.category.parse().unwrap_or(Category::Other);
    let ctx = TicketContext {
        ticket_number: &job.ticket_number,
        subject: &job.ticket_subject,
        category,
        customer_name: job.customer_name.as_deref(),
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
                Err(e) => return Ok(Err(e.to_string())),
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
            Err(e) => return Ok(Err(e.to_string())),
        };
        stmts.push(draft_store::set_delivered(
            db,
            &job.id,
            "sent",
            None,
            Some(&sent.gmail_message_id),
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
            Err(e) => return Ok(Err(e.to_string())),
        };
        db.batch(vec![draft_store::set_delivered(
            db,
            &job.id,
            "created",
            Some(&draft_id),
            None,
            &now,
        )?])
        .await?;
    }
    Ok(Ok(()))
}
