//! The customer registry: customers, their identities, and the links from tickets.

use super::{placeholders, Db, Val};
use crate::domain::customers::Identity;
use crate::error::{AppError, AppResult};
use crate::params;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

/// A customer as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Customer {
    /// Id.
    pub id: String,
    /// Display name (name, else first + last; `null` when unknown — never a placeholder).
    pub name: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Profile picture URL.
    pub profile_pic_url: Option<String>,
    /// Blocked: messages are recorded, nothing is sent or drafted.
    #[serde(deserialize_with = "int_bool")]
    pub blocked: bool,
    /// Staff notes.
    pub notes: Option<String>,
    /// Last message from or to them (RFC 3339).
    pub last_interaction_at: Option<String>,
    /// Meta profile: `none`, `pending` (to fetch or retry), `fetched`, `failed`.
    pub profile_status: String,
    /// Set when erased (GDPR).
    pub erased_at: Option<String>,
    /// Identities, `[{kind, scope, value}]` (filled by [`with_identities`]).
    #[serde(default)]
    pub identities: Vec<Identity>,
    /// Number of tickets.
    #[serde(default)]
    pub ticket_count: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

fn int_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(d)? != 0)
}

const COLUMNS: &str = "c.id, coalesce(c.name, nullif(trim(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')), '')) AS name, \
    c.first_name, c.last_name, c.profile_pic_url, c.blocked, c.notes, c.last_interaction_at, c.profile_status, c.erased_at, \
    (SELECT count(*) FROM tickets t WHERE t.tenant_id = c.tenant_id AND t.customer_id = c.id) AS ticket_count, \
    c.created_at, c.updated_at";

/// Fills in the identities of customers (one query).
pub async fn with_identities(
    db: &Db,
    tenant: &str,
    mut list: Vec<Customer>,
) -> AppResult<Vec<Customer>> {
    if list.is_empty() {
        return Ok(list);
    }
    #[derive(Deserialize)]
    struct Row {
        customer_id: String,
        #[serde(flatten)]
        identity: Identity,
    }
    let ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
    for chunk in super::chunks(&ids, 1) {
        let mut p: Vec<Val> = params![tenant];
        p.extend(chunk.iter().map(Val::from));
        let rows: Vec<Row> = db
            .all(
                &format!(
                    "SELECT customer_id, kind, scope, value FROM customer_identities WHERE tenant_id = ?
                     AND customer_id IN ({}) ORDER BY kind, value",
                    placeholders(chunk.len())
                ),
                p,
            )
            .await?;
        for r in rows {
            if let Some(c) = list.iter_mut().find(|c| c.id == r.customer_id) {
                c.identities.push(r.identity);
            }
        }
    }
    Ok(list)
}

/// A customer of the tenant with identities.
pub async fn get(db: &Db, tenant: &str, id: &str) -> AppResult<Option<Customer>> {
    let c: Option<Customer> = db
        .first(
            &format!("SELECT {COLUMNS} FROM customers c WHERE c.tenant_id = ? AND c.id = ?"),
            params![tenant, id],
        )
        .await?;
    Ok(match c {
        Some(c) => with_identities(db, tenant, vec![c]).await?.pop(),
        None => None,
    })
}

/// The customer holding an identity.
pub async fn by_identity(db: &Db, tenant: &str, i: &Identity) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct R {
        customer_id: String,
    }
    let r: Option<R> = db
        .first(
            "SELECT customer_id FROM customer_identities WHERE tenant_id = ? AND kind = ? AND scope = ? AND value = ?",
            params![tenant, i.kind.as_str(), &i.scope, &i.value],
        )
        .await?;
    Ok(r.map(|r| r.customer_id))
}

/// The customer of a PSID or IGSID (any page).
pub async fn by_meta_id(db: &Db, tenant: &str, id: &str) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct R {
        customer_id: String,
    }
    let r: Option<R> = db
        .first(
            "SELECT customer_id FROM customer_identities WHERE tenant_id = ? AND kind IN ('psid', 'igsid') AND value = ?
             LIMIT 1",
            params![tenant, id],
        )
        .await?;
    Ok(r.map(|r| r.customer_id))
}

