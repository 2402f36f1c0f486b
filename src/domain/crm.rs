//! The unified CRM vocabulary of the old connectors service: customers and tickets, and the documented mapping of
//! each vendor's statuses and priorities onto it.
//!
//! | unified | Zendesk status | HubSpot pipeline stage (default pipeline) |
//! |---|---|---|
//! | new | new | 1 (New) |
//! | open | open | 3 (Waiting on us) |
//! | pending | pending, hold | 2 (Waiting on contact) |
//! | solved | solved | 4 (Closed) when read back as solved is not distinguishable: see `closed` |
//! | closed | closed | 4 (Closed) |
//!
//! Salesforce Case: New ↔ new, Working/Escalated/other open values → open (new cases are Working when set
//! open), On Hold ↔ pending, Closed ↔ closed (solved is set as Closed); a custom value with `IsClosed` → closed.
//! Priority High ↔ high (urgent is set as High), Medium ↔ medium, Low ↔ low.
//!
//! Priorities: Zendesk low/normal/high/urgent ↔ low/medium/high/urgent; HubSpot LOW/MEDIUM/HIGH/URGENT ↔ the same.
//! Freshdesk: status 2 Open ↔ open (new is set as Open), 3 Pending ↔ pending, 4 Resolved ↔ solved, 5 Closed ↔
//! closed; priority 1 Low, 2 Medium, 3 High, 4 Urgent.

use serde::{Deserialize, Serialize};

/// A CRM vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmType {
    /// Salesforce (REST API, OAuth 2.0 refresh token).
    Salesforce,
    /// Zendesk Support (`{email}/token:{api_token}`).
    Zendesk,
    /// HubSpot CRM (private app token).
    Hubspot,
    /// Freshdesk (API key).
    Freshdesk,
    /// LiveChat (Agent Chat API, handoffs).
    Livechat,
}

impl CrmType {
    /// Wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            CrmType::Salesforce => "salesforce",
            CrmType::Zendesk => "zendesk",
            CrmType::Hubspot => "hubspot",
            CrmType::Freshdesk => "freshdesk",
            CrmType::Livechat => "livechat",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<CrmType> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "salesforce" => CrmType::Salesforce,
            "zendesk" => CrmType::Zendesk,
            "hubspot" => CrmType::Hubspot,
            "freshdesk" => CrmType::Freshdesk,
            "livechat" => CrmType::Livechat,
            _ => return None,
        })
    }
}

/// A unified customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// The vendor's id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Tier / segment (Zendesk: the `tier` user field or organisation; HubSpot: lifecycle stage).
    pub tier: Option<String>,
    /// Vendor-specific extras.
    pub metadata: serde_json::Value,
}

/// A one-line summary of a CRM customer for an AI prompt: name, tier, id, and the metadata fields worth knowing
/// (open tickets, recent orders) when the vendor returned them.
pub fn summary(kind: &str, c: &Customer) -> String {
    let mut parts = vec![format!("{kind} customer {}", c.id)];
    if let Some(n) = &c.name {
        parts.push(format!("name {n}"));
    }
    if let Some(t) = &c.tier {
        parts.push(format!("tier {t}"));
    }
    if let Some(open) = c.metadata.get("open_tickets").and_then(|v| v.as_array()) {
        let list: Vec<String> = open
            .iter()
            .map(|t| {
                let field = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                let subject = field("subject");
                let sep = if subject.is_empty() { "" } else { " " };
                format!("#{}{sep}{subject} [{}]", field("id"), field("status"))
            })
            .collect();
        parts.push(if list.is_empty() {
            "no open CRM tickets".to_string()
        } else {
            format!("open CRM tickets {} ({})", list.len(), list.join("; "))
        });
    }
    for key in ["recent_orders", "organization_id", "hs_lead_status"] {
        if let Some(v) = c.metadata.get(key).filter(|v| !v.is_null()) {
            parts.push(format!("{key} {v}"));
        }
    }
    parts.join(", ")
}

/// Unified ticket statuses.
pub const STATUSES: &[&str] = &["new", "open", "pending", "solved", "closed"];
/// Unified ticket priorities.
pub const PRIORITIES: &[&str] = &["low", "medium", "high", "urgent"];

