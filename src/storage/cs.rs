//! Phone and SMS customer service: tenant configs and numbers, webhook idempotency, opt-outs, conversations,
//! the Zapier request log and the customer cache.

use super::Db;
use crate::domain::cs::CsConfig;
use crate::error::{AppError, AppResult};
use crate::params;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

/// A tenant's stored configuration: the plain part and the sealed secrets.
#[derive(Debug, Clone)]
pub struct StoredConfig {
    /// Everything but secrets.
    pub config: CsConfig,
    /// `v1:` + base64 of the AES-GCM sealed Twilio auth token.
    pub auth_token_enc: Option<String>,
    /// Same for the Zapier callback secret.
    pub callback_secret_enc: Option<String>,
}

/// The tenant's configuration; `None` when it never saved one.
pub async fn config(db: &Db, tenant: &str) -> AppResult<Option<StoredConfig>> {
    #[derive(Deserialize)]
    struct Row {
        config: String,
        twilio_auth_token_enc: Option<String>,
        zapier_callback_secret_enc: Option<String>,
    }
    let r: Option<Row> = db
        .first(
            "SELECT config, twilio_auth_token_enc, zapier_callback_secret_enc FROM cs_configs WHERE tenant_id = ?",
            params![tenant],
        )
        .await?;
    r.map(|r| {
        Ok(StoredConfig {
            config: serde_json::from_str(&r.config)?,
            auth_token_enc: r.twilio_auth_token_enc,
            callback_secret_enc: r.zapier_callback_secret_enc,
        })
    })
    .transpose()
}

/// The tenant that owns a Twilio number (E.164).
pub async fn tenant_of_number(db: &Db, number: &str) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct R {
        tenant_id: String,
    }
    let r: Option<R> = db
        .first(
            "SELECT tenant_id FROM cs_phone_numbers WHERE phone_number = ?",
            params![number],
        )
        .await?;
    Ok(r.map(|r| r.tenant_id))
}

/// Numbers of `numbers` that another tenant already uses.
pub async fn numbers_taken(db: &Db, tenant: &str, numbers: &[String]) -> AppResult<Vec<String>> {
    let mut taken = Vec::new();
    for n in numbers {
        if let Some(owner) = tenant_of_number(db, n).await? {
            if owner != tenant {
                taken.push(n.clone());
            }
        }
    }
    Ok(taken)
}

/// Saves the configuration, its sealed secrets and its numbers in one batch.
pub async fn save_config(db: &Db, tenant: &str, s: &StoredConfig, now: &str) -> AppResult<()> {
    let mut stmts = vec![
        db.stmt(
            "INSERT INTO cs_configs (tenant_id, config, twilio_auth_token_enc, zapier_callback_secret_enc, updated_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id) DO UPDATE SET config = excluded.config,
               twilio_auth_token_enc = excluded.twilio_auth_token_enc,
               zapier_callback_secret_enc = excluded.zapier_callback_secret_enc, updated_at = excluded.updated_at",
            params![tenant, serde_json::to_string(&s.config)?, s.auth_token_enc.clone(), s.callback_secret_enc.clone(), now],
        )?,
        db.stmt(
            "DELETE FROM cs_phone_numbers WHERE tenant_id = ?",
            params![tenant],
        )?,
    ];
    for n in &s.config.phone_numbers {
        stmts.push(db.stmt(
            "INSERT INTO cs_phone_numbers (phone_number, tenant_id) VALUES (?, ?)",
            params![n, tenant],
        )?);
    }
    db.batch(stmts).await
}

/// The TwiML already given for this webhook, if it was answered before.
pub async fn answered(db: &Db, key: &str) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct R {
        twiml: String,
    }
    let r: Option<R> = db
        .first(
            "SELECT twiml FROM cs_webhooks WHERE idempotency_key = ?",
            params![key],
        )
        .await?;
    Ok(r.map(|r| r.twiml))
}

