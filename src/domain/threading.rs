//! Threading: which ticket an incoming e-mail belongs to.
//!
//! The rules, in order, for each incoming message of a poll (oldest first):
//! 1. Already stored (same Gmail message id, or same `Message-ID` header) → [`Decision::Duplicate`].
//! 2. Sent from the mailbox's own address (a reply staff sent from Gmail, often an AI draft they approved):
//!    when rules 3–4 find its ticket → [`Decision::Outgoing`], recorded as the agent's reply; otherwise
//!    [`Decision::Skip`] (a mail loop, or mail unrelated to any ticket).
//! 3. Its `In-Reply-To`, then its `References` (newest first) name a message of a ticket — a customer's mail
//!    or one of our own sent replies → that ticket. This works when the customer's client starts a new
//!    Gmail thread.
//! 4. Its Gmail thread holds a message of a ticket → that ticket.
//! 5. Otherwise auto-replies and bulk mail → [`Decision::Skip`]; anything else opens a new ticket.
//!
//! Tickets are never matched by subject alone. Messages of the same poll see each other: a reply that
//! arrives in the same poll as the message it answers joins the ticket that message opens.

use std::collections::{HashMap, HashSet};

/// What the planner needs to know about one incoming message.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// Gmail's message id (`id` of `users.messages`).
    pub gmail_message_id: String,
    /// Gmail's thread id (`threadId`).
    pub gmail_thread_id: String,
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    /// Ids from `In-Reply-To` then `References` newest first ([`crate::domain::mail::ParsedEmail::referenced_ids`]).
    pub referenced_ids: Vec<String>,
    /// `Some(reason)` for auto-replies and bulk mail.
    pub auto_reason: Option<String>,
    /// Sent from the mailbox's own address.
    pub from_self: bool,
}

/// What storage already knows, for the ids the incoming messages mention (tenant-scoped; thread ids of this
/// mailbox).
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Gmail thread id → ticket id.
    pub threads: HashMap<String, String>,
    /// `Message-ID` → ticket id (customer mail and our sent replies).
    pub message_ids: HashMap<String, String>,
    /// Gmail message ids already stored.
    pub gmail_ids: HashSet<String>,
}

/// The ticket a message joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A ticket already in storage, by ticket id.
    Existing(String),
    /// A ticket opened earlier in this plan: the index of its [`Decision::Open`] among the plan's opens.
    New(usize),
}

/// The planner's verdict for one incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Already stored (same Gmail message id or `Message-ID`): nothing is written.
    Duplicate,
    /// Not stored; the string is the reason recorded on the queue row (loop, auto-reply, bulk mail).
    Skip(String),
    /// Customer mail (or an auto-reply) in a ticket's thread: appended to the target.
    Append(Target),
    /// Our own mail in a ticket's thread: recorded as an agent message on the target.
    Outgoing(Target),
    /// Opens a new ticket; the value is its index among this plan's opens (0, 1, …).
    Open(usize),
}

