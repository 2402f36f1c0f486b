//! Twilio webhooks (public, form-encoded, answered with TwiML `text/xml`):
//! - `POST /api/v1/customer-service/sms/inbound` (Messaging webhook: `MessageSid`, `From`, `To`, `Body`, …),
//! - `POST /api/v1/customer-service/voice/inbound` (Voice webhook: `CallSid`, `From`, `To`, …),
//! - `POST /api/v1/customer-service/voice/gather` (the `<Gather input="speech">` action: `SpeechResult`; with
//!   `?wait=N` the redirect poll of an answer being prepared).
//!
//! The tenant is the owner of the `To` number (404 for a number nobody configured). Every request must carry a
//! valid `X-Twilio-Signature` for the URL Twilio called (`PUBLIC_BASE_URL` + path when set) and the tenant's auth
//! token (<https://www.twilio.com/docs/usage/security#validating-requests>): otherwise 403 and nothing is
//! written. Slow work (Zapier, LLM, outbound SMS) runs after the answer (`ctx.wait_until`). A repeated delivery
//! (same `MessageSid`, or same call request) gets the first answer again and causes nothing new.

use super::extract::{context, own_origin};
use super::AppState;
use crate::domain::cs::{keyword, lead_step, Keyword, LeadStep};
use crate::domain::phone::to_e164;
use crate::domain::ticket::Channel;
use crate::domain::time;
use crate::domain::twilio::{twiml, verify, Verb};
use crate::error::{AppError, AppResult};
use crate::jobs::cs::Cs;
use crate::platform;
use crate::storage::cs::{self as store, Conversation};
use crate::storage::tickets;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use worker::Context;

/// Redirect polls of a call waiting for its answer (each after a 2-second `<Pause>`): about 16 s in all.
pub const MAX_VOICE_POLLS: i64 = 8;

/// The poll at which a call stops waiting for Zapier and the LLM answers instead (about 8 s in).
pub const VOICE_FALLBACK_POLL: i64 = 4;

/// The Twilio webhook routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/customer-service/sms/inbound", post(sms))
        .route("/api/v1/customer-service/voice/inbound", post(voice))
        .route("/api/v1/customer-service/voice/gather", post(gather))
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// A verified webhook: the tenant's engine, the parameters, and a lookup helper.
struct Webhook {
    cs: Cs,
    params: Vec<(String, String)>,
    /// The URL Twilio signed (public base + path + query).
    url: String,
}

impl Webhook {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses, finds the tenant by `To`, and checks the signature (403 on failure, before anything is written).
async fn verified(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> AppResult<Webhook> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| AppError::BadRequest(format!("the body is not form-encoded: {e}")))?;
    let (cfg, db) = context(state)?;
    let public_base = cfg
        .public_base_url
        .clone()
        .or_else(|| own_origin(uri, headers))
        .ok_or_else(|| AppError::BadRequest("cannot tell the request's origin".into()))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{public_base}{path}");
    let to = params
        .iter()
        .find(|(k, _)| k == "To")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let to =
        to_e164(&to, "1").ok_or_else(|| AppError::BadRequest("To is not a phone number".into()))?;
    let tenant = store::tenant_of_number(&db, &to)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("{to} is not a number of any tenant")))?;
    let cs = Cs::load(db, cfg, &tenant, &public_base)
        .await?
        .ok_or_else(|| AppError::NotFound("customer service is not configured".into()))?;
    let token = cs
        .auth_token
        .clone()
        .ok_or_else(|| AppError::Forbidden("the tenant has no Twilio auth token".into()))?;
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given.is_empty() || !verify(&url, &params, &token, given) {
        return Err(AppError::Forbidden(
            "invalid or missing X-Twilio-Signature".into(),
        ));
    }
    Ok(Webhook { cs, params, url })
}