/// Statement remembering a webhook's answer. `INSERT OR IGNORE`: of two concurrent deliveries, the first wins.
pub fn remember(
    db: &Db,
    key: &str,
    tenant: &str,
    twiml: &str,
    now_ms: i64,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT OR IGNORE INTO cs_webhooks (idempotency_key, tenant_id, twiml, at_ms) VALUES (?, ?, ?, ?)",
        params![key, tenant, twiml, now_ms],
    )
}

/// How long a claimed but unanswered webhook stays claimed, in ms; after that (the first delivery failed), a
/// retry may claim it again.
pub const CLAIM_LEASE_MS: i64 = 20_000;

/// Claims a webhook key before doing its work; false when another delivery of it got there first (answered,
/// or claimed less than [`CLAIM_LEASE_MS`] ago).
pub async fn claim_webhook(db: &Db, key: &str, tenant: &str, now_ms: i64) -> AppResult<bool> {
    let fresh = db
        .run(
            "INSERT OR IGNORE INTO cs_webhooks (idempotency_key, tenant_id, twiml, at_ms) VALUES (?, ?, '', ?)",
            params![key, tenant, now_ms],
        )
        .await?
        == 1;
    if fresh {
        return Ok(true);
    }
    Ok(db
        .run(
            "UPDATE cs_webhooks SET at_ms = ? WHERE idempotency_key = ? AND twiml = '' AND at_ms < ?",
            params![now_ms, key, now_ms - CLAIM_LEASE_MS],
        )
        .await?
        == 1)
}

/// Statement storing the answer of a claimed webhook.
pub fn answer_webhook(db: &Db, key: &str, twiml: &str) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE cs_webhooks SET twiml = ? WHERE idempotency_key = ?",
        params![twiml, key],
    )
}

/// Statement recording an opt-out (`STOP`).
pub fn opt_out(db: &Db, tenant: &str, phone: &str, now_ms: i64) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT OR REPLACE INTO cs_opt_outs (tenant_id, phone_number, at_ms) VALUES (?, ?, ?)",
        params![tenant, phone, now_ms],
    )
}

/// Statement removing an opt-out (`START`).
pub fn opt_in(db: &Db, tenant: &str, phone: &str) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "DELETE FROM cs_opt_outs WHERE tenant_id = ? AND phone_number = ?",
        params![tenant, phone],
    )
}

/// Whether the number opted out of this tenant's messages.
pub async fn opted_out(db: &Db, tenant: &str, phone: &str) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM cs_opt_outs WHERE tenant_id = ? AND phone_number = ?",
            params![tenant, phone],
        )
        .await?;
    Ok(r.is_some())
}

/// A conversation: one caller on one channel, backed by a ticket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    /// Id (UUID).
    pub id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// `sms` or `voice`.
    pub channel: String,
    /// The caller, E.164.
    pub phone_number: String,
    /// Our number they called or texted, E.164.
    pub our_number: String,
    /// The ticket holding the thread.
    pub ticket_id: String,
    /// Voice: the call.
    pub call_sid: Option<String>,
    /// `new`, `lookup`, `ready`, `lead_name`, `lead_email`, `done`.
    pub state: String,
    /// Lead capture: the name given.
    pub lead_name: Option<String>,
    /// A question asked while the lookup ran, answered once it completes.
    pub pending_question: Option<String>,
    /// Voice: an answer waiting to be spoken.
    pub answer: Option<String>,
    /// Voice: redirects spent waiting for the current answer.
    pub polls: i64,
    /// Voice: the question number of the call (it is in the redirect URL, so each turn's polls differ).
    pub answer_turn: i64,
}

const CONVERSATION_COLUMNS: &str =
    "id, tenant_id, channel, phone_number, our_number, ticket_id, call_sid, state, \
    lead_name, pending_question, answer, polls, answer_turn";

/// How long an SMS conversation stays open after its last message, in ms (then a new text opens a new one).
pub const SMS_CONVERSATION_IDLE_MS: i64 = 24 * 3600 * 1000;

