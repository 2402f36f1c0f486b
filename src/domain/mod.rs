//! Pure business logic: no `worker` import, no I/O. Everything here is unit-tested with host `cargo test`.
//!
//! - [`ticket`]: the ticket vocabulary (status, priority, category, channel, sender type) and patches.
//! - [`triage`]: priority and category from keywords, SLA due time from priority.
//! - [`mail`]: RFC 5322 parsing (through `mail-parser`) into what ingestion needs.
//! - [`threading`]: which ticket an incoming e-mail joins, or whether it opens one.
//! - [`retry`]: backoff and give-up policy for queued work.
//! - [`masking`]: card numbers and similar secrets removed from text sent to an LLM.
//! - [`draft`]: reply composition (prompt, templates, the RFC 5322 reply Gmail stores).
//! - [`auth`]: JWT claims and password hashes.
//! - [`access`]: what each role may see, change and assign.
//! - [`fields`]: validated request fields (e-mail, names, tenant ids, tags, shortcuts, passwords).
//! - [`live`]: the live-update protocol (ticket changes, presence).
//! - [`search`]: search box input → FTS5 query.
//! - [`stats`]: percentiles and day ranges for the reports.
//! - [`crm`]: the unified CRM customer/ticket vocabulary and each vendor's status/priority mapping.
//! - [`cs`]: phone/SMS customer service: config, keywords, lead capture, Zapier callback signatures.
//! - [`customers`]: customer identities (e-mail, phone, PSID, IGSID) and registry input.
//! - [`meta`]: Messenger/Instagram webhook payloads, their signature, the 24-hour window.
//! - [`phone`]: E.164 normalisation.
//! - [`rooms`]: live chat / WebRTC signaling protocol, room capacity, assignment, TURN credentials.
//! - [`twilio`]: webhook signatures and TwiML.
//! - [`time`]: RFC 3339 formatting used in storage and the API.

pub mod access;
pub mod auth;
pub mod crm;
pub mod cs;
pub mod customers;
pub mod draft;
pub mod fields;
pub mod live;
pub mod mail;
pub mod masking;
pub mod meta;
pub mod phone;
pub mod retry;
pub mod rooms;
pub mod search;
pub mod stats;
pub mod threading;
pub mod ticket;
pub mod time;
pub mod triage;
pub mod twilio;
