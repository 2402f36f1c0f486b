//! Instagram and Messenger DMs: recording inbound messages as tickets of their customers, fetching profiles
//! (at most once per [`PROFILE_TTL_MS`], retried after a failure), and agents' replies through the Send API.

use crate::config::Config;
use crate::domain::customers::Identity;
use crate::domain::meta::{inside_window, Inbound};
use crate::domain::ticket::{ticket_number, Channel};
use crate::domain::{time, triage};
use crate::error::{AppError, AppResult};
use crate::integrations::http::Http;
use crate::integrations::meta::Graph;
use crate::jobs::cs::open;
use crate::platform;
use crate::storage::meta::{self as store, MetaConfig};
use crate::storage::{customers, tickets, Db};

/// What recording a DM created or found.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The customer.
    pub customer_id: String,
    /// Their DM ticket.
    pub ticket_id: String,
    /// The new ticket message.
    pub message_id: String,
}

/// How long a fetched profile is trusted, in ms (then the next message fetches it again).
pub const PROFILE_TTL_MS: i64 = 24 * 3600 * 1000;

/// A tenant's Meta access.
pub struct Meta {
    /// The database.
    pub db: Db,
    /// Worker config (Graph base and version).
    pub cfg: Config,
    /// The tenant's config.
    pub conf: MetaConfig,
    /// The page access token, decrypted.
    pub token: Option<String>,
    /// The app secret, decrypted.
    pub app_secret: Option<String>,
    /// Outbound HTTP.
    pub http: Http,
}

impl Meta {
    /// Unseals the config's secrets.
    pub async fn new(db: Db, cfg: Config, conf: MetaConfig) -> AppResult<Meta> {
        let key = cfg.cs_encryption_key;
        let unseal = |v: Option<String>| async move {
            match (v, key) {
                (None, _) => Ok(None),
                (Some(s), Some(k)) => open(&k, &s).await.map(Some),
                (Some(_), None) => Err(AppError::Config(crate::config::ConfigError::Missing(
                    "CS_ENCRYPTION_KEY",
                ))),
            }
        };
        let token = unseal(conf.page_access_token_enc.clone()).await?;
        let app_secret = unseal(conf.app_secret_enc.clone()).await?;
        let http = Http::with_timeout(cfg.http_timeout_ms.min(8_000));
        Ok(Meta {
            db,
            cfg,
            conf,
            token,
            app_secret,
            http,
        })
    }

