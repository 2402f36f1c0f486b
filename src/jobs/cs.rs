//! The phone and SMS conversation engine: everything slow that happens after a Twilio webhook has been answered
//! (run with `ctx.wait_until`), after a Zapier callback, or by the per-minute sweep:
//! customer lookup through Zapier (with the D1 cache), CRM questions (`customer_query`), the LLM fallback,
//! lead capture, and delivery (SMS through Twilio's REST API; for calls, the answer waits in the conversation for
//! the `<Redirect>` poll of the gather loop).

use crate::config::Config;
use crate::domain::cs::{is_crm_question, CsConfig};
use crate::domain::draft::ChatMessage;
use crate::domain::masking::mask_card_numbers;
use crate::domain::ticket::{ticket_number, Channel};
use crate::domain::{time, triage};
use crate::error::{AppError, AppResult};
use crate::integrations::http::Http;
use crate::integrations::twilio::Twilio;
use crate::integrations::{llm, zapier};
use crate::platform;
use crate::storage::cs::{self as store, CachedCustomer, Conversation, PhoneMessage};
use crate::storage::{tickets, Db};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use worker::D1PreparedStatement;

/// Longest SMS body Twilio accepts, in characters (longer texts are cut there).
pub const MAX_SMS_CHARS: usize = 1600;

/// Display name of automated messages in the ticket thread.
pub const ASSISTANT: &str = "Edgedesk assistant";

/// Everything a conversation step needs for one tenant.
pub struct Cs {
    /// The database.
    pub db: Db,
    /// Worker configuration (LLM, Twilio base, support name).
    pub cfg: Config,
    /// The tenant.
    pub tenant: String,
    /// The tenant's customer-service configuration.
    pub conf: CsConfig,
    /// The tenant's Twilio auth token, decrypted.
    pub auth_token: Option<String>,
    /// The Zapier callback secret, decrypted.
    pub callback_secret: Option<String>,
    /// The worker's public origin for callback and TwiML URLs.
    pub public_base: String,
    /// Outbound HTTP (counted, with timeouts).
    pub http: Http,
}

/// Seals a secret for storage: `v1:` + base64(nonce ‖ AES-256-GCM ciphertext ‖ tag).
pub async fn seal(key: &[u8; 32], secret: &str) -> AppResult<String> {
    Ok(format!(
        "v1:{}",
        STANDARD.encode(platform::aes_gcm_encrypt(key, secret.as_bytes()).await?)
    ))
}

/// Opens a secret sealed by [`seal`].
pub async fn open(key: &[u8; 32], sealed: &str) -> AppResult<String> {
    let raw = sealed
        .strip_prefix("v1:")
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or_else(|| AppError::Internal("a stored secret has an unknown format".into()))?;
    String::from_utf8(platform::aes_gcm_decrypt(key, &raw).await?)
        .map_err(|_| AppError::Internal("a stored secret is not text".into()))
}

impl Cs {
    /// Loads the tenant's configuration and secrets. `None` when the tenant has none.
    pub async fn load(
        db: Db,
        cfg: Config,
        tenant: &str,
        public_base: &str,
    ) -> AppResult<Option<Cs>> {
        let Some(stored) = store::config(&db, tenant).await? else {
            return Ok(None);
        };
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
        let auth_token = unseal(stored.auth_token_enc).await?;
        let callback_secret = unseal(stored.callback_secret_enc).await?;
        let http = Http::with_timeout(cfg.http_timeout_ms.min(8_000));
        Ok(Some(Cs {
            db,
            tenant: tenant.to_string(),
            conf: stored.config,
            auth_token,
            callback_secret,
            public_base: public_base.trim_end_matches('/').to_string(),
            http,
            cfg,
        }))
    }

