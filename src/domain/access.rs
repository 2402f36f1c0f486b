//! Who may see, change and assign what: the role rules of the API, as pure functions.
//!
//! Roles, highest first: `owner` > `admin` > `supervisor` > `team_lead` > `agent`.
//! - agent: tickets assigned to them or unassigned; may take a ticket or give their own back.
//! - team_lead: also tickets of members of their team; assigns within the team.
//! - supervisor: every ticket of the tenant, reports, assignment to anyone.
//! - admin: also staff, canned responses and settings. owner: also grants `owner`.
//!
//! Tenant isolation is not decided here: every query is scoped to the caller's tenant before these rules run,
//! so another tenant's ticket is simply not found (404). A ticket of the caller's tenant that these rules hide
//! answers 403.

use super::ticket::Role;

/// The caller, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Staff id.
    pub id: String,
    /// Current role (re-read from D1 on every request).
    pub role: Role,
    /// Team name, if any.
    pub team: Option<String>,
}

/// Which tickets an actor sees, as a filter the storage layer turns into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every ticket of the tenant (supervisor and above).
    All,
    /// Unassigned tickets, the actor's own and, when `team` is set, those of the team's members.
    Limited {
        /// The actor's staff id.
        me: String,
        /// The actor's team when they lead one (team leads only).
        team: Option<String>,
    },
}

/// The ticket a rule is asked about: its assignee and the assignee's team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment<'a> {
    /// Staff id of the assignee; `None` when unassigned.
    pub assignee: Option<&'a str>,
    /// The assignee's team.
    pub assignee_team: Option<&'a str>,
}

impl Actor {
    /// Which tickets this actor sees.
    pub fn visibility(&self) -> Visibility {
        if self.role.at_least(Role::Supervisor) {
            Visibility::All
        } else {
            Visibility::Limited {
                me: self.id.clone(),
                team: self.team.clone().filter(|_| self.role == Role::TeamLead),
            }
        }
    }

    fn leads(&self, team: Option<&str>) -> bool {
        self.role == Role::TeamLead && team.is_some() && self.team.as_deref() == team
    }

    /// Whether the actor may see and work a ticket with this assignment.
    pub fn can_see(&self, t: Assignment<'_>) -> bool {
        match t.assignee {
            _ if self.role.at_least(Role::Supervisor) => true,
            None => true,
            Some(a) if a == self.id => true,
            Some(_) => self.leads(t.assignee_team),
        }
    }

    /// Whether the actor may move a ticket from `from` to the assignee `to` (`None` = unassign).
    /// Err is the reason, for a 403 message.
    pub fn can_assign(&self, from: Assignment<'_>, to: Assignment<'_>) -> Result<(), &'static str> {
        if self.role.at_least(Role::Supervisor) {
            return Ok(());
        }
        if !self.can_see(from) {
            return Err("you may not work this ticket");
        }
        let ok = match to.assignee {
            Some(a) if a == self.id => true,
            Some(_) => self.leads(to.assignee_team),
            // Unassigning: your own ticket, or one of your team's.
            None => from.assignee.is_none_or(|a| a == self.id) || self.leads(from.assignee_team),
        };
        if ok {
            Ok(())
        } else if self.role == Role::TeamLead {
            Err("team leads assign only to themselves or members of their team")
        } else {
            Err("agents assign tickets only to themselves")
        }
    }

    /// Whether the actor may create staff with `role`, or change a member whose role is `current` to `role`.
    /// Admins manage everyone below owner; only owners grant or change `owner`.
    pub fn can_manage(&self, current: Option<Role>, role: Role) -> Result<(), &'static str> {
        if !self.role.is_admin() {
            return Err("only admins and owners manage staff");
        }
        let touches_owner = role == Role::Owner || current == Some(Role::Owner);
        if touches_owner && self.role != Role::Owner {
            return Err("only an owner may grant or change the owner role");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, team: Option<&str>) -> Actor {
        Actor {
            id: "me".into(),
            role,
            team: team.map(String::from),
        }
    }

    fn t<'a>(assignee: Option<&'a str>, team: Option<&'a str>) -> Assignment<'a> {
        Assignment {
            assignee,
            assignee_team: team,
        }
    }

    #[test]
    fn agents_see_their_own_and_unassigned() {
        let a = actor(Role::Agent, Some("red"));
        assert!(a.can_see(t(None, None)));
        assert!(a.can_see(t(Some("me"), Some("red"))));
        assert!(
            !a.can_see(t(Some("bob"), Some("red"))),
            "agents do not lead"
        );
        assert_eq!(
            a.visibility(),
            Visibility::Limited {
                me: "me".into(),
                team: None
            }
        );
    }

    #[test]
    fn team_leads_see_their_team() {
        let l = actor(Role::TeamLead, Some("red"));
        assert!(l.can_see(t(Some("bob"), Some("red"))));
        assert!(!l.can_see(t(Some("eve"), Some("blue"))));
        assert!(!l.can_see(t(Some("eve"), None)));
        let no_team = actor(Role::TeamLead, None);
        assert!(!no_team.can_see(t(Some("eve"), None)));
    }

    #[test]
    fn supervisors_see_all() {
        for r in [Role::Supervisor, Role::Admin, Role::Owner] {
            assert!(actor(r, None).can_see(t(Some("x"), Some("blue"))));
            assert_eq!(actor(r, None).visibility(), Visibility::All);
        }
    }

    #[test]
    fn assignment_rules() {
        let a = actor(Role::Agent, None);
        assert!(a.can_assign(t(None, None), t(Some("me"), None)).is_ok());
        assert!(a.can_assign(t(Some("me"), None), t(None, None)).is_ok());
        assert!(a.can_assign(t(None, None), t(Some("bob"), None)).is_err());
        assert!(a
            .can_assign(t(Some("bob"), None), t(Some("me"), None))
            .is_err());

        let l = actor(Role::TeamLead, Some("red"));
        assert!(l
            .can_assign(t(None, None), t(Some("bob"), Some("red")))
            .is_ok());
        assert!(l
            .can_assign(t(Some("bob"), Some("red")), t(None, None))
            .is_ok());
        assert!(l
            .can_assign(t(None, None), t(Some("eve"), Some("blue")))
            .is_err());

        let s = actor(Role::Supervisor, None);
        assert!(s
            .can_assign(t(Some("eve"), Some("blue")), t(Some("bob"), Some("red")))
            .is_ok());
    }

    #[test]
    fn managing_staff() {
        assert!(actor(Role::Supervisor, None)
            .can_manage(None, Role::Agent)
            .is_err());
        assert!(actor(Role::Admin, None)
            .can_manage(None, Role::Admin)
            .is_ok());
        assert!(actor(Role::Admin, None)
            .can_manage(None, Role::Owner)
            .is_err());
        assert!(actor(Role::Admin, None)
            .can_manage(Some(Role::Owner), Role::Agent)
            .is_err());
        assert!(actor(Role::Owner, None)
            .can_manage(Some(Role::Owner), Role::Admin)
            .is_ok());
    }
}