/// 409 when one of the identities belongs to another customer of the tenant.
pub async fn check_identities_free(
    db: &Db,
    tenant: &str,
    ids: &[Identity],
    except: Option<&str>,
) -> AppResult<()> {
    for i in ids {
        if let Some(owner) = by_identity(db, tenant, i).await? {
            if Some(owner.as_str()) != except {
                return Err(AppError::Conflict(format!(
                    "{} {} already belongs to customer {owner}",
                    i.kind.as_str(),
                    i.value
                )));
            }
        }
    }
    Ok(())
}

/// The fields a customer row is written with.
pub struct Fields<'a> {
    /// Display name.
    pub name: Option<&'a str>,
    /// Given name.
    pub first_name: Option<&'a str>,
    /// Family name.
    pub last_name: Option<&'a str>,
    /// Picture.
    pub profile_pic_url: Option<&'a str>,
    /// Notes.
    pub notes: Option<&'a str>,
}

/// Statements creating a customer with identities.
pub fn insert(
    db: &Db,
    tenant: &str,
    id: &str,
    f: &Fields<'_>,
    ids: &[Identity],
    now: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    let mut out = vec![db.stmt(
        "INSERT INTO customers (id, tenant_id, name, first_name, last_name, profile_pic_url, notes, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![id, tenant, f.name, f.first_name, f.last_name, f.profile_pic_url, f.notes, now, now],
    )?];
    out.extend(add_identities(db, tenant, id, ids, now)?);
    Ok(out)
}

/// Statements adding identities (existing ones of this customer are kept).
pub fn add_identities(
    db: &Db,
    tenant: &str,
    customer: &str,
    ids: &[Identity],
    now: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    ids.iter()
        .map(|i| {
            db.stmt(
                "INSERT OR IGNORE INTO customer_identities (tenant_id, customer_id, kind, scope, value, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![tenant, customer, i.kind.as_str(), &i.scope, &i.value, now],
            )
        })
        .collect()
}

/// Statement replacing a customer's fields (`None` keeps a field).
pub fn update(
    db: &Db,
    tenant: &str,
    id: &str,
    f: &Fields<'_>,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE customers SET name = coalesce(?, name), first_name = coalesce(?, first_name),
           last_name = coalesce(?, last_name), profile_pic_url = coalesce(?, profile_pic_url), notes = coalesce(?, notes),
           updated_at = ? WHERE tenant_id = ? AND id = ?",
        params![f.name, f.first_name, f.last_name, f.profile_pic_url, f.notes, now, tenant, id],
    )
}

/// Statement removing the customer's identities that are not in `keep`.
pub fn retain_identities(
    db: &Db,
    tenant: &str,
    id: &str,
    keep: &[Identity],
) -> AppResult<D1PreparedStatement> {
    let keys: Vec<String> = keep
        .iter()
        .map(|i| format!("{}|{}|{}", i.kind.as_str(), i.scope, i.value))
        .collect();
    let mut p: Vec<Val> = params![tenant, id];
    let cond = if keys.is_empty() {
        String::new()
    } else {
        p.extend(keys.iter().map(Val::from));
        format!(
            " AND kind || '|' || scope || '|' || value NOT IN ({})",
            placeholders(keys.len())
        )
    };
    db.stmt(
        &format!("DELETE FROM customer_identities WHERE tenant_id = ? AND customer_id = ?{cond}"),
        p,
    )
}

/// List filters.
pub struct Filter {
    /// Search: name, e-mail, phone or Meta id (substring, ASCII case-insensitive).
    pub q: Option<String>,
    /// `facebook` (has a PSID), `instagram` (has an IGSID), `email`, `phone`.
    pub platform: Option<&'static str>,
    /// Only blocked (`true`) or only not blocked (`false`).
    pub blocked: Option<bool>,
    /// After `(created_at, id)`, newest first.
    pub after: Option<(String, String)>,
    /// Page size (one more is read).
    pub limit: usize,
}