    /// `POST` URL of a route of ours, as Twilio and Zapier must call it.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_base)
    }

    /// Statements opening a ticket for a new phone conversation; returns its id.
    pub async fn open_ticket(
        &self,
        channel: Channel,
        phone: &str,
        first_text: &str,
        name: Option<&str>,
        now: &str,
    ) -> AppResult<(String, Vec<D1PreparedStatement>)> {
        let seq = tickets::reserve_numbers(&self.db, &self.tenant, 1).await?;
        let number = ticket_number(seq);
        let id = platform::uuid()?;
        let what = if channel == Channel::Sms {
            "Text message"
        } else {
            "Phone call"
        };
        let subject = format!("{what} from {}", name.unwrap_or(phone));
        let tri = triage::triage(&subject, first_text);
        let received = time::parse_rfc3339(now).unwrap_or_else(platform::now);
        let sla =
            time::rfc3339(received + chrono::Duration::hours(triage::sla_hours(tri.priority)));
        let mut stmts = vec![
            tickets::insert(
                &self.db,
                &tickets::NewTicket {
                    ticket_id: &id,
                    tenant: &self.tenant,
                    ticket_number: &number,
                    customer_email: None,
                    customer_name: name.or(Some(phone)),
                    subject: &subject,
                    description: first_text,
                    priority: tri.priority.as_str(),
                    category: tri.category.as_str(),
                    channel: channel.as_str(),
                    mailbox_id: None,
                    sla_due_at: &sla,
                    created_at: now,
                },
            )?,
            store::set_ticket_caller(&self.db, &self.tenant, &id, phone, None, None)?,
        ];
        // The customer registry: the caller's number finds (or creates) their customer record.
        if let Ok(who) =
            crate::domain::customers::Identity::phone(phone, &self.conf.default_country_code)
        {
            stmts.extend(crate::storage::customers::link_ticket(
                &self.db,
                &self.tenant,
                &id,
                &who,
                &platform::uuid()?,
                name,
                now,
            )?);
        }
        Ok((id, stmts))
    }

    /// Statements adding an automated or customer message to the conversation's ticket.
    pub fn record(
        &self,
        conv: &Conversation,
        sender_type: &str,
        content: &str,
        twilio_sid: Option<&str>,
        now: &str,
    ) -> AppResult<Vec<D1PreparedStatement>> {
        let customer = sender_type == "customer";
        store::insert_message(
            &self.db,
            &PhoneMessage {
                id: &platform::uuid()?,
                tenant: &self.tenant,
                ticket_id: &conv.ticket_id,
                sender_type,
                sender_id: None,
                sender_name: if customer {
                    &conv.phone_number
                } else {
                    ASSISTANT
                },
                sender_phone: if customer {
                    &conv.phone_number
                } else {
                    &conv.our_number
                },
                content,
                twilio_sid,
                now,
            },
        )
    }

    /// Sends an automated answer: over SMS through Twilio (never to an opted-out number), or, on a call, kept for
    /// the gather loop to speak. Recorded in the ticket either way.
    pub async fn deliver(&self, conv: &mut Conversation, text: &str) -> AppResult<()> {
        let now = time::rfc3339(platform::now());
        let mut stmts = Vec::new();
        let text: String = text.chars().take(MAX_SMS_CHARS).collect();
        let text = text.as_str();
        let blocked = crate::storage::customers::ticket_customer_blocked(
            &self.db,
            &self.tenant,
            &conv.ticket_id,
        )
        .await?;
        if conv.channel == "sms" {
            if blocked {
                stmts.extend(self.record(
                    conv,
                    "system",
                    &format!("Not sent (the customer is blocked): {text}"),
                    None,
                    &now,
                )?);
            } else if store::opted_out(&self.db, &self.tenant, &conv.phone_number).await? {
                stmts.extend(self.record(
                    conv,
                    "system",
                    &format!("Not sent (the customer opted out): {text}"),
                    None,
                    &now,
                )?);
            } else {
                match self
                    .send_sms(&conv.our_number, &conv.phone_number, text)
                    .await
                {
                    Ok(sid) => stmts.extend(self.record(conv, "system", text, Some(&sid), &now)?),
                    Err(e) => {
                        if e.contains(&crate::integrations::twilio::ERROR_OPTED_OUT.to_string()) {
                            // Twilio knows the number opted out (e.g. STOP sent before Edgedesk): remember it.
                            stmts.push(store::opt_out(
                                &self.db,
                                &self.tenant,
                                &conv.phone_number,
                                platform::now_ms(),
                            )?);
                        }
                        stmts.extend(self.record(
                            conv,
                            "system",
                            &format!("Sending failed ({e}): {text}"),
                            None,
                            &now,
                        )?)
                    }
                }
            }
        } else {
            conv.answer = Some(text.to_string());
            stmts.extend(self.record(conv, "system", text, None, &now)?);
        }
        stmts.push(store::update_conversation(
            &self.db,
            conv,
            platform::now_ms(),
        )?);
        self.db.batch(stmts).await
    }

    /// Sends one SMS from our number; the Message SID.
    pub async fn send_sms(&self, from: &str, to: &str, body: &str) -> Result<String, String> {
        let (Some(sid), Some(token)) = (&self.conf.twilio_account_sid, &self.auth_token) else {
            return Err("Twilio is not configured (account_sid, auth_token)".into());
        };
        Twilio {
            http: &self.http,
            base: &self.cfg.twilio_api_base,
            account_sid: sid,
            auth_token: token,
        }
        .send_sms(from, to, body)
        .await
        .map_err(|e| e.to_string())
    }

    /// A pending Zapier request row for the conversation (written by the caller, before anything slow, so that
    /// a lost follow-up is found by the sweep); returns its correlation id.
    pub fn prepare_request(
        &self,
        conv: &Conversation,
        kind: &str,
        question: Option<&str>,
    ) -> AppResult<(String, D1PreparedStatement)> {
        let correlation_id = platform::uuid()?;
        let now_ms = platform::now_ms();
        let timeout = if kind == "customer_lookup" {
            self.conf.customer_lookup_timeout_seconds
        } else {
            self.conf.query_timeout_seconds
        };
        let stmt = store::insert_request(
            &self.db,
            &correlation_id,
            &self.tenant,
            kind,
            &conv.phone_number,
            &conv.id,
            question,
            now_ms,
            now_ms + timeout * 1000,
        )?;
        Ok((correlation_id, stmt))
    }

    /// Posts a prepared request to the Zap. A hook that cannot be reached fails the request at once and the
    /// conversation continues without it.
    pub async fn trigger(
        &self,
        conv: &mut Conversation,
        correlation_id: &str,
        kind: &str,
        question: Option<&str>,
        customer: Option<&CachedCustomer>,
    ) -> AppResult<()> {
        let mut body = serde_json::json!({
            "type": kind,
            "correlation_id": correlation_id,
            "phone_number": conv.phone_number,
            "callback_url": self.url("/api/v1/zapier/callback"),
        });
        if let Some(q) = question {
            body["question"] = q.into();
            body["customer_id"] = customer.and_then(|c| c.crm_id.clone()).into();
            body["customer"] = customer_json(customer);
        }
        let result = match &self.conf.zapier_webhook_url {
            Some(hook) => zapier::trigger(&self.http, hook, &body)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Err("no zapier_webhook_url".to_string()),
        };
        let Err(e) = result else {
            return Ok(());
        };
        worker::console_warn!("zapier {kind} for tenant {}: {e}", self.tenant);
        if !store::finish_request(
            &self.db,
            correlation_id,
            "failed",
            None,
            Some(&e),
            platform::now_ms(),
        )
        .await?
        {
            return Ok(()); // the sweep or a callback got there first
        }
        match kind {
            "customer_lookup" => self.without_crm(conv).await,
            _ => {
                self.fallback(conv, question.unwrap_or_default(), customer)
                    .await
            }
        }
    }

    /// Starts a Zapier request for the conversation (prepare + trigger).
    pub async fn ask_zapier(
        &self,
        conv: &mut Conversation,
        kind: &str,
        question: Option<&str>,
        customer: Option<&CachedCustomer>,
    ) -> AppResult<()> {
        let (id, stmt) = self.prepare_request(conv, kind, question)?;
        self.db.batch(vec![stmt]).await?;
        self.trigger(conv, &id, kind, question, customer).await
    }

    /// The lookup finished: cache what it found and go on with the question asked meanwhile, or start lead
    /// capture for an unknown number.
    pub async fn on_lookup(&self, conv: &mut Conversation, found: CachedCustomer) -> AppResult<()> {
        let now_ms = platform::now_ms();
        let mut stmts = vec![store::cache_customer(
            &self.db,
            &self.tenant,
            &conv.phone_number,
            &found,
            now_ms,
            now_ms + self.conf.cache_ttl_seconds * 1000,
        )?];
        if found.found {
            stmts.extend(crate::storage::customers::learn_from_ticket(
                &self.db,
                &self.tenant,
                &conv.ticket_id,
                found.name.as_deref(),
                found.email.as_deref(),
                &time::rfc3339(platform::now()),
            )?);
            stmts.push(store::set_ticket_caller(
                &self.db,
                &self.tenant,
                &conv.ticket_id,
                &conv.phone_number,
                found.name.as_deref(),
                found.email.as_deref(),
            )?);
        }
        self.db.batch(stmts).await?;
        let Some(question) =
            store::take_pending_question(&self.db, &conv.id, "ready", platform::now_ms()).await?
        else {
            return Ok(()); // not waiting for this lookup any more
        };
        self.refresh(conv).await?;
        if found.found {
            match question {
                Some(q) => self.answer(conv, &q, Some(&found)).await,
                None => Ok(()),
            }
        } else {
            self.unknown(conv, question.as_deref()).await
        }
    }

    /// Re-reads the conversation's state (after an atomic change in D1).
    async fn refresh(&self, conv: &mut Conversation) -> AppResult<()> {
        if let Some(c) = store::conversation(&self.db, &conv.id).await? {
            *conv = c;
        }
        Ok(())
    }

    /// An unknown number: lead capture over SMS when enabled (and the number has not left its details before),
    /// else a generic answer.
    pub async fn unknown(&self, conv: &mut Conversation, question: Option<&str>) -> AppResult<()> {
        if conv.channel == "sms"
            && self.conf.routing_rules.fallback_to_lead_capture
            && !store::known_contact(&self.db, &self.tenant, &conv.phone_number).await?
        {
            conv.state = "lead_name".into();
            let text = format!(
                "Hi! This is {}. We don't have this number on file yet. What is your name?",
                self.cfg.support_name
            );
            return self.deliver(conv, &text).await;
        }
        conv.state = "ready".into();
        match question {
            Some(q) => self.fallback(conv, q, None).await,
            None => self.save(conv).await,
        }
    }

    /// The CRM lookup failed or timed out: go on without customer data, answering what waited.
    async fn without_crm(&self, conv: &mut Conversation) -> AppResult<()> {
        let Some(question) =
            store::take_pending_question(&self.db, &conv.id, "ready", platform::now_ms()).await?
        else {
            return Ok(());
        };
        self.refresh(conv).await?;
        match question {
            Some(q) => self.fallback(conv, &q, None).await,
            None => Ok(()),
        }
    }

    /// Answers a question: CRM questions of known customers go to Zapier; anything else to the LLM.
    pub async fn answer(
        &self,
        conv: &mut Conversation,
        question: &str,
        customer: Option<&CachedCustomer>,
    ) -> AppResult<()> {
        let known = customer.is_some_and(|c| c.found);
        if known && is_crm_question(question) && self.conf.zapier_webhook_url.is_some() {
            self.save(conv).await?;
            return self
                .ask_zapier(conv, "customer_query", Some(question), customer)
                .await;
        }
        self.fallback(conv, question, customer).await
    }

    /// The LLM's answer (when enabled and configured), else a note that a colleague will answer.
    pub async fn fallback(
        &self,
        conv: &mut Conversation,
        question: &str,
        customer: Option<&CachedCustomer>,
    ) -> AppResult<()> {
        let polite = "Thanks for your message. A colleague will get back to you shortly.";
        let text = match (&self.cfg.llm_api_key, self.conf.llm_fallback_enabled) {
            (Some(key), true) => {
                let messages = prompt(&self.cfg.support_name, &conv.channel, question, customer);
                match llm::complete(
                    &self.http,
                    &self.cfg.llm_api_base,
                    key,
                    &self.cfg.llm_model,
                    &messages,
                )
                .await
                {
                    Ok(t) => t,
                    Err(e) => {
                        worker::console_warn!("llm fallback for tenant {}: {e}", self.tenant);
                        polite.to_string()
                    }
                }
            }
            _ => polite.to_string(),
        };
        self.deliver(conv, &text).await
    }

    /// Saves the conversation's state.
    pub async fn save(&self, conv: &Conversation) -> AppResult<()> {
        self.db
            .batch(vec![store::update_conversation(
                &self.db,
                conv,
                platform::now_ms(),
            )?])
            .await
    }
}