/// A unified ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// The vendor's id.
    pub id: String,
    /// Subject.
    pub subject: Option<String>,
    /// Description / first comment.
    pub description: Option<String>,
    /// One of [`STATUSES`].
    pub status: String,
    /// One of [`PRIORITIES`].
    pub priority: String,
    /// The vendor's customer id.
    pub customer_id: Option<String>,
    /// RFC 3339.
    pub created_at: Option<String>,
    /// RFC 3339.
    pub updated_at: Option<String>,
    /// Vendor-specific extras.
    pub metadata: serde_json::Value,
}

/// Zendesk status → unified.
pub fn zendesk_status(s: &str) -> &'static str {
    match s {
        "new" => "new",
        "open" => "open",
        "pending" | "hold" => "pending",
        "solved" => "solved",
        "closed" => "closed",
        _ => "open",
    }
}

/// Unified status → Zendesk (a ticket cannot be set `closed` through the API: `solved`).
pub fn to_zendesk_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "new" => "new",
        "open" => "open",
        "pending" => "pending",
        "solved" | "closed" => "solved",
        _ => return None,
    })
}

/// Zendesk priority → unified (`normal` is medium; none is medium).
pub fn zendesk_priority(p: Option<&str>) -> &'static str {
    match p {
        Some("low") => "low",
        Some("high") => "high",
        Some("urgent") => "urgent",
        _ => "medium",
    }
}

/// Unified priority → Zendesk.
pub fn to_zendesk_priority(p: &str) -> Option<&'static str> {
    Some(match p {
        "low" => "low",
        "medium" => "normal",
        "high" => "high",
        "urgent" => "urgent",
        _ => return None,
    })
}

/// HubSpot default-pipeline stage → unified.
pub fn hubspot_status(stage: &str) -> &'static str {
    match stage {
        "1" => "new",
        "2" => "pending",
        "3" => "open",
        "4" => "closed",
        _ => "open",
    }
}

/// Unified status → HubSpot default-pipeline stage.
pub fn to_hubspot_stage(s: &str) -> Option<&'static str> {
    Some(match s {
        "new" => "1",
        "pending" => "2",
        "open" => "3",
        "solved" | "closed" => "4",
        _ => return None,
    })
}

/// HubSpot priority → unified.
pub fn hubspot_priority(p: Option<&str>) -> &'static str {
    match p {
        Some("LOW") => "low",
        Some("HIGH") => "high",
        Some("URGENT") => "urgent",
        _ => "medium",
    }
}

/// Unified priority → HubSpot.
pub fn to_hubspot_priority(p: &str) -> Option<&'static str> {
    Some(match p {
        "low" => "LOW",
        "medium" => "MEDIUM",
        "high" => "HIGH",
        "urgent" => "URGENT",
        _ => return None,
    })
}

/// Freshdesk status (2 Open, 3 Pending, 4 Resolved, 5 Closed) → unified.
pub fn freshdesk_status(s: i64) -> &'static str {
    match s {
        3 => "pending",
        4 => "solved",
        5 => "closed",
        _ => "open",
    }
}

/// Unified status → Freshdesk (`new` is Open).
pub fn to_freshdesk_status(s: &str) -> Option<i64> {
    Some(match s {
        "new" | "open" => 2,
        "pending" => 3,
        "solved" => 4,
        "closed" => 5,
        _ => return None,
    })
}

/// Freshdesk priority (1 Low … 4 Urgent) → unified.
pub fn freshdesk_priority(p: i64) -> &'static str {
    match p {
        1 => "low",
        3 => "high",
        4 => "urgent",
        _ => "medium",
    }
}

/// Unified priority → Freshdesk.
pub fn to_freshdesk_priority(p: &str) -> Option<i64> {
    Some(match p {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "urgent" => 4,
        _ => return None,
    })
}

/// Salesforce Case status → unified. The standard picklist is New, Working, Escalated, Closed (many orgs add
/// On Hold); a custom value counts as closed when the case's `IsClosed` says so, else open.
pub fn salesforce_status(s: &str, is_closed: bool) -> &'static str {
    match s {
        "New" => "new",
        "On Hold" => "pending",
        "Closed" => "closed",
        _ if is_closed => "closed",
        _ => "open",
    }
}

