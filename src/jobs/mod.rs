//! Cron work: the Gmail poll ([`email_poll`]) and AI drafting ([`drafts`]).

pub mod drafts;
pub mod email_poll;
pub mod mailbox;