fn customer_json(c: Option<&CachedCustomer>) -> serde_json::Value {
    match c {
        None => serde_json::Value::Null,
        Some(c) => serde_json::json!({
            "id": c.crm_id, "name": c.name, "email": c.email,
            "customer_data": c.data.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()),
        }),
    }
}

/// The LLM prompt of a phone or SMS answer: short, plain text, the customer's CRM data as context (card numbers
/// masked).
pub fn prompt(
    support_name: &str,
    channel: &str,
    question: &str,
    customer: Option<&CachedCustomer>,
) -> Vec<ChatMessage> {
    let medium = if channel == "sms" {
        "a text message (at most 2 short sentences, plain text, no links you are unsure of)"
    } else {
        "a phone call (spoken aloud: at most 2 short sentences, no lists, no URLs)"
    };
    let mut system = format!(
        "You are the customer-service assistant of {support_name}, answering {medium}. Be accurate and kind. \
         If you do not know, say a colleague will follow up. Never invent account details."
    );
    if let Some(c) = customer.filter(|c| c.found) {
        system.push_str(&format!(
            "\nCustomer on file: {}.",
            mask_card_numbers(&customer_json(Some(c)).to_string())
        ));
    }
    vec![
        ChatMessage {
            role: "system",
            content: system,
        },
        ChatMessage {
            role: "user",
            content: mask_card_numbers(&question.chars().take(2000).collect::<String>()),
        },
    ]
}

