//! The ticket vocabulary shared by storage, the API and the jobs.
//!
//! Every enum has a lower-case wire form (`as_str`) used in D1 and JSON, and parses from it with
//! [`std::str::FromStr`]; an unknown value is a [`ParseError`] naming the field and the allowed values.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not one of a field's allowed values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be one of {allowed}; got {got:?}")]
pub struct ParseError {
    /// The field name as the API spells it (`status`, `priority`, …).
    pub field: &'static str,
    /// The allowed values, separated by single spaces (`open pending resolved closed`).
    pub allowed: &'static str,
    /// What was given.
    pub got: String,
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident, $field:literal, { $($(#[$vm:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire form used in D1 and JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(ParseError {
                        field: $field,
                        allowed: concat!($($wire, " "),+).trim_ascii_end(),
                        got: s.to_string(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

wire_enum!(
    /// Lifecycle of a ticket. `pending` waits on the customer; a customer message moves any status back to `open`.
    Status, "status", {
        /// Waiting on staff: every new ticket, and any ticket a customer writes to again.
        Open => "open",
        /// Waiting on the customer.
        Pending => "pending",
        /// Answered; `resolved_at` is set.
        Resolved => "resolved",
        /// Done; a customer message still reopens it.
        Closed => "closed",
    }
);

wire_enum!(
    /// How fast a ticket must be answered; drives the SLA (see [`crate::domain::triage::sla_hours`]).
    Priority, "priority", {
        /// First response due within 1 hour.
        Urgent => "urgent",
        /// First response due within 4 hours.
        High => "high",
        /// First response due within 24 hours; the default when no keyword matches.
        Medium => "medium",
        /// First response due within 72 hours.
        Low => "low",
    }
);

wire_enum!(
    /// What a ticket is about, from keyword triage or set by staff.
    Category, "category", {
        /// Orders, purchases, delivery and tracking.
        Order => "order",
        /// Products: quality, defects, sizes, colors, descriptions.
        Product => "product",
        /// Invoices, payments, charges, refunds and prices.
        Billing => "billing",
        /// Login, passwords, accounts, errors and bugs.
        Technical => "technical",
        /// Anything else; the default when no keyword matches.
        Other => "other",
    }
);

wire_enum!(
    /// Where a ticket came from.
    Channel, "channel", {
        /// E-mail through Gmail.
        Email => "email",
        /// Text messages through Twilio.
        Sms => "sms",
        /// Phone calls: Twilio calls, and WebRTC calls from the website widget (their transcript).
        Voice => "voice",
        /// Live chat from the website widget (its transcript).
        Chat => "chat",
        /// Facebook Messenger messages.
        Facebook => "facebook",
        /// Instagram messages.
        Instagram => "instagram",
    }
);

wire_enum!(
    /// Who wrote a ticket message.
    SenderType, "sender_type", {
        /// The customer: incoming mail.
        Customer => "customer",
        /// Staff: replies from the API, replies sent from Gmail, and AI replies sent in `auto` mode.
        Agent => "agent",
        /// Edgedesk itself (merges and other events shown in the thread); left out of LLM prompts.
        System => "system",
        /// An internal note by staff: never sent to the customer, left out of LLM prompts.
        Note => "note",
    }
);

wire_enum!(
    /// What a staff account may do, highest first: `owner` > `admin` > `supervisor` > `team_lead` > `agent`
    /// (see [`crate::domain::access`] for what each may do).
    Role, "role", {
        /// Everything, including granting `owner`; the first owner is created from `ADMIN_EMAIL`.
        Owner => "owner",
        /// Staff, settings and canned responses, plus everything a supervisor may do.
        Admin => "admin",
        /// Every ticket of the tenant, reports, assignment to anyone.
        Supervisor => "supervisor",
        /// Tickets of their team; assignment within the team.
        TeamLead => "team_lead",
        /// Tickets assigned to them or unassigned.
        Agent => "agent",
    }
);

wire_enum!(
    /// A saved inbox view (`GET /api/v1/tickets?view=`).
    View, "view", {
        /// Every ticket the caller may see.
        All => "all",
        /// Assigned to the caller.
        Mine => "mine",
        /// Unassigned, open or pending.
        Unassigned => "unassigned",
        /// Open or pending.
        Open => "open",
        /// No first response yet, open or pending, due within [`SLA_AT_RISK_HOURS`].
        SlaAtRisk => "sla_at_risk",
        /// No first response yet, open or pending, past due.
        SlaBreached => "sla_breached",
    }
);

/// How close to its due time an unanswered ticket counts as "at risk", in hours.
pub const SLA_AT_RISK_HOURS: i64 = 2;

wire_enum!(
    /// Order of the ticket list.
    Sort, "sort", {
        /// Newest first (creation time).
        Newest => "newest",
        /// Oldest first.
        Oldest => "oldest",
        /// Last changed first.
        Updated => "updated",
        /// Urgent first, then high, medium, low; oldest first within a priority.
        Priority => "priority",
        /// Soonest SLA due time first; tickets without one last.
        Sla => "sla",
    }
);

impl Role {
    /// Rank for comparisons: `owner` 5 … `agent` 1.
    pub fn rank(self) -> u8 {
        match self {
            Role::Owner => 5,
            Role::Admin => 4,
            Role::Supervisor => 3,
            Role::TeamLead => 2,
            Role::Agent => 1,
        }
    }

    /// Whether this role is `other` or higher.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    /// Owners and admins run administrative routes (staff, settings, e-mail poll).
    pub fn is_admin(self) -> bool {
        self.at_least(Role::Admin)
    }
}

impl Status {
    /// How `resolved_at` changes when a ticket is set to this status: `resolved` sets it to `now`, `open` and
    /// `pending` clear it (the ticket is unresolved again), `closed` keeps it (a resolved ticket that is closed
    /// stays in the resolution statistics). `None` = leave as is.
    pub fn resolved_at_after(self, now: &str) -> Option<Option<String>> {
        match self {
            Status::Resolved => Some(Some(now.to_string())),
            Status::Closed => None,
            Status::Open | Status::Pending => Some(None),
        }
    }

    /// The status after a customer writes again: every status but `open` goes back to `open`.
    pub fn on_customer_message(self) -> Status {
        Status::Open
    }
}

/// Formats a ticket number: `TKT-` and the sequence zero-padded to six digits (`TKT-000042`); longer
/// sequences keep all their digits (`TKT-1234567`).
pub fn ticket_number(seq: i64) -> String {
    format!("TKT-{seq:06}")
}

/// True when `s` looks like a ticket number (`TKT-` and digits), so a route can tell it from a ticket id.
pub fn is_ticket_number(s: &str) -> bool {
    s.strip_prefix("TKT-")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_reject_unknown() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(*s));
        }
        assert_eq!(" URGENT ".parse::<Priority>(), Ok(Priority::Urgent));
        let err = "soon".parse::<Priority>().unwrap_err();
        assert_eq!(err.field, "priority");
        assert_eq!(err.allowed, "urgent high medium low");
        assert!(err.to_string().contains("\"soon\""));
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Owner.at_least(Role::Admin));
        assert!(Role::Supervisor.at_least(Role::TeamLead));
        assert!(!Role::TeamLead.at_least(Role::Supervisor));
        assert!(Role::Admin.is_admin() && !Role::Supervisor.is_admin());
        assert_eq!("team_lead".parse::<Role>(), Ok(Role::TeamLead));
    }

    #[test]
    fn resolved_at_follows_the_status() {
        assert_eq!(
            Status::Resolved.resolved_at_after("t"),
            Some(Some("t".into()))
        );
        assert_eq!(Status::Closed.resolved_at_after("t"), None);
        assert_eq!(Status::Pending.resolved_at_after("t"), Some(None));
    }

    #[test]
    fn customer_message_reopens() {
        assert_eq!(Status::Resolved.on_customer_message(), Status::Open);
        assert_eq!(Status::Pending.on_customer_message(), Status::Open);
    }

    #[test]
    fn ticket_numbers() {
        assert_eq!(ticket_number(1), "TKT-000001");
        assert_eq!(ticket_number(1_234_567), "TKT-1234567");
        assert!(is_ticket_number("TKT-000001"));
        assert!(!is_ticket_number("TKT-"));
        assert!(!is_ticket_number("8c1f-TKT"));
    }
}
