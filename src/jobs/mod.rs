//! Cron work: the Gmail poll ([`email_poll`]) and AI drafting ([`drafts`]), with the mailbox's access token
//! ([`mailbox`]) and reply sending ([`reply`], shared with the reply route); the phone/SMS conversation engine
//! ([`cs`]) run after webhooks, callbacks and by the per-minute sweep.

pub mod crm;
pub mod cs;
pub mod drafts;
pub mod email_poll;
pub mod mailbox;
pub mod meta;
pub mod reply;
pub mod support;