/// Customers of the tenant, newest first.
pub async fn list(db: &Db, tenant: &str, f: &Filter) -> AppResult<Vec<Customer>> {
    let mut sql = format!("SELECT {COLUMNS} FROM customers c WHERE c.tenant_id = ?");
    let mut p: Vec<Val> = params![tenant];
    if let Some(q) = &f.q {
        sql.push_str(
            " AND (instr(lower(coalesce(c.name, '') || ' ' || coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')), lower(?)) > 0
               OR EXISTS (SELECT 1 FROM customer_identities i WHERE i.tenant_id = c.tenant_id AND i.customer_id = c.id
                          AND instr(lower(i.value), lower(?)) > 0))",
        );
        p.extend(params![q, q]);
    }
    if let Some(kind) = f.platform {
        sql.push_str(" AND EXISTS (SELECT 1 FROM customer_identities i WHERE i.tenant_id = c.tenant_id AND i.customer_id = c.id AND i.kind = ?)");
        p.push(kind.into());
    }
    if let Some(b) = f.blocked {
        sql.push_str(" AND c.blocked = ?");
        p.push(b.into());
    }
    if let Some((at, id)) = &f.after {
        sql.push_str(" AND (c.created_at < ? OR (c.created_at = ? AND c.id < ?))");
        p.extend(params![at, at, id]);
    }
    sql.push_str(" ORDER BY c.created_at DESC, c.id DESC LIMIT ?");
    p.push(Val::Int(f.limit as i64 + 1));
    let rows = db.all(&sql, p).await?;
    with_identities(db, tenant, rows).await
}

/// Statement setting the blocked flag.
pub fn set_blocked(
    db: &Db,
    tenant: &str,
    id: &str,
    blocked: bool,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE customers SET blocked = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
        params![blocked, now, tenant, id],
    )
}

/// Statement recording an interaction time (never moving it back).
pub fn touch(db: &Db, tenant: &str, id: &str, at: &str) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE customers SET last_interaction_at = max(coalesce(last_interaction_at, ''), ?), updated_at = ?
         WHERE tenant_id = ? AND id = ?",
        params![at, at, tenant, id],
    )
}

/// Statements moving `other`'s identities and tickets to `keep` and deleting `other`; fields `keep` lacks are
/// taken from `other`.
pub fn merge(
    db: &Db,
    tenant: &str,
    keep: &str,
    other: &str,
    now: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        db.stmt(
            "UPDATE customers SET
               name = coalesce(name, (SELECT o.name FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3)),
               first_name = coalesce(first_name, (SELECT o.first_name FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3)),
               last_name = coalesce(last_name, (SELECT o.last_name FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3)),
               profile_pic_url = coalesce(profile_pic_url, (SELECT o.profile_pic_url FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3)),
               blocked = max(blocked, (SELECT o.blocked FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3)),
               notes = CASE
                 WHEN (SELECT o.notes FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3) IS NULL THEN notes
                 WHEN notes IS NULL THEN (SELECT o.notes FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3)
                 ELSE notes || char(10) || (SELECT o.notes FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3) END,
               last_interaction_at = max(coalesce(last_interaction_at, ''),
                 coalesce((SELECT o.last_interaction_at FROM customers o WHERE o.id = ?2 AND o.tenant_id = ?3), '')),
               updated_at = ?4
             WHERE id = ?1 AND tenant_id = ?3",
            params![keep, other, tenant, now],
        )?,
        db.stmt(
            "UPDATE OR IGNORE customer_identities SET customer_id = ? WHERE customer_id = ? AND tenant_id = ?",
            params![keep, other, tenant],
        )?,
        db.stmt(
            "UPDATE tickets SET customer_id = ? WHERE customer_id = ? AND tenant_id = ?",
            params![keep, other, tenant],
        )?,
        db.stmt(
            "DELETE FROM customers WHERE id = ? AND tenant_id = ?",
            params![other, tenant],
        )?,
    ])
}

