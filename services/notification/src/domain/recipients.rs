//! Who is told about what. The people of a tenant and their teams come from routing (the
//! agents' working profiles); who may see a conversation follows the gateway's visibility:
//! supervisors and admins see every conversation, an agent sees those of their teams, those
//! assigned to them, and those with neither team nor assignee.

use std::collections::BTreeSet;

use chrono_tz::Tz;
use uuid::Uuid;

use super::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonRole {
    Agent,
    Supervisor,
    Admin,
}

impl PersonRole {
    /// Routing's role names; anything else (the AI account has no profile) is `None`.
    pub fn parse(role: &str) -> Option<PersonRole> {
        match role {
            "agent" => Some(PersonRole::Agent),
            "supervisor" => Some(PersonRole::Supervisor),
            "admin" => Some(PersonRole::Admin),
            _ => None,
        }
    }
}

/// One person of the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: Uuid,
    pub role: PersonRole,
    pub team_ids: Vec<Uuid>,
    pub time_zone: Tz,
}

/// Where a conversation is: its team and assignee.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub team_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
}

/// The people of one tenant.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub people: Vec<Person>,
}

impl Directory {
    pub fn person(&self, id: Uuid) -> Option<&Person> {
        self.people.iter().find(|p| p.id == id)
    }

    /// The time zone quiet hours are read in (UTC for someone routing does not know).
    pub fn time_zone(&self, id: Uuid) -> Tz {
        self.person(id).map(|p| p.time_zone).unwrap_or(Tz::UTC)
    }

    pub fn may_see(person: &Person, at: Seen) -> bool {
        match person.role {
            PersonRole::Supervisor | PersonRole::Admin => true,
            PersonRole::Agent => {
                (at.team_id.is_none() && at.assignee_id.is_none())
                    || at.assignee_id == Some(person.id)
                    || at.team_id.is_some_and(|t| person.team_ids.contains(&t))
            }
        }
    }

    fn everyone_who_may_see(&self, at: Seen) -> BTreeSet<Uuid> {
        self.people.iter().filter(|p| Self::may_see(p, at)).map(|p| p.id).collect()
    }

    fn members_of(&self, team: Uuid) -> BTreeSet<Uuid> {
        self.people.iter().filter(|p| p.team_ids.contains(&team)).map(|p| p.id).collect()
    }

    /// The supervisors of the team (its members who are supervisors); with no team, every
    /// supervisor of the tenant.
    fn supervisors_of(&self, team: Option<Uuid>) -> BTreeSet<Uuid> {
        self.people
            .iter()
            .filter(|p| p.role == PersonRole::Supervisor && team.is_none_or(|t| p.team_ids.contains(&t)))
            .map(|p| p.id)
            .collect()
    }