/// A Zapier callback's `data` for a lookup, as a cache entry.
pub fn lookup_result(data: &serde_json::Value) -> CachedCustomer {
    let s = |k: &str| data.get(k).and_then(|v| v.as_str()).map(String::from);
    CachedCustomer {
        found: data.get("found").and_then(|v| v.as_bool()).unwrap_or(false),
        crm_id: s("jackrabbit_id")
            .or_else(|| s("id"))
            .or_else(|| data.get("jackrabbit_id").map(|v| v.to_string())),
        name: s("name"),
        email: s("email"),
        data: data.get("customer_data").map(|v| v.to_string()),
    }
}

/// Continues the conversation of a finished Zapier request (callback or failure).
pub async fn continue_after(
    cs: &Cs,
    req: &store::ZapierRequest,
    outcome: Result<serde_json::Value, String>,
) -> AppResult<()> {
    let Some(conv_id) = &req.conversation_id else {
        return Ok(());
    };
    let Some(mut conv) = store::conversation(&cs.db, conv_id).await? else {
        return Ok(());
    };
    let now_ms = platform::now_ms();
    let customer = store::cached_customer(&cs.db, &cs.tenant, &conv.phone_number, now_ms).await?;
    match (req.kind.as_str(), outcome) {
        ("customer_lookup", Ok(data)) => cs.on_lookup(&mut conv, lookup_result(&data)).await,
        ("customer_lookup", Err(_)) => cs.without_crm(&mut conv).await,
        (_, Ok(data)) if data.get("has_answer").and_then(|v| v.as_bool()) == Some(true) => {
            let answer = data
                .get("answer")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            if answer.trim().is_empty() {
                cs.fallback(
                    &mut conv,
                    req.question.as_deref().unwrap_or_default(),
                    customer.as_ref(),
                )
                .await
            } else {
                cs.deliver(&mut conv, &answer).await
            }
        }
        (_, _) => {
            cs.fallback(
                &mut conv,
                req.question.as_deref().unwrap_or_default(),
                customer.as_ref(),
            )
            .await
        }
    }
}