/// The caller's open SMS conversation with this tenant (active within [`SMS_CONVERSATION_IDLE_MS`]).
pub async fn open_sms_conversation(
    db: &Db,
    tenant: &str,
    phone: &str,
    our_number: &str,
    now_ms: i64,
) -> AppResult<Option<Conversation>> {
    db.first(
        &format!(
            "SELECT {CONVERSATION_COLUMNS} FROM cs_conversations
             WHERE tenant_id = ? AND phone_number = ? AND our_number = ? AND channel = 'sms' AND state != 'done'
               AND updated_at_ms > ?
             ORDER BY updated_at_ms DESC LIMIT 1"
        ),
        params![tenant, phone, our_number, now_ms - SMS_CONVERSATION_IDLE_MS],
    )
    .await
}

/// Adds a question to the one waiting for a running lookup; false when the lookup finished meanwhile (the
/// conversation is no longer in `lookup`), so the caller answers it directly.
pub async fn append_pending_question(
    db: &Db,
    id: &str,
    text: &str,
    now_ms: i64,
) -> AppResult<bool> {
    Ok(db
        .run(
            "UPDATE cs_conversations SET pending_question = trim(coalesce(pending_question || char(10), '') || ?),
               updated_at_ms = ? WHERE id = ? AND state = 'lookup'",
            params![text, now_ms, id],
        )
        .await?
        == 1)
}

/// Ends a conversation's lookup: sets `state` and hands back the question that waited, with a compare-and-set on
/// the question, so a text arriving at the same moment is either in it or sees the new state (and is answered
/// by its own webhook). `None` when the conversation was not in `lookup`.
pub async fn take_pending_question(
    db: &Db,
    id: &str,
    state: &str,
    now_ms: i64,
) -> AppResult<Option<Option<String>>> {
    #[derive(Deserialize)]
    struct Q {
        state: String,
        pending_question: Option<String>,
    }
    for _ in 0..5 {
        let Some(cur) = db
            .first::<Q>(
                "SELECT state, pending_question FROM cs_conversations WHERE id = ?",
                params![id],
            )
            .await?
        else {
            return Ok(None);
        };
        if cur.state != "lookup" {
            return Ok(None);
        }
        let took = db
            .run(
                "UPDATE cs_conversations SET state = ?, pending_question = NULL, updated_at_ms = ?
                 WHERE id = ? AND state = 'lookup' AND pending_question IS ?",
                params![state, now_ms, id, cur.pending_question.clone()],
            )
            .await?
            == 1;
        if took {
            return Ok(Some(cur.pending_question));
        }
    }
    Err(AppError::Conflict(format!(
        "conversation {id} kept changing"
    )))
}

/// Statement starting a new question of a call: no answer yet, no polls, the turn number.
pub fn start_turn(db: &Db, id: &str, turn: i64, now_ms: i64) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE cs_conversations SET answer = NULL, polls = 0, answer_turn = ?, updated_at_ms = ? WHERE id = ?",
        params![turn, now_ms, id],
    )
}

/// Touches a conversation (an agent replied in it), so the customer's answer joins it.
pub fn touch_conversation(db: &Db, id: &str, now_ms: i64) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE cs_conversations SET updated_at_ms = ? WHERE id = ?",
        params![now_ms, id],
    )
}

/// Whether the number already left its name and e-mail (a lead ticket, or any ticket with an e-mail).
pub async fn known_contact(db: &Db, tenant: &str, phone: &str) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM tickets WHERE tenant_id = ? AND customer_phone = ? AND customer_email IS NOT NULL LIMIT 1",
            params![tenant, phone],
        )
        .await?;
    Ok(r.is_some())
}