    /// Who hears about `kind` for a conversation at `at`, never `actor` (nobody is told of
    /// their own action). `Assigned` and `StatusChanged` go to the assignee alone; the
    /// caller decides whether the change was someone else's.
    pub fn recipients(&self, kind: Kind, at: Seen, actor: Option<Uuid>) -> Vec<Uuid> {
        let mut to: BTreeSet<Uuid> = match kind {
            Kind::NewConversation => match at.team_id {
                Some(team) => self.members_of(team),
                None => self.everyone_who_may_see(at),
            },
            Kind::CustomerReplied => match at.assignee_id {
                Some(assignee) => BTreeSet::from([assignee]),
                None => self.everyone_who_may_see(at),
            },
            Kind::Urgent => match (at.assignee_id, at.team_id) {
                (Some(assignee), _) => BTreeSet::from([assignee]),
                (None, Some(team)) => self.members_of(team),
                (None, None) => self.everyone_who_may_see(at),
            },
            Kind::SlaWarning | Kind::SlaBreached => {
                let mut to = self.supervisors_of(at.team_id);
                to.extend(at.assignee_id);
                to
            }
            Kind::Assigned | Kind::StatusChanged => at.assignee_id.into_iter().collect(),
            Kind::WebhookDisabled => self.people.iter().filter(|p| p.role == PersonRole::Admin).map(|p| p.id).collect(),
        };
        if let Some(actor) = actor {
            to.remove(&actor);
        }
        to.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tenant {
        dir: Directory,
        support: Uuid,
        sales: Uuid,
        ana: Uuid,   // agent, Support
        ben: Uuid,   // agent, Sales
        sue: Uuid,   // supervisor, Support
        sam: Uuid,   // supervisor, Sales
        alice: Uuid, // admin, no team
    }

    fn tenant() -> Tenant {
        let (support, sales) = (Uuid::new_v4(), Uuid::new_v4());
        let (ana, ben, sue, sam, alice) =
            (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let person = |id, role, teams: &[Uuid]| Person { id, role, team_ids: teams.to_vec(), time_zone: Tz::UTC };
        let dir = Directory {
            people: vec![
                person(ana, PersonRole::Agent, &[support]),
                person(ben, PersonRole::Agent, &[sales]),
                person(sue, PersonRole::Supervisor, &[support]),
                person(sam, PersonRole::Supervisor, &[sales]),
                person(alice, PersonRole::Admin, &[]),
            ],
        };
        Tenant { dir, support, sales, ana, ben, sue, sam, alice }
    }

    fn set(ids: &[Uuid]) -> Vec<Uuid> {
        ids.iter().copied().collect::<BTreeSet<_>>().into_iter().collect()
    }

    #[test]
    fn a_new_conversation_goes_to_its_teams_members_or_to_everyone_who_may_see_it() {
        let t = tenant();
        let in_support = Seen { team_id: Some(t.support), assignee_id: None };
        assert_eq!(t.dir.recipients(Kind::NewConversation, in_support, None), set(&[t.ana, t.sue]));
        let nowhere = Seen::default();
        assert_eq!(t.dir.recipients(Kind::NewConversation, nowhere, None), set(&[t.ana, t.ben, t.sue, t.sam, t.alice]));
    }

    #[test]
    fn a_customer_reply_goes_to_the_assignee_or_while_unassigned_to_everyone_who_may_see_it() {
        let t = tenant();
        let assigned = Seen { team_id: Some(t.support), assignee_id: Some(t.ana) };
        assert_eq!(t.dir.recipients(Kind::CustomerReplied, assigned, None), vec![t.ana]);
        let queued = Seen { team_id: Some(t.sales), assignee_id: None };
        // Ben (Sales) may see it, Ana (Support) may not; supervisors and admins see everything.
        assert_eq!(t.dir.recipients(Kind::CustomerReplied, queued, None), set(&[t.ben, t.sue, t.sam, t.alice]));
    }

    #[test]
    fn urgent_goes_to_the_assignee_else_the_team() {
        let t = tenant();
        let assigned = Seen { team_id: Some(t.sales), assignee_id: Some(t.ben) };
        assert_eq!(t.dir.recipients(Kind::Urgent, assigned, None), vec![t.ben]);
        let queued = Seen { team_id: Some(t.sales), assignee_id: None };
        assert_eq!(t.dir.recipients(Kind::Urgent, queued, None), set(&[t.ben, t.sam]));
    }

    #[test]
    fn sla_alerts_go_to_the_assignee_and_the_teams_supervisors() {
        let t = tenant();
        let assigned = Seen { team_id: Some(t.support), assignee_id: Some(t.ana) };
        assert_eq!(t.dir.recipients(Kind::SlaWarning, assigned, None), set(&[t.ana, t.sue]));
        let no_team = Seen { team_id: None, assignee_id: Some(t.ben) };
        assert_eq!(t.dir.recipients(Kind::SlaBreached, no_team, None), set(&[t.ben, t.sue, t.sam]));
    }

    #[test]
    fn nobody_is_told_of_their_own_action() {
        let t = tenant();
        let in_support = Seen { team_id: Some(t.support), assignee_id: None };
        assert_eq!(t.dir.recipients(Kind::NewConversation, in_support, Some(t.sue)), vec![t.ana]);
        let mine = Seen { team_id: None, assignee_id: Some(t.ana) };
        assert!(t.dir.recipients(Kind::StatusChanged, mine, Some(t.ana)).is_empty());
        assert_eq!(t.dir.recipients(Kind::StatusChanged, mine, Some(t.sue)), vec![t.ana]);
    }

    #[test]
    fn a_disabled_webhook_is_for_admins() {
        let t = tenant();
        assert_eq!(t.dir.recipients(Kind::WebhookDisabled, Seen::default(), None), vec![t.alice]);
    }
}