/// Times out the conversation's pending requests now and continues with the fallback (a call cannot wait for the
/// per-minute sweep: Twilio's caller hears the redirect loop for only about 16 s).
pub async fn expire_now(cs: &Cs, conversation_id: &str) -> AppResult<()> {
    for req in store::pending_for_conversation(&cs.db, conversation_id).await? {
        if store::finish_request(
            &cs.db,
            &req.correlation_id,
            "timeout",
            None,
            Some("the caller could not wait"),
            platform::now_ms(),
        )
        .await?
        {
            continue_after(cs, &req, Err("timeout".into())).await?;
        }
    }
    Ok(())
}

/// The cron expression of the sweep in `wrangler.toml`.
pub const SWEEP_CRON: &str = "* * * * *";

/// The per-minute sweep: pending Zapier requests past their timeout become `timeout` and their conversations go
/// on with the fallback. At most 20 per run (each may call the LLM and Twilio).
pub async fn sweep(env: &worker::Env) -> AppResult<u32> {
    let cfg = Config::from_env(env)?;
    let db = Db::new(env.d1("DB")?);
    let mut done = 0;
    for req in store::overdue(&db, platform::now_ms(), 20).await? {
        if !store::finish_request(
            &db,
            &req.correlation_id,
            "timeout",
            None,
            Some("no callback in time"),
            platform::now_ms(),
        )
        .await?
        {
            continue;
        }
        let base = cfg.public_base_url.clone().unwrap_or_default();
        let result = match Cs::load(db.clone(), cfg.clone(), &req.tenant_id, &base).await {
            Ok(Some(cs)) => continue_after(&cs, &req, Err("timeout".into())).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // One conversation's failure must not stop the others.
            worker::console_error!("sweep: continuing {}: {e}", req.correlation_id);
        }
        done += 1;
    }
    Ok(done)
}