    fn graph(&self) -> AppResult<Graph<'_>> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| AppError::Conflict("the tenant has no page access token".into()))?;
        Ok(Graph {
            http: &self.http,
            base: &self.cfg.meta_graph_api_base,
            version: &self.cfg.meta_graph_api_version,
            token,
        })
    }

    /// Records one inbound DM: the customer (found or created by PSID/IGSID), their open DM ticket (or a new
    /// one), the message (once per `mid`). Returns what was recorded when the message was new.
    pub async fn record(&self, m: &Inbound) -> AppResult<Option<Recorded>> {
        let tenant = self.conf.tenant_id.as_str();
        if store::known_mid(&self.db, tenant, &m.mid).await? {
            return Ok(None);
        }
        let identity = Identity::meta(m.channel, &m.account_id, &m.sender)?;
        let now = time::rfc3339(platform::now());
        let at = if m.timestamp > 0 {
            time::rfc3339(time::from_millis(m.timestamp))
        } else {
            now.clone()
        };
        let customer_id = match customers::by_identity(&self.db, tenant, &identity).await? {
            Some(id) => id,
            None => {
                // Created only while nobody holds the identity (one transaction), so two deliveries at once make
                // one customer; then whoever holds it is read back.
                let id = platform::uuid()?;
                let mut stmts =
                    customers::create_for_identity(&self.db, tenant, &id, &identity, &now)?;
                stmts.push(self.db.stmt(
                    "UPDATE customers SET profile_status = 'pending' WHERE id = ? AND tenant_id = ?",
                    crate::params![&id, tenant],
                )?);
                self.db.batch(stmts).await?;
                customers::by_identity(&self.db, tenant, &identity)
                    .await?
                    .ok_or_else(|| {
                        AppError::Internal("the new customer's identity vanished".into())
                    })?
            }
        };
        let channel = m.channel;
        let ticket_id = match store::open_ticket(&self.db, tenant, &customer_id, channel).await? {
            Some(t) => t,
            None => {
                self.open_ticket(&customer_id, channel, &m.text, &at)
                    .await?
            }
        };
        let message_id = platform::uuid()?;
        let inserted = store::insert_message(
            &self.db,
            &message_id,
            tenant,
            &ticket_id,
            "customer",
            None,
            None,
            &m.text,
            &m.mid,
            &at,
        )
        .await?;
        if !inserted {
            return Ok(None);
        }
        self.db
            .batch(vec![
                tickets::touch(&self.db, tenant, &ticket_id, &now)?,
                self.db.stmt(
                    "UPDATE tickets SET status = 'open' WHERE ticket_id = ? AND tenant_id = ?",
                    crate::params![&ticket_id, tenant],
                )?,
                customers::touch(&self.db, tenant, &customer_id, &at)?,
            ])
            .await?;
        Ok(Some(Recorded {
            customer_id,
            ticket_id,
            message_id,
        }))
    }

    /// An AI reply draft for a DM ticket (LLM, or the category template without `LLM_API_KEY`), stored on the
    /// ticket for the agent to edit and send (status `created`, no Gmail draft); the ticket's older drafts are
    /// superseded. Nothing for blocked customers.
    pub async fn draft(&self, r: &Recorded) -> AppResult<()> {
        use crate::domain::draft::{build_prompt, template_reply, ThreadEntry, TicketContext};
        let tenant = self.conf.tenant_id.as_str();
        if customers::ticket_customer_blocked(&self.db, tenant, &r.ticket_id).await? {
            return Ok(());
        }
        let Some(ticket) = tickets::get(&self.db, tenant, &r.ticket_id).await? else {
            return Ok(());
        };
        let ctx = TicketContext {
            crm_summary: None,
            ticket_number: &ticket.ticket_number,
            subject: &ticket.subject,
            category: ticket
                .category
                .parse()
                .unwrap_or(crate::domain::ticket::Category::Other),
            customer_name: ticket.customer_name.as_deref(),
            signature: &self.cfg.support_name,
        };
        let (content, source) = match &self.cfg.llm_api_key {
            Some(key) => {
                let thread: Vec<ThreadEntry> = tickets::messages(&self.db, tenant, &r.ticket_id)
                    .await?
                    .into_iter()
                    .map(|m| ThreadEntry {
                        sender_type: m
                            .sender_type
                            .parse()
                            .unwrap_or(crate::domain::ticket::SenderType::System),
                        content: m.content,
                    })
                    .collect();
                match crate::integrations::llm::complete(
                    &self.http,
                    &self.cfg.llm_api_base,
                    key,
                    &self.cfg.llm_model,
                    &build_prompt(&ctx, &thread),
                )
                .await
                {
                    Ok(t) => (t, "llm"),
                    Err(e) => {
                        worker::console_warn!("DM draft for {}: {e}", ticket.ticket_number);
                        (template_reply(&ctx), "template")
                    }
                }
            }
            None => (template_reply(&ctx), "template"),
        };
        let now = time::rfc3339(platform::now());
        self.db
            .batch(vec![
                crate::storage::drafts::supersede(&self.db, &r.ticket_id, true, &now)?,
                self.db.stmt(
                    "INSERT OR IGNORE INTO drafts (id, tenant_id, ticket_id, message_id, status, source, content,
                       created_at, updated_at) VALUES (?, ?, ?, ?, 'created', ?, ?, ?, ?)",
                    crate::params![&platform::uuid()?, tenant, &r.ticket_id, &r.message_id, source, &content, &now, &now],
                )?,
            ])
            .await
    }

    async fn open_ticket(
        &self,
        customer_id: &str,
        channel: &str,
        text: &str,
        at: &str,
    ) -> AppResult<String> {
        let tenant = self.conf.tenant_id.as_str();
        let seq = tickets::reserve_numbers(&self.db, tenant, 1).await?;
        let id = platform::uuid()?;
        let number = ticket_number(seq);
        let subject = if channel == Channel::Instagram.as_str() {
            "Instagram message"
        } else {
            "Messenger message"
        };
        let tri = triage::triage(subject, text);
        let received = time::parse_rfc3339(at).unwrap_or_else(platform::now);
        let sla = time::rfc3339(triage::sla_due(received, tri.priority));
        let name = customers::get(&self.db, tenant, customer_id)
            .await?
            .and_then(|c| c.name);
        self.db
            .batch(vec![
                tickets::insert(
                    &self.db,
                    &tickets::NewTicket {
                        ticket_id: &id,
                        tenant,
                        ticket_number: &number,
                        customer_email: None,
                        customer_name: name.as_deref(),
                        subject,
                        description: text,
                        priority: tri.priority.as_str(),
                        category: tri.category.as_str(),
                        channel,
                        mailbox_id: None,
                        sla_due_at: &sla,
                        created_at: at,
                    },
                )?,
                self.db.stmt(
                    "UPDATE tickets SET customer_id = ? WHERE ticket_id = ? AND tenant_id = ?",
                    crate::params![customer_id, &id, tenant],
                )?,
            ])
            .await?;
        Ok(id)
    }

    /// Marks the customer's profile `failed` (retried later by the sweep, which also rotates on it).
    async fn mark_failed(&self, customer_id: &str, now: &str) -> AppResult<()> {
        self.db
            .batch(vec![store::profile_failed(
                &self.db,
                &self.conf.tenant_id,
                customer_id,
                now,
            )?])
            .await
    }

    /// Fetches the customer's profile from the Graph API unless a fresh one is stored (`force` ignores the TTL).
    /// A failure marks the profile `failed` (the next message or a manual fetch retries) and is returned.
    pub async fn fetch_profile(&self, customer_id: &str, force: bool) -> AppResult<()> {
        let tenant = self.conf.tenant_id.as_str();
        let Some(state) = store::profile_state(&self.db, tenant, customer_id).await? else {
            return Err(AppError::NotFound(format!(
                "customer {customer_id} not found"
            )));
        };
        let now_ms = platform::now_ms();
        let fresh = state.profile_status == "fetched"
            && state
                .profile_fetched_at_ms
                .is_some_and(|t| now_ms - t < PROFILE_TTL_MS);
        if fresh && !force {
            return Ok(());
        }
        let customer = customers::get(&self.db, tenant, customer_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("customer {customer_id} not found")))?;
        let now = time::rfc3339(platform::now());
        // An identity on this tenant's current page / account.
        let ours = |i: &&Identity| match i.kind {
            crate::domain::customers::IdentityKind::Psid => {
                self.conf.page_id.as_deref() == Some(i.scope.as_str())
            }
            crate::domain::customers::IdentityKind::Igsid => {
                self.conf.instagram_account_id.as_deref() == Some(i.scope.as_str())
            }
            _ => false,
        };
        let Some(ident) = customer.identities.iter().find(ours) else {
            self.mark_failed(customer_id, &now).await?;
            return Err(AppError::Conflict(
                "this customer has no Messenger or Instagram id on the configured page or account"
                    .into(),
            ));
        };
        let graph = match self.graph() {
            Ok(g) => g,
            Err(e) => {
                self.mark_failed(customer_id, &now).await?;
                return Err(e);
            }
        };
        let instagram = ident.kind == crate::domain::customers::IdentityKind::Igsid;
        let fields = if instagram {
            "name,username,profile_pic"
        } else {
            "first_name,last_name,profile_pic"
        };
        match graph.profile(&ident.value, fields).await {
            Ok(p) => {
                let s = |k: &str| p.get(k).and_then(|v| v.as_str()).map(String::from);
                let name = if instagram {
                    s("name").or(s("username"))
                } else {
                    None
                };
                self.db
                    .batch(store::store_profile(
                        &self.db,
                        tenant,
                        customer_id,
                        s("first_name").as_deref(),
                        s("last_name").as_deref(),
                        name.as_deref(),
                        s("profile_pic").as_deref(),
                        now_ms,
                        &now,
                    )?)
                    .await
            }
            Err(e) => {
                self.mark_failed(customer_id, &now).await?;
                Err(AppError::Upstream(format!(
                    "the profile could not be read: {e}"
                )))
            }
        }
    }

    /// An agent's reply on a DM ticket: through the Send API, only inside the 24-hour window and never to a
    /// blocked customer (409 with the reason; nothing sent). Returns Meta's message id.
    pub async fn reply(&self, ticket: &tickets::Ticket, text: &str) -> AppResult<String> {
        let tenant = self.conf.tenant_id.as_str();
        if customers::ticket_customer_blocked(&self.db, tenant, &ticket.ticket_id).await? {
            return Err(AppError::Conflict(
                "this customer is blocked: no replies are sent".into(),
            ));
        }
        let last = store::last_customer_message(&self.db, tenant, &ticket.ticket_id)
            .await?
            .and_then(|t| time::parse_rfc3339(&t))
            .map(|t| t.timestamp_millis());
        if !inside_window(last, platform::now_ms()) {
            return Err(AppError::Conflict(
                "outside Meta's 24-hour window: the customer has not written in the last 24 hours, so Meta does not \
                 allow a reply now; nothing was sent"
                    .into(),
            ));
        }
        let (kind, scope) = if ticket.channel == "instagram" {
            ("igsid", self.conf.instagram_account_id.clone())
        } else {
            ("psid", self.conf.page_id.clone())
        };
        let scope =
            scope.ok_or_else(|| AppError::Conflict("the channel is not configured".into()))?;
        let to = store::recipient(&self.db, tenant, &ticket.ticket_id, kind, &scope)
            .await?
            .ok_or_else(|| AppError::Conflict("the customer has no id on this channel".into()))?;
        self.graph()?
            .send_text(&to, text)
            .await
            .map_err(|e| AppError::Upstream(format!("sending through Meta failed: {e}")))
    }
}

/// Part of the per-minute sweep: retries up to 10 Meta profiles that could not be read (rate limits, outages).
/// Returns how many were read now.
pub async fn retry_profiles(env: &worker::Env) -> AppResult<u32> {
    let cfg = Config::from_env(env)?;
    let db = Db::new(env.d1("DB")?);
    let mut read = 0;
    for (tenant, id) in store::profiles_to_retry(&db, platform::now_ms(), 10).await? {
        let now = time::rfc3339(platform::now());
        let meta = match store::config(&db, &tenant).await? {
            Some(conf) => Meta::new(db.clone(), cfg.clone(), conf).await,
            None => Err(AppError::Conflict("no Meta configuration".into())),
        };
        let result = match meta {
            Ok(meta) => meta.fetch_profile(&id, true).await,
            Err(e) => {
                // Touch the row so it goes to the back of the queue; one tenant's problem stops no other.
                db.batch(vec![store::profile_failed(&db, &tenant, &id, &now)?])
                    .await?;
                Err(e)
            }
        };
        match result {
            Ok(()) => read += 1,
            Err(e) => worker::console_warn!("profile retry of {id}: {e}"),
        }
    }
    Ok(read)
}
