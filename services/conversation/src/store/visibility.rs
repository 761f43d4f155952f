//! Who is reading, and the SQL that keeps to what they may see. Every read made for a caller
//! (lists, counts, one conversation, messages, exports, bulk selections, a customer's
//! conversations) starts from [`select_conversations`] or adds [`push_visible`], so the rule
//! of `inbox_service::Visibility` is written in SQL once.

use inbox_service::Visibility;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::rows::CONVERSATION_COLUMNS;

/// Who is reading: "me" in filters and views and whose read state is shown, the conversations
/// they may see, and whether internal notes are theirs to read. The default is a service
/// reading everything (consumers, the sweeper, exports of the system itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Viewer {
    /// The calling user; `None` for callers that are not a person.
    pub user_id: Option<Uuid>,
    /// The conversations they may see (the gateway decides; `All` by default).
    pub visibility: Visibility,
    /// Internal notes are left out of what they read (the AI agent: notes stay with the team).
    pub without_notes: bool,
}

impl Viewer {
    /// The person `user_id`, who sees every conversation of the tenant.
    pub fn person(user_id: Uuid) -> Self {
        Self { user_id: Some(user_id), ..Self::default() }
    }

    /// This viewer, seeing only what `visibility` allows.
    pub fn seeing(self, visibility: Visibility) -> Self {
        Self { visibility, ..self }
    }
}

/// Appends ` AND (...)` keeping the conversations (`conversations c`) that `visibility`
/// allows: those of its teams, those assigned to its person, and those with neither team nor
/// assignee. Nothing for `All`, so an unscoped read keeps its plan.
pub(crate) fn push_visible(qb: &mut QueryBuilder<Postgres>, visibility: &Visibility) {
    let Visibility::Teams { team_ids, assignee } = visibility else { return };
    qb.push(" AND (c.team_id = ANY(").push_bind(team_ids.clone()).push(")");
    if let Some(me) = assignee {
        qb.push(" OR c.assignee_id = ").push_bind(*me);
    }
    qb.push(" OR (c.team_id IS NULL AND c.assignee_id IS NULL))");
}

/// Appends ` AND NOT internal_note` (on `messages`) when the viewer does not read notes.
pub(crate) fn push_notes(qb: &mut QueryBuilder<Postgres>, viewer: &Viewer, messages: &str) {
    if viewer.without_notes {
        qb.push(format!(" AND NOT {messages}.internal_note"));
    }
}

/// `SELECT` of the tenant's conversations `viewer` may see, as [`ConversationRow`]s with the
/// viewer's read state when the viewer is a person; ends inside the `WHERE`, for the caller
/// to narrow with ` AND ...` and order.
///
/// The read state is one indexed join (`conversation_reads` by its key): `unread` is the
/// conversation's count of customer messages minus those the person had read.
///
/// [`ConversationRow`]: super::ConversationRow
pub(crate) fn select_conversations(tenant_id: Uuid, viewer: &Viewer) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new(format!("SELECT {CONVERSATION_COLUMNS}"));
    match viewer.user_id {
        Some(me) => {
            qb.push(
                ", r.last_read_message_id, \
                 GREATEST(c.customer_messages - COALESCE(r.customer_messages_read, 0), 0) AS unread \
                 FROM conversations c JOIN contacts k ON k.tenant_id = c.tenant_id AND k.id = c.contact_id \
                 LEFT JOIN conversation_reads r \
                   ON r.tenant_id = c.tenant_id AND r.conversation_id = c.id AND r.agent_id = ",
            )
            .push_bind(me);
        }
        None => {
            qb.push(" FROM conversations c JOIN contacts k ON k.tenant_id = c.tenant_id AND k.id = c.contact_id");
        }
    }
    qb.push(" WHERE c.tenant_id = ").push_bind(tenant_id);
    push_visible(&mut qb, &viewer.visibility);
    qb
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(build: impl FnOnce(&mut QueryBuilder<Postgres>)) -> String {
        let mut qb = QueryBuilder::new("WHERE c.tenant_id = ");
        qb.push_bind(Uuid::now_v7());
        build(&mut qb);
        qb.into_string()
    }

    #[test]
    fn everything_adds_no_condition_so_unscoped_reads_keep_their_plans() {
        assert_eq!(sql_of(|qb| push_visible(qb, &Visibility::All)), "WHERE c.tenant_id = $1");
    }

    #[test]
    fn a_team_scoped_person_sees_their_teams_their_own_and_the_unassigned() {
        let teams = Visibility::Teams { team_ids: vec![Uuid::now_v7()], assignee: Some(Uuid::now_v7()) };
        assert_eq!(
            sql_of(|qb| push_visible(qb, &teams)),
            "WHERE c.tenant_id = $1 AND (c.team_id = ANY($2) OR c.assignee_id = $3 \
             OR (c.team_id IS NULL AND c.assignee_id IS NULL))"
        );
        let no_person = Visibility::Teams { team_ids: vec![], assignee: None };
        assert_eq!(
            sql_of(|qb| push_visible(qb, &no_person)),
            "WHERE c.tenant_id = $1 AND (c.team_id = ANY($2) OR (c.team_id IS NULL AND c.assignee_id IS NULL))"
        );
    }

    #[test]
    fn notes_are_left_out_only_for_a_viewer_without_them() {
        let ai = Viewer { without_notes: true, ..Viewer::default() };
        assert_eq!(sql_of(|qb| push_notes(qb, &ai, "m")), "WHERE c.tenant_id = $1 AND NOT m.internal_note");
        assert_eq!(sql_of(|qb| push_notes(qb, &Viewer::person(Uuid::now_v7()), "m")), "WHERE c.tenant_id = $1");
    }

    #[test]
    fn a_persons_read_joins_their_read_state_and_a_services_does_not() {
        let person = select_conversations(Uuid::now_v7(), &Viewer::person(Uuid::now_v7())).into_string();
        assert!(person.contains("LEFT JOIN conversation_reads r"), "{person}");
        assert!(person.contains("r.agent_id = $1 WHERE c.tenant_id = $2"), "{person}");
        assert!(person.contains("AS unread"), "{person}");
        let service = select_conversations(Uuid::now_v7(), &Viewer::default()).into_string();
        assert!(!service.contains("conversation_reads"), "{service}");
        assert!(service.ends_with("WHERE c.tenant_id = $1"), "{service}");
        let scoped =
            Viewer::person(Uuid::now_v7()).seeing(Visibility::Teams { team_ids: vec![Uuid::now_v7()], assignee: None });
        assert!(select_conversations(Uuid::now_v7(), &scoped).into_string().ends_with("c.assignee_id IS NULL))"));
    }
}