/// Unified status → Salesforce Case status (`pending` needs the common On Hold value; an org without it
/// answers 400 and the API 422 `crm_invalid`; `solved` is Closed).
pub fn to_salesforce_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "new" => "New",
        "open" => "Working",
        "pending" => "On Hold",
        "solved" | "closed" => "Closed",
        _ => return None,
    })
}

/// Salesforce Case priority (High, Medium, Low) → unified; Salesforce has no urgent.
pub fn salesforce_priority(p: Option<&str>) -> &'static str {
    match p {
        Some("High") => "high",
        Some("Low") => "low",
        _ => "medium",
    }
}

/// Unified priority → Salesforce (`urgent` becomes High).
pub fn to_salesforce_priority(p: &str) -> Option<&'static str> {
    Some(match p {
        "low" => "Low",
        "medium" => "Medium",
        "high" | "urgent" => "High",
        _ => return None,
    })
}

/// Edgedesk ticket status → unified CRM status (ticket sync): open → open, pending → pending, resolved → solved,
/// closed → closed.
pub fn from_edgedesk_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "open" => "open",
        "pending" => "pending",
        "resolved" => "solved",
        "closed" => "closed",
        _ => return None,
    })
}

/// Unified CRM status → Edgedesk ticket status (ticket sync): new/open → open, pending → pending, solved →
/// resolved, closed → closed.
pub fn to_edgedesk_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "new" | "open" => "open",
        "pending" => "pending",
        "solved" => "resolved",
        "closed" => "closed",
        _ => return None,
    })
}

/// How long to wait before retry `attempt` (1-based) of a rate-limited or failed call, in ms: the vendor's
/// `Retry-After` when given, else 250 ms · 2^(attempt−1) with up to 50 % random jitter (`jitter` in 0..1).
pub fn retry_delay_ms(attempt: u32, retry_after_secs: Option<u64>, jitter: f64) -> u64 {
    if let Some(s) = retry_after_secs {
        return s.saturating_mul(1000);
    }
    let base = 250u64.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    base + (base as f64 * 0.5 * jitter.clamp(0.0, 1.0)) as u64
}

/// Longest subject every CRM takes, in characters (Salesforce Case `Subject` and Freshdesk `subject`: 255).
pub const MAX_SUBJECT_CHARS: usize = 255;