/// Plans a poll's messages in order. See the module docs for the rules.
pub fn plan(incoming: &[Incoming], known: &Known) -> Vec<Decision> {
    let mut threads: HashMap<&str, Target> = known
        .threads
        .iter()
        .map(|(k, v)| (k.as_str(), Target::Existing(v.clone())))
        .collect();
    let mut ids: HashMap<&str, Target> = known
        .message_ids
        .iter()
        .map(|(k, v)| (k.as_str(), Target::Existing(v.clone())))
        .collect();
    let mut gmail_seen: HashSet<&str> = known.gmail_ids.iter().map(String::as_str).collect();
    let mut opened = 0;

    incoming
        .iter()
        .map(|m| {
            let is_dup = gmail_seen.contains(m.gmail_message_id.as_str())
                || m.message_id
                    .as_deref()
                    .is_some_and(|id| ids.contains_key(id));
            if is_dup {
                return Decision::Duplicate;
            }
            gmail_seen.insert(&m.gmail_message_id);
            let target = m
                .referenced_ids
                .iter()
                .find_map(|r| ids.get(r.as_str()))
                .or_else(|| threads.get(m.gmail_thread_id.as_str()))
                .cloned();
            let (decision, target) = match (target, &m.auto_reason) {
                (Some(t), _) if m.from_self => (Decision::Outgoing(t.clone()), t),
                (None, _) if m.from_self => {
                    return Decision::Skip(
                        "sent from the mailbox's own address, in no ticket's thread".into(),
                    )
                }
                (Some(t), _) => (Decision::Append(t.clone()), t),
                (None, Some(reason)) => return Decision::Skip(reason.clone()),
                (None, None) => {
                    opened += 1;
                    (Decision::Open(opened - 1), Target::New(opened - 1))
                }
            };
            if let Some(id) = &m.message_id {
                ids.insert(id, target.clone());
            }
            threads.entry(&m.gmail_thread_id).or_insert(target);
            decision
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(gid: &str, thread: &str, mid: Option<&str>, refs: &[&str]) -> Incoming {
        Incoming {
            gmail_message_id: gid.into(),
            gmail_thread_id: thread.into(),
            message_id: mid.map(Into::into),
            referenced_ids: refs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn known(threads: &[(&str, &str)], ids: &[(&str, &str)], gmail: &[&str]) -> Known {
        Known {
            threads: threads
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            message_ids: ids
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            gmail_ids: gmail.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn new_mail_opens_and_replies_in_the_same_poll_join() {
        let d = plan(
            &[
                msg("g1", "t1", Some("a@x"), &[]),
                msg("g2", "t2", Some("b@x"), &["a@x"]), // new Gmail thread, but references a@x
                msg("g3", "t1", None, &[]),             // same Gmail thread, no headers
                msg("g4", "t4", Some("c@x"), &[]),
            ],
            &Known::default(),
        );
        assert_eq!(
            d,
            vec![
                Decision::Open(0),
                Decision::Append(Target::New(0)),
                Decision::Append(Target::New(0)),
                Decision::Open(1),
            ]
        );
    }

    #[test]
    fn references_to_our_sent_reply_find_the_ticket() {
        let k = known(&[], &[("our-reply@mail.gmail.com", "T1")], &[]);
        let d = plan(
            &[msg(
                "g9",
                "fresh-thread",
                Some("z@x"),
                &["our-reply@mail.gmail.com"],
            )],
            &k,
        );
        assert_eq!(d, vec![Decision::Append(Target::Existing("T1".into()))]);
    }

    #[test]
    fn explicit_references_win_over_the_gmail_thread() {
        let k = known(&[("t1", "T-thread")], &[("a@x", "T-ref")], &[]);
        let d = plan(&[msg("g1", "t1", None, &["a@x"])], &k);
        assert_eq!(d, vec![Decision::Append(Target::Existing("T-ref".into()))]);
    }

    #[test]
    fn duplicates_by_gmail_id_and_message_id() {
        let k = known(&[], &[("a@x", "T1")], &["g1"]);
        let d = plan(
            &[
                msg("g1", "t1", Some("new@x"), &[]),
                msg("g2", "t2", Some("a@x"), &[]),
                msg("g3", "t3", Some("n@x"), &[]),
                msg("g4", "t4", Some("n@x"), &[]), // same mail delivered twice in one poll
            ],
            &k,
        );
        assert_eq!(
            d,
            vec![
                Decision::Duplicate,
                Decision::Duplicate,
                Decision::Open(0),
                Decision::Duplicate
            ]
        );
    }

    #[test]
    fn subject_alone_never_threads() {
        // Two unrelated messages with the same subject: Incoming has no subject at all, by design.
        let d = plan(
            &[
                msg("g1", "t1", Some("a@x"), &[]),
                msg("g2", "t2", Some("b@x"), &[]),
            ],
            &Known::default(),
        );
        assert_eq!(d, vec![Decision::Open(0), Decision::Open(1)]);
    }

    #[test]
    fn loops_and_unthreaded_auto_replies_are_skipped_but_threaded_ones_and_staff_replies_recorded()
    {
        let mut own = msg("g1", "t1", Some("a@x"), &[]);
        own.from_self = true;
        let mut staff_reply = msg("g4", "t9", Some("d@x"), &["c@x"]);
        staff_reply.from_self = true;
        let mut ooo = msg("g2", "t2", Some("b@x"), &[]);
        ooo.auto_reason = Some("auto-reply".into());
        let mut ooo_in_thread = msg("g3", "t9", Some("c@x"), &[]);
        ooo_in_thread.auto_reason = Some("auto-reply".into());
        let k = known(&[("t9", "T9")], &[], &[]);
        let d = plan(&[own, ooo, ooo_in_thread, staff_reply], &k);
        assert!(matches!(d[0], Decision::Skip(_)));
        assert_eq!(d[3], Decision::Outgoing(Target::Existing("T9".into())));
        assert_eq!(d[1], Decision::Skip("auto-reply".into()));
        assert_eq!(d[2], Decision::Append(Target::Existing("T9".into())));
    }
}
