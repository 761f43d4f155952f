//! Which conversations a caller may see. The gateway decides it for every person and key it
//! authenticates (the tenant's visibility setting, the person's role and teams) and sends it
//! with each internal call; every service that reads conversations applies it in its queries
//! (SQL, the search index, live streams).
//!
//! On the wire: metadata `x-inbox-visible-teams`, absent for "everything" (supervisors, admins,
//! services), else a comma-separated list of team ids (possibly empty), with the acting
//! person's own id in `x-inbox-visible-assignee`.
//!
//! The gateway decides it once per request and runs the handler inside [`Visibility::scope`];
//! every internal call made while handling it ([`crate::CallContext::write_to`]) carries it, as
//! the trace context travels with the current span.

use tonic::metadata::MetadataMap;
use tonic::{Request, Status};
use uuid::Uuid;

pub const VISIBLE_TEAMS_KEY: &str = "x-inbox-visible-teams";
pub const VISIBLE_ASSIGNEE_KEY: &str = "x-inbox-visible-assignee";

/// The conversations a caller may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Visibility {
    /// Every conversation of the tenant.
    #[default]
    All,
    /// Conversations of these teams, those assigned to `assignee`, and unassigned ones (no team,
    /// no assignee).
    Teams { team_ids: Vec<Uuid>, assignee: Option<Uuid> },
}

tokio::task_local! {
    static CURRENT: Visibility;
}

impl Visibility {
    /// Runs `work` with this visibility attached to every internal call it makes.
    pub async fn scope<F: std::future::Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }

    /// The visibility of the request being handled (`All` outside any scope).
    pub fn current() -> Visibility {
        CURRENT.try_with(Clone::clone).unwrap_or_default()
    }

    /// Whether a conversation with this team and assignee may be seen.
    pub fn allows(&self, team_id: Option<Uuid>, assignee_id: Option<Uuid>) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Teams { team_ids, assignee } => {
                (team_id.is_none() && assignee_id.is_none())
                    || assignee_id.is_some_and(|a| Some(a) == *assignee)
                    || team_id.is_some_and(|t| team_ids.contains(&t))
            }
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Visibility::All)
    }

    /// Writes this visibility into outgoing metadata (nothing for `All`).
    pub fn write_to(&self, metadata: &mut MetadataMap) -> Result<(), Status> {
        metadata.remove(VISIBLE_TEAMS_KEY);
        metadata.remove(VISIBLE_ASSIGNEE_KEY);
        if let Visibility::Teams { team_ids, assignee } = self {
            let teams = team_ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",");
            let bad = |_| Status::internal("visibility metadata");
            metadata.insert(VISIBLE_TEAMS_KEY, teams.parse().map_err(bad)?);
            if let Some(assignee) = assignee {
                metadata.insert(VISIBLE_ASSIGNEE_KEY, assignee.to_string().parse().map_err(bad)?);
            }
        }
        Ok(())
    }

    /// Reads the visibility from incoming metadata; a malformed value is refused.
    pub fn read_from(metadata: &MetadataMap) -> Result<Self, Status> {
        let Some(teams) = metadata.get(VISIBLE_TEAMS_KEY) else { return Ok(Visibility::All) };
        let refuse = || Status::invalid_argument(format!("{VISIBLE_TEAMS_KEY} must be team ids separated by commas"));
        let teams = teams.to_str().map_err(|_| refuse())?;
        let team_ids = teams
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| Uuid::parse_str(t.trim()).map_err(|_| refuse()))
            .collect::<Result<Vec<_>, _>>()?;
        let assignee = match metadata.get(VISIBLE_ASSIGNEE_KEY) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|v| Uuid::parse_str(v).ok())
                    .ok_or_else(|| Status::invalid_argument(format!("{VISIBLE_ASSIGNEE_KEY} must be a user id")))?,
            ),
        };
        Ok(Visibility::Teams { team_ids, assignee })
    }

    /// The visibility the server-side interceptor attached to `request` (`All` when none).
    pub fn of<T>(request: &Request<T>) -> Visibility {
        request.extensions().get::<Visibility>().cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_scoped_caller_sees_its_teams_its_own_and_the_unassigned() {
        let (mine, other, me, colleague) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let v = Visibility::Teams { team_ids: vec![mine], assignee: Some(me) };
        assert!(v.allows(None, None), "unassigned");
        assert!(v.allows(Some(mine), Some(colleague)), "my team's, whoever works it");
        assert!(v.allows(Some(other), Some(me)), "assigned to me in another team");
        assert!(!v.allows(Some(other), None), "another team's queue");
        assert!(!v.allows(None, Some(colleague)), "a colleague's, without a team");
        assert!(Visibility::All.allows(Some(other), Some(colleague)));
    }

    #[tokio::test]
    async fn calls_made_inside_a_scope_carry_its_visibility_and_others_see_everything() {
        let teams = Visibility::Teams { team_ids: vec![Uuid::new_v4()], assignee: None };
        let seen = teams.clone().scope(async { Visibility::current() }).await;
        assert_eq!(seen, teams);
        assert_eq!(Visibility::current(), Visibility::All);
    }

    #[test]
    fn visibility_survives_the_metadata_round_trip_and_garbage_is_refused() {
        let v = Visibility::Teams { team_ids: vec![Uuid::new_v4(), Uuid::new_v4()], assignee: Some(Uuid::new_v4()) };
        let mut m = MetadataMap::new();
        v.write_to(&mut m).unwrap();
        assert_eq!(Visibility::read_from(&m).unwrap(), v);
        let none = Visibility::Teams { team_ids: vec![], assignee: None };
        none.write_to(&mut m).unwrap();
        assert_eq!(Visibility::read_from(&m).unwrap(), none, "no teams is not everything");
        Visibility::All.write_to(&mut m).unwrap();
        assert_eq!(Visibility::read_from(&m).unwrap(), Visibility::All);
        m.insert(VISIBLE_TEAMS_KEY, "not-a-uuid".parse().unwrap());
        assert!(Visibility::read_from(&m).is_err());
    }
}