/// Statements erasing a customer (GDPR): personal fields and identities go; their tickets keep numbers, status,
/// priority, category, channel, assignee, tags, timestamps and metrics but lose names, addresses, numbers, subjects,
/// every message body (customer, staff and automated lines quote the customer), e-mail headers and content, AI
/// drafts, the search index, and the phone/SMS records (cache, conversations, Zapier requests) of their numbers.
/// Kept on purpose: the opt-out list (a STOP must keep working) and staff names on staff messages.
pub fn erase(db: &Db, tenant: &str, id: &str, now: &str) -> AppResult<Vec<D1PreparedStatement>> {
    const ERASED: &str = "[erased at the customer's request]";
    const TICKETS: &str =
        "(SELECT ticket_id FROM tickets WHERE tenant_id = ?2 AND customer_id = ?3)";
    const PHONES: &str =
        "(SELECT value FROM customer_identities WHERE tenant_id = ?2 AND customer_id = ?3 AND kind = 'phone')";
    // Every statement binds the same four values (?1 the erased text, ?2 tenant, ?3 customer, ?4 now); `?n = ?n`
    // marks the ones a statement does not otherwise use, as D1 refuses bindings a statement never reads.
    let q = |sql: String| db.stmt(&sql, params![ERASED, tenant, id, now]);
    Ok(vec![
        // Phone/SMS records first: they are found through the identities and tickets erased below.
        q(format!("DELETE FROM cs_customers WHERE tenant_id = ?2 AND phone_number IN {PHONES} AND ?1 = ?1 AND ?4 = ?4"))?,
        q(format!(
            "UPDATE zapier_requests SET phone_number = 'erased', question = NULL, response = NULL
             WHERE tenant_id = ?2 AND conversation_id IN (SELECT id FROM cs_conversations WHERE tenant_id = ?2
               AND ticket_id IN {TICKETS}) AND ?1 = ?1 AND ?4 = ?4"
        ))?,
        q(format!(
            "UPDATE cs_conversations SET phone_number = 'erased', lead_name = NULL, pending_question = NULL,
               answer = NULL, state = 'done' WHERE tenant_id = ?2 AND ticket_id IN {TICKETS} AND ?1 = ?1 AND ?4 = ?4"
        ))?,
        q(format!(
            "UPDATE ticket_messages SET content = ?1,
               sender_name = CASE WHEN sender_type = 'agent' THEN sender_name ELSE NULL END, sender_email = NULL
             WHERE tenant_id = ?2 AND ticket_id IN {TICKETS} AND ?4 = ?4"
        ))?,
        q(format!(
            "UPDATE emails SET from_email = NULL, from_name = NULL, to_email = NULL, reply_to = NULL, subject = NULL,
               body_html = NULL, attachments = NULL, references_ids = NULL, rfc_message_id = NULL, in_reply_to = NULL,
               gmail_message_id = NULL, gmail_thread_id = NULL
             WHERE tenant_id = ?2 AND ticket_id IN {TICKETS} AND ?1 = ?1 AND ?4 = ?4"
        ))?,
        q(format!(
            "UPDATE drafts SET content = NULL, status = 'superseded', updated_at = ?4
             WHERE tenant_id = ?2 AND ticket_id IN {TICKETS} AND ?1 = ?1"
        ))?,
        q(format!("DELETE FROM search_fts WHERE tenant_id = ?2 AND ticket_id IN {TICKETS} AND ?1 = ?1 AND ?4 = ?4"))?,
        q(
            "UPDATE tickets SET customer_name = NULL, customer_email = NULL, customer_phone = NULL, description = NULL,
               subject = 'Erased customer', updated_at = ?4 WHERE tenant_id = ?2 AND customer_id = ?3 AND ?1 = ?1"
                .into(),
        )?,
        q("DELETE FROM customer_identities WHERE tenant_id = ?2 AND customer_id = ?3 AND ?1 = ?1 AND ?4 = ?4".into())?,
        q(
            "UPDATE customers SET name = NULL, first_name = NULL, last_name = NULL, profile_pic_url = NULL, notes = NULL,
               erased_at = ?4, updated_at = ?4 WHERE tenant_id = ?2 AND id = ?3 AND ?1 = ?1"
                .into(),
        )?,
    ])
}

/// Statements creating a customer for an identity only while nobody holds it (safe against concurrent
/// deliveries: in one batch, either both rows are written or neither).
pub fn create_for_identity(
    db: &Db,
    tenant: &str,
    id: &str,
    i: &Identity,
    now: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        db.stmt(
            "INSERT INTO customers (id, tenant_id, created_at, updated_at)
             SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM customer_identities
               WHERE tenant_id = ? AND kind = ? AND scope = ? AND value = ?)",
            params![id, tenant, now, now, tenant, i.kind.as_str(), &i.scope, &i.value],
        )?,
        db.stmt(
            "INSERT OR IGNORE INTO customer_identities (tenant_id, customer_id, kind, scope, value, created_at)
             SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM customers WHERE id = ? AND tenant_id = ?)",
            params![tenant, id, i.kind.as_str(), &i.scope, &i.value, now, id, tenant],
        )?,
    ])
}