/// Pending Zapier requests of a conversation.
pub async fn pending_for_conversation(
    db: &Db,
    conversation_id: &str,
) -> AppResult<Vec<ZapierRequest>> {
    db.all(
        &format!(
            "SELECT {ZAPIER_COLUMNS} FROM zapier_requests WHERE conversation_id = ? AND status = 'pending'"
        ),
        params![conversation_id],
    )
    .await
}

/// A conversation by id.
pub async fn conversation(db: &Db, id: &str) -> AppResult<Option<Conversation>> {
    db.first(
        &format!("SELECT {CONVERSATION_COLUMNS} FROM cs_conversations WHERE id = ?"),
        params![id],
    )
    .await
}

/// The newest conversation of a ticket.
pub async fn ticket_conversation(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
) -> AppResult<Option<Conversation>> {
    db.first(
        &format!(
            "SELECT {CONVERSATION_COLUMNS} FROM cs_conversations WHERE tenant_id = ? AND ticket_id = ?
             ORDER BY updated_at_ms DESC LIMIT 1"
        ),
        params![tenant, ticket_id],
    )
    .await
}

/// The conversation of a call of the tenant.
pub async fn call_conversation(
    db: &Db,
    tenant: &str,
    call_sid: &str,
) -> AppResult<Option<Conversation>> {
    db.first(
        &format!(
            "SELECT {CONVERSATION_COLUMNS} FROM cs_conversations WHERE call_sid = ? AND tenant_id = ?"
        ),
        params![call_sid, tenant],
    )
    .await
}

/// Statement creating a conversation.
pub fn insert_conversation(
    db: &Db,
    c: &Conversation,
    now_ms: i64,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO cs_conversations (id, tenant_id, channel, phone_number, our_number, ticket_id, call_sid, state,
           created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![&c.id, &c.tenant_id, &c.channel, &c.phone_number, &c.our_number, &c.ticket_id, c.call_sid.clone(),
            &c.state, now_ms, now_ms],
    )
}

/// Statement saving a conversation's state fields.
pub fn update_conversation(
    db: &Db,
    c: &Conversation,
    now_ms: i64,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE cs_conversations SET state = ?, lead_name = ?, pending_question = ?, answer = ?, polls = ?,
           answer_turn = ?, updated_at_ms = ? WHERE id = ?",
        params![&c.state, c.lead_name.clone(), c.pending_question.clone(), c.answer.clone(), c.polls, c.answer_turn,
            now_ms, &c.id],
    )
}

/// A message of a phone conversation for its ticket thread.
pub struct PhoneMessage<'a> {
    /// Message id (UUID).
    pub id: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// The ticket.
    pub ticket_id: &'a str,
    /// `customer` (inbound), `agent` (a staff reply) or `system` (automated answers and notices).
    pub sender_type: &'a str,
    /// Staff id of an agent reply.
    pub sender_id: Option<&'a str>,
    /// Display name.
    pub sender_name: &'a str,
    /// The caller's or our number.
    pub sender_phone: &'a str,
    /// Text (speech transcribed for calls).
    pub content: &'a str,
    /// Twilio Message SID, when it went or came by SMS.
    pub twilio_sid: Option<&'a str>,
    /// RFC 3339 UTC.
    pub now: &'a str,
}

/// Statements adding a message to the conversation's ticket (and touching it; a customer message reopens it).
pub fn insert_message(db: &Db, m: &PhoneMessage<'_>) -> AppResult<Vec<D1PreparedStatement>> {
    let reopen = m.sender_type == "customer";
    Ok(vec![
        db.stmt(
            "INSERT OR IGNORE INTO ticket_messages (id, tenant_id, ticket_id, sender_type, sender_id, sender_name,
               sender_email, content, twilio_sid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![m.id, m.tenant, m.ticket_id, m.sender_type, m.sender_id, m.sender_name, m.sender_phone,
                m.content, m.twilio_sid, m.now],
        )?,
        db.stmt(
            "UPDATE tickets SET updated_at = ?, status = CASE WHEN ? THEN 'open' ELSE status END
             WHERE ticket_id = ? AND tenant_id = ?",
            params![m.now, reopen, m.ticket_id, m.tenant],
        )?,
    ])
}

