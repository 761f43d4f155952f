//! Who sees which figures: agents their own, supervisors and admins everyone's; a caller the
//! gateway scopes to teams sees those teams' figures and their own.

use inbox_errors::{ErrorCode, PublicError};
use inbox_service::{CallContext, Role, Visibility};
use uuid::Uuid;

use crate::domain::buckets::{Dim, key_of};
use crate::proto::Grouping;

/// The groups a request may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    pub dim: Dim,
    /// Only these keys; `None` for every group of the dimension.
    pub keys: Option<Vec<String>>,
}

fn denied(message: &str) -> PublicError {
    PublicError::new(ErrorCode::PermissionDenied, message)
}

fn dim_of(grouping: Grouping) -> Dim {
    match grouping {
        Grouping::Tenant => Dim::Tenant,
        Grouping::Agent => Dim::Agent,
        Grouping::Team => Dim::Team,
        Grouping::Channel => Dim::Channel,
    }
}

pub fn grouping_of(dim: Dim) -> Grouping {
    match dim {
        Dim::Tenant => Grouping::Tenant,
        Dim::Agent => Grouping::Agent,
        Dim::Team => Grouping::Team,
        Dim::Channel => Grouping::Channel,
    }
}

/// Checks the requested ids' shape: ids for agents and teams, channel tokens for channels.
fn requested(dim: Dim, ids: &[String]) -> Result<Option<Vec<String>>, PublicError> {
    if ids.is_empty() {
        return Ok(None);
    }
    if ids.len() > 1000 {
        return Err(PublicError::invalid_argument("at most 1000 group_ids"));
    }
    let keys = ids
        .iter()
        .map(|id| match dim {
            Dim::Agent | Dim::Team => Uuid::parse_str(id.trim())
                .map(key_of)
                .map_err(|_| PublicError::invalid_argument("group_ids of agents and teams must be uuids")),
            Dim::Channel => match id.trim() {
                c @ ("whatsapp" | "telephony" | "webchat") => Ok(c.to_owned()),
                _ => Err(PublicError::invalid_argument("group_ids of channels are whatsapp, telephony or webchat")),
            },
            Dim::Tenant => Err(PublicError::invalid_argument("the tenant grouping takes no group_ids")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(keys))
}

/// The groups `ctx` may read when asking for `grouping` (limited to `ids` when given).
pub fn groups_for(
    ctx: &CallContext,
    visibility: &Visibility,
    grouping: Grouping,
    ids: &[String],
) -> Result<Groups, PublicError> {
    let me = ctx.principal.strip_prefix("user:").and_then(|id| Uuid::parse_str(id).ok());
    match ctx.role {
        Role::Admin | Role::Operator | Role::Service => {}
        Role::Supervisor => {
            let Visibility::Teams { team_ids, .. } = visibility else {
                return everything(grouping, ids);
            };
            return match grouping {
                Grouping::Team => {
                    let mine: Vec<String> = team_ids.iter().copied().map(key_of).collect();
                    let keys = match requested(Dim::Team, ids)? {
                        Some(keys) if keys.iter().all(|k| mine.contains(k)) => keys,
                        Some(_) => return Err(denied("you may see the figures of your teams only")),
                        None => mine,
                    };
                    Ok(Groups { dim: Dim::Team, keys: Some(keys) })
                }
                Grouping::Agent => own(me, ids),
                Grouping::Tenant | Grouping::Channel => {
                    Err(denied("you may see the figures of your teams and your own, not the whole tenant's"))
                }
            };
        }
        Role::Agent => return own(me, ids),
        Role::Ai => return Err(denied("the AI agent has no figures to read")),
    }
    everything(grouping, ids)
}

fn everything(grouping: Grouping, ids: &[String]) -> Result<Groups, PublicError> {
    let dim = dim_of(grouping);
    Ok(Groups { dim, keys: requested(dim, ids)? })
}

/// Only the caller's own agent figures.
fn own(me: Option<Uuid>, ids: &[String]) -> Result<Groups, PublicError> {
    let me = me.ok_or_else(|| denied("figures of a person need a user"))?;
    let mine = key_of(me);
    if ids.iter().any(|id| id.trim() != mine) {
        return Err(denied("you may see your own figures only"));
    }
    Ok(Groups { dim: Dim::Agent, keys: Some(vec![mine]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(role: Role, user: Uuid) -> CallContext {
        CallContext { tenant_id: Uuid::nil(), principal: format!("user:{user}"), role }
    }

    #[test]
    fn agents_get_their_own_figures_whatever_they_ask_for() {
        let me = Uuid::now_v7();
        let groups = groups_for(&ctx(Role::Agent, me), &Visibility::All, Grouping::Tenant, &[]).unwrap();
        assert_eq!(groups, Groups { dim: Dim::Agent, keys: Some(vec![me.to_string()]) });
        let other = Uuid::now_v7().to_string();
        let err = groups_for(&ctx(Role::Agent, me), &Visibility::All, Grouping::Agent, &[other]).unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied);
    }

    #[test]
    fn supervisors_and_admins_see_everyone_and_team_scoped_supervisors_their_teams() {
        let (me, team, other_team) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for role in [Role::Supervisor, Role::Admin, Role::Operator] {
            let g = groups_for(&ctx(role, me), &Visibility::All, Grouping::Agent, &[]).unwrap();
            assert_eq!(g, Groups { dim: Dim::Agent, keys: None });
        }
        let scoped = Visibility::Teams { team_ids: vec![team], assignee: Some(me) };
        let g = groups_for(&ctx(Role::Supervisor, me), &scoped, Grouping::Team, &[]).unwrap();
        assert_eq!(g.keys, Some(vec![team.to_string()]));
        let err = groups_for(&ctx(Role::Supervisor, me), &scoped, Grouping::Team, &[other_team.to_string()]);
        assert_eq!(err.unwrap_err().code, ErrorCode::PermissionDenied);
        let err = groups_for(&ctx(Role::Supervisor, me), &scoped, Grouping::Tenant, &[]);
        assert_eq!(err.unwrap_err().code, ErrorCode::PermissionDenied);
        assert_eq!(
            groups_for(&ctx(Role::Ai, me), &Visibility::All, Grouping::Tenant, &[]).unwrap_err().code,
            ErrorCode::PermissionDenied
        );
    }

    #[test]
    fn group_ids_must_name_groups_of_their_dimension() {
        let me = Uuid::now_v7();
        let admin = ctx(Role::Admin, me);
        let g = groups_for(&admin, &Visibility::All, Grouping::Channel, &["whatsapp".into()]).unwrap();
        assert_eq!(g.keys, Some(vec!["whatsapp".to_owned()]));
        for (grouping, id) in [(Grouping::Channel, "sms"), (Grouping::Team, "sales"), (Grouping::Tenant, "x")] {
            let err = groups_for(&admin, &Visibility::All, grouping, &[id.into()]).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{id}");
        }
    }
}