/// The subject of the CRM ticket mirroring an Edgedesk ticket: `[TKT-000001] <subject>`, cut to
/// [`MAX_SUBJECT_CHARS`] characters (with `…`) so no vendor refuses it as too long. The same input always gives the
/// same subject, which the ticket sync relies on to find a ticket a lost create made.
pub fn mirror_subject(ticket_number: &str, subject: &str) -> String {
    let clean: String = subject.chars().filter(|c| !c.is_control()).collect();
    let full = format!("[{ticket_number}] {}", clean.trim());
    if full.chars().count() <= MAX_SUBJECT_CHARS {
        return full;
    }
    let mut cut: String = full.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The mark a mirrored ticket carries at the CRM (Zendesk `external_id`, Freshdesk tag) so that a create whose answer
/// was lost can be found: `edgedesk-<ticket number>-<first 8 hex digits of the ticket id>`, lower case, at most 32
/// characters (Freshdesk refuses longer tags).
pub fn mirror_marker(ticket_number: &str, ticket_id: &str) -> String {
    let hex: String = ticket_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(8)
        .collect();
    let number: String = ticket_number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32 - "edgedesk--".len() - hex.len())
        .collect();
    format!("edgedesk-{number}-{hex}").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_marker_fits_a_freshdesk_tag() {
        let m = mirror_marker("TKT-000123", "1a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d");
        assert_eq!(m, "edgedesk-tkt-000123-1a2b3c4d");
        assert!(mirror_marker("TKT-123456789012345678", "ffffffff-0000").len() <= 32);
        assert_ne!(
            m,
            mirror_marker("TKT-000124", "1a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d")
        );
    }

    #[test]
    fn mirror_subject_is_stable_and_fits() {
        assert_eq!(
            mirror_subject("TKT-000001", " Tent pole snapped "),
            "[TKT-000001] Tent pole snapped"
        );
        let long = "ä".repeat(400);
        let s = mirror_subject("TKT-000002", &long);
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS);
        assert!(s.starts_with("[TKT-000002] ää") && s.ends_with('…'));
        assert_eq!(s, mirror_subject("TKT-000002", &long));
        let exact = "x".repeat(MAX_SUBJECT_CHARS - "[TKT-000003] ".len());
        assert_eq!(
            mirror_subject("TKT-000003", &exact).chars().count(),
            MAX_SUBJECT_CHARS
        );
        assert!(!mirror_subject("TKT-000003", &exact).ends_with('…'));
        assert_eq!(
            mirror_subject("TKT-000004", "Line\r\nbreak\t"),
            "[TKT-000004] Linebreak"
        );
    }

    #[test]
    fn status_tables_round_trip() {
        for s in STATUSES {
            let z = to_zendesk_status(s).unwrap();
            let back = zendesk_status(z);
            assert!(back == *s || (*s == "closed" && back == "solved"), "{s}");
            let h = to_hubspot_stage(s).unwrap();
            let back = hubspot_status(h);
            assert!(back == *s || (*s == "solved" && back == "closed"), "{s}");
        }
        assert_eq!(zendesk_status("hold"), "pending");
        assert_eq!(to_zendesk_status("bogus"), None);
    }

    #[test]
    fn freshdesk_tables() {
        for s in ["open", "pending", "solved", "closed"] {
            assert_eq!(freshdesk_status(to_freshdesk_status(s).unwrap()), s);
        }
        assert_eq!(to_freshdesk_status("new"), Some(2));
        for p in PRIORITIES {
            assert_eq!(freshdesk_priority(to_freshdesk_priority(p).unwrap()), *p);
        }
    }

    #[test]
    fn priority_tables() {
        for p in PRIORITIES {
            assert_eq!(zendesk_priority(to_zendesk_priority(p)), *p);
            assert_eq!(hubspot_priority(to_hubspot_priority(p)), *p);
        }
        assert_eq!(zendesk_priority(None), "medium");
    }

    #[test]
    fn salesforce_tables() {
        for s in ["new", "open", "pending", "closed"] {
            assert_eq!(
                salesforce_status(to_salesforce_status(s).unwrap(), false),
                s
            );
        }
        assert_eq!(to_salesforce_status("solved"), Some("Closed"));
        assert_eq!(salesforce_status("Escalated", false), "open");
        assert_eq!(salesforce_status("Resolved by bot", true), "closed");
        for p in ["low", "medium", "high"] {
            assert_eq!(salesforce_priority(to_salesforce_priority(p)), p);
        }
        assert_eq!(to_salesforce_priority("urgent"), Some("High"));
    }

    #[test]
    fn summary_lists_open_tickets() {
        let c = Customer {
            id: "7".into(),
            name: Some("Ana".into()),
            email: None,
            phone: None,
            tier: Some("gold".into()),
            metadata: serde_json::json!({"open_tickets": [
                {"id": "9001", "subject": "Broken zipper", "status": "pending"},
                {"id": "9002", "subject": null, "status": "open"}]}),
        };
        assert_eq!(
            summary("zendesk", &c),
            "zendesk customer 7, name Ana, tier gold, open CRM tickets 2 (#9001 Broken zipper [pending]; #9002 [open])"
        );
    }

    #[test]
    fn edgedesk_status_round_trip() {
        for s in ["open", "pending", "resolved", "closed"] {
            assert_eq!(
                to_edgedesk_status(from_edgedesk_status(s).unwrap()),
                Some(s)
            );
        }
        assert_eq!(to_edgedesk_status("new"), Some("open"));
        assert_eq!(from_edgedesk_status("archived"), None);
    }

    #[test]
    fn retry_delays() {
        assert_eq!(retry_delay_ms(1, Some(3), 0.9), 3000);
        assert_eq!(retry_delay_ms(1, None, 0.0), 250);
        assert_eq!(retry_delay_ms(3, None, 0.0), 1000);
        assert_eq!(retry_delay_ms(3, None, 1.0), 1500);
        assert_eq!(CrmType::parse(" HubSpot "), Some(CrmType::Hubspot));
    }
}