/// Runs `work` after the response (`ctx.wait_until`), logging its failure.
fn later<F>(ctx: &Context, what: &'static str, work: F)
where
    F: std::future::Future<Output = AppResult<()>> + 'static,
{
    ctx.wait_until(async move {
        if let Err(e) = work.await {
            worker::console_error!("{what}: {e}");
        }
    });
}

fn caller(w: &Webhook) -> AppResult<String> {
    let from = w.get("From").unwrap_or_default();
    to_e164(from, &w.cs.conf.default_country_code)
        .ok_or_else(|| AppError::BadRequest(format!("From {from:?} is not a phone number")))
}

fn our_number(w: &Webhook) -> String {
    to_e164(w.get("To").unwrap_or_default(), "1").unwrap_or_default()
}

#[worker::send]
async fn sms(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Context>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let w = verified(&state, &uri, &headers, &body).await?;
    let sid = w
        .get("MessageSid")
        .or_else(|| w.get("SmsSid"))
        .ok_or_else(|| AppError::BadRequest("MessageSid is missing".into()))?
        .to_string();
    let key = format!("{}:sms:{sid}", w.cs.tenant);
    if !store::claim_webhook(&w.cs.db, &key, &w.cs.tenant, platform::now_ms()).await? {
        let again = store::answered(&w.cs.db, &key).await?.unwrap_or_default();
        return Ok(xml(if again.is_empty() { twiml(&[]) } else { again }));
    }
    let from = caller(&w)?;
    let text = w.get("Body").unwrap_or_default().trim().to_string();
    let (twiml_out, work) = handle_sms(&w, &key, &sid, &from, &text).await?;
    announce(&state, &w.cs.tenant).await;
    if let Some(work) = work {
        let cs = w.cs;
        later(&ctx, "sms follow-up", async move { work.run(cs).await });
    }
    Ok(xml(twiml_out))
}

/// Tells the tenant's dashboards that a phone conversation changed (they reload their lists).
async fn announce(state: &AppState, tenant: &str) {
    let frame = serde_json::json!({"type": "ticket", "event": "message", "ticket_id": null,
        "ticket_number": null, "count": 1});
    crate::rooms::hub::publish(&state.env, tenant, &frame).await;
}

/// Slow work to do after answering.
enum Work {
    /// Post the prepared lookup (its `zapier_requests` row is already written) to the Zap.
    Lookup(Conversation, String),
    /// Answer a question (CRM query or LLM).
    Answer(Conversation, String),
    /// A call cannot wait longer: time out its Zapier requests and fall back now.
    Expire(String),
}

impl Work {
    async fn run(self, cs: Cs) -> AppResult<()> {
        match self {
            Work::Lookup(mut conv, correlation_id) => {
                cs.trigger(&mut conv, &correlation_id, "customer_lookup", None, None)
                    .await
            }
            Work::Answer(mut conv, question) => {
                let customer = store::cached_customer(
                    &cs.db,
                    &cs.tenant,
                    &conv.phone_number,
                    platform::now_ms(),
                )
                .await?;
                cs.answer(&mut conv, &question, customer.as_ref()).await
            }
            Work::Expire(conversation_id) => {
                crate::jobs::cs::expire_now(&cs, &conversation_id).await
            }
        }
    }
}

/// Finds the caller's open conversation or opens one (with its ticket); returns it and the statements.
async fn conversation(
    cs: &Cs,
    channel: Channel,
    phone: &str,
    our: &str,
    call_sid: Option<&str>,
    first_text: &str,
    now: &str,
) -> AppResult<(Conversation, Vec<worker::D1PreparedStatement>)> {
    let now_ms = platform::now_ms();
    let existing = match call_sid {
        Some(c) => store::call_conversation(&cs.db, &cs.tenant, c).await?,
        None => store::open_sms_conversation(&cs.db, &cs.tenant, phone, our, now_ms).await?,
    };
    if let Some(c) = existing {
        return Ok((c, Vec::new()));
    }
    let cached = store::cached_customer(&cs.db, &cs.tenant, phone, now_ms).await?;
    let name = cached
        .as_ref()
        .filter(|c| c.found)
        .and_then(|c| c.name.clone());
    let (ticket_id, mut stmts) = cs
        .open_ticket(channel, phone, first_text, name.as_deref(), now)
        .await?;
    let conv = Conversation {
        id: platform::uuid()?,
        tenant_id: cs.tenant.clone(),
        channel: channel.as_str().into(),
        phone_number: phone.into(),
        our_number: our.into(),
        ticket_id,
        call_sid: call_sid.map(String::from),
        state: "new".into(),
        lead_name: None,
        pending_question: None,
        answer: None,
        polls: 0,
        answer_turn: 0,
    };
    stmts.push(store::insert_conversation(&cs.db, &conv, now_ms)?);
    Ok((conv, stmts))
}

async fn handle_sms(
    w: &Webhook,
    key: &str,
    sid: &str,
    from: &str,
    text: &str,
) -> AppResult<(String, Option<Work>)> {
    let cs = &w.cs;
    let rules = &cs.conf.routing_rules;
    let now = time::rfc3339(platform::now());
    let now_ms = platform::now_ms();
    let kw = keyword(text);
    let reply = |t: String| twiml(&[Verb::Message(t)]);
    let finish = |out: String, mut stmts: Vec<worker::D1PreparedStatement>| async move {
        stmts.push(store::answer_webhook(&cs.db, key, &out)?);
        cs.db.batch(stmts).await?;
        Ok::<_, AppError>(out)
    };
    // Opt-outs are honoured whatever the settings; an opted-out number gets nothing back.
    let opted_out = store::opted_out(&cs.db, &cs.tenant, from).await?;
    if !cs.conf.is_enabled || !rules.enable_sms {
        let (out, stmts) = match kw {
            Some(Keyword::OptOut) => (twiml(&[]), vec![store::opt_out(&cs.db, &cs.tenant, from, now_ms)?]),
            Some(Keyword::OptIn) => (twiml(&[]), vec![store::opt_in(&cs.db, &cs.tenant, from)?]),
            _ if opted_out => (twiml(&[]), Vec::new()),
            _ => (
                reply(format!(
                    "Thanks for your message. {} does not answer text messages at this number; please call or e-mail us.",
                    cs.cfg.support_name
                )),
                Vec::new(),
            ),
        };
        return Ok((finish(out, stmts).await?, None));
    }
    let our = our_number(w);
    let (mut conv, mut stmts) =
        conversation(cs, Channel::Sms, from, &our, None, text, &now).await?;
    stmts.extend(cs.record(&conv, "customer", text, Some(sid), &now)?);
    // A blocked customer's texts are recorded; nothing is answered or looked up.
    let blocked =
        match crate::domain::customers::Identity::phone(from, &cs.conf.default_country_code) {
            Ok(i) => crate::storage::customers::identity_blocked(&cs.db, &cs.tenant, &i).await?,
            Err(_) => false,
        };
    if blocked {
        stmts.push(store::update_conversation(&cs.db, &conv, now_ms)?);
        return Ok((finish(twiml(&[]), stmts).await?, None));
    }

    let mut work = None;
    let mut save = true;
    let out = match kw {
        Some(Keyword::OptOut) => {
            // Twilio confirms the opt-out itself on long codes; we only stop sending.
            stmts.push(store::opt_out(&cs.db, &cs.tenant, from, now_ms)?);
            twiml(&[])
        }
        Some(Keyword::OptIn) => {
            stmts.push(store::opt_in(&cs.db, &cs.tenant, from)?);
            reply(format!(
                "You are subscribed again to messages from {}.",
                cs.cfg.support_name
            ))
        }
        _ if opted_out => twiml(&[]),
        Some(Keyword::Help) => reply(format!(
            "{}: reply with your question and we will answer. Reply STOP to stop messages.",
            cs.cfg.support_name
        )),
        None => {
            match conv.state.as_str() {
                "lead_name" | "lead_email" => {
                    match lead_step(conv.lead_name.as_deref(), true, text) {
                    LeadStep::AskName => reply("Sorry, what is your name?".into()),
                    LeadStep::AskEmail { name } => {
                        conv.lead_name = Some(name.clone());
                        conv.state = "lead_email".into();
                        reply(format!("Thanks, {name}! What is your e-mail address?"))
                    }
                    LeadStep::AskEmailAgain => reply(
                        "That does not look like an e-mail address. Could you send it again (like name@example.com)?"
                            .into(),
                    ),
                    LeadStep::Complete { name, email } => {
                        conv.state = "ready".into();
                        stmts.push(store::set_ticket_caller(
                            &cs.db,
                            &cs.tenant,
                            &conv.ticket_id,
                            from,
                            Some(&name),
                            Some(&email),
                        )?);
                        stmts.extend(tickets::change_tags(
                            &cs.db,
                            &cs.tenant,
                            &conv.ticket_id,
                            &["lead".to_string()],
                            &[],
                        )?);
                        stmts.extend(crate::storage::customers::learn_from_ticket(
                            &cs.db,
                            &cs.tenant,
                            &conv.ticket_id,
                            Some(&name),
                            Some(&email),
                            &now,
                        )?);
                        stmts.extend(cs.record(
                            &conv,
                            "system",
                            &format!("New lead: {name} <{email}>, {from}. The transcript is this thread."),
                            None,
                            &now,
                        )?);
                        reply(format!(
                            "Thank you, {name}! A member of our team will contact you at {email} soon."
                        ))
                    }
                }
                }
                "lookup"
                    if store::append_pending_question(&cs.db, &conv.id, text, now_ms).await? =>
                {
                    // Still looking the caller up: the question joins the one waiting (appended in SQL, so a
                    // lookup finishing right now cannot lose it).
                    save = false;
                    twiml(&[])
                }
                _ => {
                    let cached = store::cached_customer(&cs.db, &cs.tenant, from, now_ms).await?;
                    stmts.push(store::log_lookup(
                        &cs.db,
                        &cs.tenant,
                        cached.is_some(),
                        now_ms,
                    )?);
                    match cached {
                        Some(c)
                            if !c.found
                                && rules.fallback_to_lead_capture
                                && !store::known_contact(&cs.db, &cs.tenant, from).await? =>
                        {
                            conv.state = "lead_name".into();
                            reply(format!(
                            "Hi! This is {}. We don't have this number on file yet. What is your name?",
                            cs.cfg.support_name
                        ))
                        }
                        Some(_) => {
                            conv.state = "ready".into();
                            work = Some(Work::Answer(conv.clone(), text.to_string()));
                            twiml(&[])
                        }
                        None => {
                            conv.state = "lookup".into();
                            conv.pending_question = Some(text.to_string());
                            let (correlation_id, stmt) =
                                cs.prepare_request(&conv, "customer_lookup", None)?;
                            stmts.push(stmt);
                            work = Some(Work::Lookup(conv.clone(), correlation_id));
                            if rules.auto_respond_pending_lookup {
                                reply("Thanks! One moment while we look up your account.".into())
                            } else {
                                twiml(&[])
                            }
                        }
                    }
                }
            }
        }
    };
    if let Some(Verb::Message(m)) = auto_message(&out) {
        stmts.extend(cs.record(&conv, "system", &m, None, &now)?);
    }
    if save {
        stmts.push(store::update_conversation(&cs.db, &conv, now_ms)?);
    }
    Ok((finish(out, stmts).await?, work))
}

/// The `<Message>` text of a TwiML answer, to record it in the thread.
fn auto_message(twiml_doc: &str) -> Option<Verb> {
    let start = twiml_doc.find("<Message>")? + "<Message>".len();
    let end = twiml_doc[start..].find("</Message>")? + start;
    let t = &twiml_doc[start..end];
    Some(Verb::Message(
        t.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    ))
}

/// The idempotency key of a call request: the tenant, the call and a digest of exactly what Twilio sent (URL with
/// its turn and poll numbers + params), so a retry matches and each new turn or poll does not.
fn call_key(w: &Webhook, call_sid: &str) -> String {
    let mut h = Sha256::new();
    h.update(w.url.as_bytes());
    let mut p = w.params.clone();
    p.sort();
    for (k, v) in p {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let d: String = h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}:call:{call_sid}:{d}", w.cs.tenant)
}

fn gather_url(cs: &Cs, turn: i64, wait: Option<i64>) -> String {
    let base = cs.url("/api/v1/customer-service/voice/gather");
    match wait {
        Some(n) => format!("{base}?turn={turn}&wait={n}"),
        None => format!("{base}?turn={turn}"),
    }
}

/// Answers a call webhook once per request (replaying the first answer for Twilio retries; a retry while the
/// first is still being answered is told to come back in a second).
async fn once(
    w: &Webhook,
    call_sid: &str,
    make: impl std::future::Future<Output = AppResult<(String, Option<Work>)>>,
) -> AppResult<(String, Option<Work>)> {
    let key = call_key(w, call_sid);
    if !store::claim_webhook(&w.cs.db, &key, &w.cs.tenant, platform::now_ms()).await? {
        let again = store::answered(&w.cs.db, &key).await?.unwrap_or_default();
        return Ok((
            if again.is_empty() {
                twiml(&[Verb::Pause(1), Verb::Redirect(w.url.clone())])
            } else {
                again
            },
            None,
        ));
    }
    let (out, work) = make.await?;
    w.cs.db
        .batch(vec![store::answer_webhook(&w.cs.db, &key, &out)?])
        .await?;
    Ok((out, work))
}

#[worker::send]
async fn voice(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Context>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let w = verified(&state, &uri, &headers, &body).await?;
    let call_sid = w
        .get("CallSid")
        .ok_or_else(|| AppError::BadRequest("CallSid is missing".into()))?
        .to_string();
    let (out, work) = once(&w, &call_sid, async {
        let cs = &w.cs;
        if !cs.conf.is_enabled || !cs.conf.routing_rules.enable_voice {
            let refusal = format!(
                "Thank you for calling {}. This line does not take calls right now. Please send us an e-mail. Goodbye.",
                cs.cfg.support_name
            );
            return Ok((twiml(&[Verb::Say(refusal), Verb::Hangup]), None));
        }
        // A withheld number ("anonymous", "restricted") is an unknown caller: no lookup.
        let from = caller(&w).unwrap_or_else(|_| "anonymous".to_string());
        let reachable = from.starts_with('+');
        let now = time::rfc3339(platform::now());
        let now_ms = platform::now_ms();
        let (mut conv, mut stmts) = conversation(
            cs,
            Channel::Voice,
            &from,
            &our_number(&w),
            Some(&call_sid),
            "Incoming call",
            &now,
        )
        .await?;
        stmts.extend(cs.record(&conv, "system", &format!("Call from {from} started."), None, &now)?);
        let cached = if reachable {
            store::cached_customer(&cs.db, &cs.tenant, &from, now_ms).await?
        } else {
            None
        };
        let work = if cached.is_some() || !reachable {
            conv.state = "ready".into();
            None
        } else {
            conv.state = "lookup".into();
            stmts.push(store::log_lookup(&cs.db, &cs.tenant, false, now_ms)?);
            let (correlation_id, stmt) = cs.prepare_request(&conv, "customer_lookup", None)?;
            stmts.push(stmt);
            Some(Work::Lookup(conv.clone(), correlation_id))
        };
        if cached.is_some() {
            stmts.push(store::log_lookup(&cs.db, &cs.tenant, true, now_ms)?);
        }
        stmts.push(store::update_conversation(&cs.db, &conv, now_ms)?);
        cs.db.batch(stmts).await?;
        let greeting = match cached.as_ref().filter(|c| c.found).and_then(|c| c.name.clone()) {
            Some(name) => format!("Thank you for calling {}, {name}.", cs.cfg.support_name),
            None => format!("Thank you for calling {}.", cs.cfg.support_name),
        };
        Ok((
            twiml(&[
                Verb::Say(greeting),
                Verb::GatherSpeech {
                    action: gather_url(cs, 1, None),
                    prompt: "How can we help you today?".into(),
                },
                Verb::Say("We did not hear anything. Goodbye.".into()),
                Verb::Hangup,
            ]),
            work,
        ))
    })
    .await?;
    announce(&state, &w.cs.tenant).await;
    if let Some(work) = work {
        let cs = w.cs;
        later(&ctx, "call follow-up", async move { work.run(cs).await });
    }
    Ok(xml(out))
}

fn query_number(uri: &Uri, name: &str) -> Option<i64> {
    uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
    })
}