/// Statements linking a new ticket to the customer of an identity, creating the customer when the identity is
/// new (three statements, safe in one batch: the customer insert only happens when nobody holds the identity).
pub fn link_ticket(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    i: &Identity,
    new_customer_id: &str,
    name: Option<&str>,
    at: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        db.stmt(
            "INSERT INTO customers (id, tenant_id, name, last_interaction_at, created_at, updated_at)
             SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM customer_identities
               WHERE tenant_id = ? AND kind = ? AND scope = ? AND value = ?)",
            params![new_customer_id, tenant, name, at, at, at, tenant, i.kind.as_str(), &i.scope, &i.value],
        )?,
        db.stmt(
            "INSERT OR IGNORE INTO customer_identities (tenant_id, customer_id, kind, scope, value, created_at)
             SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM customers WHERE id = ? AND tenant_id = ?)",
            params![tenant, new_customer_id, i.kind.as_str(), &i.scope, &i.value, at, new_customer_id, tenant],
        )?,
        db.stmt(
            "UPDATE tickets SET customer_id = (SELECT customer_id FROM customer_identities
               WHERE tenant_id = ? AND kind = ? AND scope = ? AND value = ?) WHERE ticket_id = ? AND tenant_id = ?",
            params![tenant, i.kind.as_str(), &i.scope, &i.value, ticket_id, tenant],
        )?,
    ])
}

/// Statement recording an interaction on a ticket's customer.
pub fn touch_by_ticket(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE customers SET last_interaction_at = max(coalesce(last_interaction_at, ''), ?), updated_at = ?
         WHERE tenant_id = ? AND id = (SELECT customer_id FROM tickets WHERE ticket_id = ? AND tenant_id = ?)",
        params![at, at, tenant, ticket_id, tenant],
    )
}

/// Whether the ticket's customer is blocked.
pub async fn ticket_customer_blocked(db: &Db, tenant: &str, ticket_id: &str) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM tickets t JOIN customers c ON c.id = t.customer_id
             WHERE t.ticket_id = ? AND t.tenant_id = ? AND c.blocked = 1",
            params![ticket_id, tenant],
        )
        .await?;
    Ok(r.is_some())
}

/// Whether the customer holding an identity is blocked.
pub async fn identity_blocked(db: &Db, tenant: &str, i: &Identity) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM customer_identities ci JOIN customers c ON c.id = ci.customer_id
             WHERE ci.tenant_id = ? AND ci.kind = ? AND ci.scope = ? AND ci.value = ? AND c.tenant_id = ci.tenant_id
               AND c.blocked = 1",
            params![tenant, i.kind.as_str(), &i.scope, &i.value],
        )
        .await?;
    Ok(r.is_some())
}

/// Statements adding what a phone conversation learned (a name, an e-mail) to the ticket's customer, so the
/// person's next e-mail finds the same customer.
pub fn learn_from_ticket(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    name: Option<&str>,
    email: Option<&str>,
    now: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    let mut out = vec![db.stmt(
        "UPDATE customers SET name = coalesce(name, ?), updated_at = ?
         WHERE tenant_id = ? AND id = (SELECT customer_id FROM tickets WHERE ticket_id = ? AND tenant_id = ?)",
        params![name, now, tenant, ticket_id, tenant],
    )?];
    if let Some(e) = email.and_then(|e| Identity::email(e).ok()) {
        out.push(db.stmt(
            "INSERT OR IGNORE INTO customer_identities (tenant_id, customer_id, kind, scope, value, created_at)
             SELECT ?, customer_id, 'email', '', ?, ? FROM tickets
             WHERE ticket_id = ? AND tenant_id = ? AND customer_id IS NOT NULL",
            params![tenant, &e.value, now, ticket_id, tenant],
        )?);
    }
    Ok(out)
}