/// Statement setting a phone ticket's caller number (and name when known).
pub fn set_ticket_caller(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    phone: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE tickets SET customer_phone = ?, customer_name = coalesce(?, customer_name),
           customer_email = coalesce(?, customer_email) WHERE ticket_id = ? AND tenant_id = ?",
        params![phone, name, email, ticket_id, tenant],
    )
}

/// A cached CRM customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedCustomer {
    /// Whether the CRM knows the number.
    #[serde(deserialize_with = "int_bool")]
    pub found: bool,
    /// The CRM's id (`jackrabbit_id`).
    pub crm_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// `customer_data` as JSON text.
    pub data: Option<String>,
}

fn int_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(d)? != 0)
}

/// The cached customer of a number, if still valid at `now_ms`.
pub async fn cached_customer(
    db: &Db,
    tenant: &str,
    phone: &str,
    now_ms: i64,
) -> AppResult<Option<CachedCustomer>> {
    db.first(
        "SELECT found, crm_id, name, email, data FROM cs_customers
         WHERE tenant_id = ? AND phone_number = ? AND expires_at_ms > ?",
        params![tenant, phone, now_ms],
    )
    .await
}

/// Statement caching a customer until `expires_at_ms`.
pub fn cache_customer(
    db: &Db,
    tenant: &str,
    phone: &str,
    c: &CachedCustomer,
    now_ms: i64,
    expires_at_ms: i64,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT OR REPLACE INTO cs_customers (tenant_id, phone_number, found, crm_id, name, email, data, fetched_at_ms,
           expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![tenant, phone, c.found, c.crm_id.clone(), c.name.clone(), c.email.clone(), c.data.clone(), now_ms,
            expires_at_ms],
    )
}

/// Forgets a cached customer; whether one was cached.
pub async fn forget_customer(db: &Db, tenant: &str, phone: &str) -> AppResult<bool> {
    Ok(db
        .run(
            "DELETE FROM cs_customers WHERE tenant_id = ? AND phone_number = ?",
            params![tenant, phone],
        )
        .await?
        > 0)
}

/// Statement logging a lookup decision (cache hit or miss).
pub fn log_lookup(db: &Db, tenant: &str, hit: bool, now_ms: i64) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO cs_lookups (tenant_id, at_ms, cache_hit) VALUES (?, ?, ?)",
        params![tenant, now_ms, hit],
    )
}

/// A Zapier request.
#[derive(Debug, Clone, Deserialize)]
pub struct ZapierRequest {
    /// Correlation id (UUID).
    pub correlation_id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// `customer_lookup` or `customer_query`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The caller, E.164.
    pub phone_number: String,
    /// The conversation to continue.
    pub conversation_id: Option<String>,
    /// A query's question.
    pub question: Option<String>,
    /// `pending`, `completed`, `failed`, `timeout`.
    pub status: String,
    /// Unix ms.
    pub created_at_ms: i64,
}

const ZAPIER_COLUMNS: &str =
    "correlation_id, tenant_id, type, phone_number, conversation_id, question, status, created_at_ms";

/// Statement recording a new pending request.
#[allow(clippy::too_many_arguments)]
pub fn insert_request(
    db: &Db,
    correlation_id: &str,
    tenant: &str,
    kind: &str,
    phone: &str,
    conversation_id: &str,
    question: Option<&str>,
    now_ms: i64,
    timeout_at_ms: i64,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO zapier_requests (correlation_id, tenant_id, type, phone_number, conversation_id, question,
           created_at_ms, timeout_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![correlation_id, tenant, kind, phone, conversation_id, question, now_ms, timeout_at_ms],
    )
}