#[worker::send]
async fn gather(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Context>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let w = verified(&state, &uri, &headers, &body).await?;
    let call_sid = w
        .get("CallSid")
        .ok_or_else(|| AppError::BadRequest("CallSid is missing".into()))?
        .to_string();
    let wait = query_number(&uri, "wait");
    let turn = query_number(&uri, "turn").unwrap_or(1);
    let (out, work) = once(&w, &call_sid, async {
        let cs = &w.cs;
        let Some(mut conv) = store::call_conversation(&cs.db, &cs.tenant, &call_sid).await? else {
            return Ok((twiml(&[Verb::Hangup]), None));
        };
        let now = time::rfc3339(platform::now());
        let now_ms = platform::now_ms();
        let next_turn = conv.answer_turn + 1;
        let again = |prompt: &str| Verb::GatherSpeech {
            action: gather_url(cs, next_turn, None),
            prompt: prompt.into(),
        };
        let goodbye = Verb::Say(format!("Thank you for calling {}. Goodbye.", cs.cfg.support_name));
        if let Some(n) = wait {
            // A poll of the answer being prepared for this turn.
            if let Some(answer) = conv.answer.take().filter(|_| turn == conv.answer_turn) {
                conv.polls = 0;
                cs.save(&conv).await?;
                return Ok((
                    twiml(&[
                        Verb::Say(answer),
                        again("Is there anything else I can help you with?"),
                        goodbye,
                        Verb::Hangup,
                    ]),
                    None,
                ));
            }
            if n >= MAX_VOICE_POLLS {
                let mut stmts = cs.record(&conv, "system", "The answer took too long; the caller was told a colleague will call back.", None, &now)?;
                stmts.push(store::update_conversation(&cs.db, &conv, now_ms)?);
                cs.db.batch(stmts).await?;
                return Ok((
                    twiml(&[
                        Verb::Say("Sorry, this is taking longer than expected. A colleague will call you back soon. Goodbye.".into()),
                        Verb::Hangup,
                    ]),
                    None,
                ));
            }
            // Halfway, stop waiting for the CRM: the LLM answers within the remaining polls.
            let work = (n == VOICE_FALLBACK_POLL).then(|| Work::Expire(conv.id.clone()));
            return Ok((
                twiml(&[Verb::Pause(2), Verb::Redirect(gather_url(cs, turn, Some(n + 1)))]),
                work,
            ));
        }
        let speech = w.get("SpeechResult").unwrap_or_default().trim().to_string();
        if speech.is_empty() {
            return Ok((
                twiml(&[again("Sorry, I did not catch that. How can we help?"), goodbye, Verb::Hangup]),
                None,
            ));
        }
        let stmts = cs.record(&conv, "customer", &speech, None, &now)?;
        conv.answer = None;
        conv.polls = 0;
        conv.answer_turn = turn;
        cs.db.batch(stmts).await?;
        cs.db
            .batch(vec![store::start_turn(&cs.db, &conv.id, turn, now_ms)?])
            .await?;
        // While the lookup runs, the question waits for it (appended in SQL: a lookup finishing now cannot lose
        // it); otherwise it is answered now.
        let waiting = conv.state == "lookup"
            && store::append_pending_question(&cs.db, &conv.id, &speech, now_ms).await?;
        let work = (!waiting).then(|| Work::Answer(conv.clone(), speech));
        Ok((
            twiml(&[
                Verb::Say("One moment please.".into()),
                Verb::Pause(2),
                Verb::Redirect(gather_url(cs, turn, Some(1))),
            ]),
            work,
        ))
    })
    .await?;
    if let Some(work) = work {
        let cs = w.cs;
        later(&ctx, "call answer", async move { work.run(cs).await });
    }
    Ok(xml(out))
}