/// A request by correlation id.
pub async fn request(db: &Db, correlation_id: &str) -> AppResult<Option<ZapierRequest>> {
    db.first(
        &format!("SELECT {ZAPIER_COLUMNS} FROM zapier_requests WHERE correlation_id = ?"),
        params![correlation_id],
    )
    .await
}

/// Finishes a pending request (`completed`, `failed` or `timeout`); false when it was no longer pending (a
/// repeated callback, or the sweep got there first).
pub async fn finish_request(
    db: &Db,
    correlation_id: &str,
    status: &str,
    response: Option<&str>,
    error: Option<&str>,
    now_ms: i64,
) -> AppResult<bool> {
    Ok(db
        .run(
            "UPDATE zapier_requests SET status = ?, response = ?, error = ?, finished_at_ms = ?,
               latency_ms = ? - created_at_ms WHERE correlation_id = ? AND status = 'pending'",
            params![status, response, error, now_ms, now_ms, correlation_id],
        )
        .await?
        == 1)
}

/// Pending requests whose timeout has passed (at most `limit`).
pub async fn overdue(db: &Db, now_ms: i64, limit: usize) -> AppResult<Vec<ZapierRequest>> {
    db.all(
        &format!(
            "SELECT {ZAPIER_COLUMNS} FROM zapier_requests WHERE status = 'pending' AND timeout_at_ms <= ?
             ORDER BY timeout_at_ms LIMIT ?"
        ),
        params![now_ms, limit as i64],
    )
    .await
}

/// Lookup figures of a tenant since `since_ms`.
#[derive(Debug, Serialize)]
pub struct LookupStats {
    /// Requests by status.
    pub by_status: serde_json::Value,
    /// Latencies (ms) of completed lookups, unsorted.
    #[serde(skip)]
    pub latencies: Vec<f64>,
    /// Lookup decisions served from the cache.
    pub cache_hits: i64,
    /// Lookup decisions that needed Zapier.
    pub cache_misses: i64,
}

/// The raw figures of `GET /api/v1/admin/customer-service/lookup-stats`.
pub async fn lookup_stats(db: &Db, tenant: &str, since_ms: i64) -> AppResult<LookupStats> {
    #[derive(Deserialize)]
    struct S {
        status: String,
        n: i64,
    }
    #[derive(Deserialize)]
    struct L {
        latency_ms: i64,
    }
    #[derive(Deserialize)]
    struct H {
        hits: Option<i64>,
        total: i64,
    }
    let statuses: Vec<S> = db
        .all(
            "SELECT status, count(*) AS n FROM zapier_requests WHERE tenant_id = ? AND created_at_ms >= ?
             AND type = 'customer_lookup' GROUP BY status",
            params![tenant, since_ms],
        )
        .await?;
    let lat: Vec<L> = db
        .all(
            "SELECT latency_ms FROM zapier_requests WHERE tenant_id = ? AND created_at_ms >= ?
             AND type = 'customer_lookup' AND status = 'completed' AND latency_ms IS NOT NULL",
            params![tenant, since_ms],
        )
        .await?;
    let h: Option<H> = db
        .first(
            "SELECT sum(cache_hit) AS hits, count(*) AS total FROM cs_lookups WHERE tenant_id = ? AND at_ms >= ?",
            params![tenant, since_ms],
        )
        .await?;
    let mut by_status =
        serde_json::json!({"pending": 0, "completed": 0, "failed": 0, "timeout": 0});
    for s in statuses {
        by_status[s.status.as_str()] = s.n.into();
    }
    let (hits, total) = h.map_or((0, 0), |h| (h.hits.unwrap_or(0), h.total));
    Ok(LookupStats {
        by_status,
        latencies: lat.into_iter().map(|l| l.latency_ms as f64).collect(),
        cache_hits: hits,
        cache_misses: total - hits,
    })
}

/// 409 naming taken numbers.
pub fn numbers_conflict(taken: &[String]) -> AppError {
    AppError::Conflict(format!(
        "phone_numbers: {} already belong to another tenant",
        taken.join(", ")
    ))
}
