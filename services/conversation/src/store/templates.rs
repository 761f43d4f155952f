//! Response templates of each tenant.

use chrono::{DateTime, Utc};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::timestamp_from;
use uuid::Uuid;

use super::{ConversationStore, StoreError};
use crate::domain::templates::{TemplateBody, TemplateName};

/// Most templates one search returns.
pub const MAX_TEMPLATES_LISTED: i64 = 50;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub body: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const TEMPLATE_COLUMNS: &str = "tenant_id, id, name, body, created_by, created_at, updated_at";

impl TemplateRow {
    /// The stored name and body, parsed again. Rows are written only from parsed values, so
    /// a failure means a corrupted row.
    pub fn parsed(&self) -> Result<(TemplateName, TemplateBody), String> {
        Ok((TemplateName::parse(&self.name)?, TemplateBody::parse(&self.body)?))
    }

    pub fn to_proto(&self) -> pb::Template {
        pb::Template {
            id: self.id.to_string(),
            name: self.name.clone(),
            body: self.body.clone(),
            variables: TemplateBody::parse(&self.body).map(|b| b.variables()).unwrap_or_default(),
            created_by: self.created_by.clone(),
            created_at: Some(timestamp_from(self.created_at)),
            updated_at: Some(timestamp_from(self.updated_at)),
        }
    }
}

/// What creating a template did.
#[derive(Debug)]
pub enum CreatedTemplate {
    Created(TemplateRow),
    /// The same name and body existed (a retried create): nothing changed.
    Existing(TemplateRow),
    /// Another template of the tenant has this name.
    NameTaken,
}

/// What editing a template did.
#[derive(Debug)]
pub enum UpdatedTemplate {
    Updated(TemplateRow),
    NotFound,
    /// Another template of the tenant has the new name.
    NameTaken,
}

fn is_name_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.constraint() == Some("templates_name"))
}

impl ConversationStore {
    /// Creates a template; a retry with the same name and body returns the first one.
    pub async fn create_template(
        &self,
        tenant_id: Uuid,
        name: &TemplateName,
        body: &TemplateBody,
        created_by: &str,
    ) -> Result<CreatedTemplate, StoreError> {
        // A concurrent delete can remove the conflicting row between the insert and the read:
        // then the insert is tried again.
        let now = self.now();
        for _ in 0..3 {
            let inserted: Option<TemplateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO templates (tenant_id, id, name, body, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT ON CONSTRAINT templates_name DO NOTHING RETURNING {TEMPLATE_COLUMNS}"
            )))
            .bind(tenant_id)
            .bind(Uuid::now_v7())
            .bind(name.as_str())
            .bind(body.as_str())
            .bind(created_by)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = inserted {
                return Ok(CreatedTemplate::Created(row));
            }
            let existing: Option<TemplateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = $1 AND name = $2"
            )))
            .bind(tenant_id)
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
            match existing {
                Some(row) if row.body == body.as_str() => return Ok(CreatedTemplate::Existing(row)),
                Some(_) => return Ok(CreatedTemplate::NameTaken),
                None => continue,
            }
        }
        Ok(CreatedTemplate::NameTaken)
    }

    /// One template of the tenant; `None` if it does not exist or belongs to another tenant.
    pub async fn get_template(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<TemplateRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Changes the name and/or the body; `updated_at` moves only when something changed, so
    /// a retried edit is a no-op.
    pub async fn update_template(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        name: Option<&TemplateName>,
        body: Option<&TemplateBody>,
    ) -> Result<UpdatedTemplate, StoreError> {
        let updated: Result<Option<TemplateRow>, sqlx::Error> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE templates SET name = COALESCE($3, name), body = COALESCE($4, body), \
               updated_at = CASE WHEN (name, body) IS DISTINCT FROM (COALESCE($3, name), COALESCE($4, body)) \
                                 THEN $5 ELSE updated_at END \
             WHERE tenant_id = $1 AND id = $2 RETURNING {TEMPLATE_COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(id)
        .bind(name.map(TemplateName::as_str))
        .bind(body.map(TemplateBody::as_str))
        .bind(self.now())
        .fetch_optional(&self.pool)
        .await;
        match updated {
            Ok(Some(row)) => Ok(UpdatedTemplate::Updated(row)),
            Ok(None) => Ok(UpdatedTemplate::NotFound),
            Err(e) if is_name_conflict(&e) => Ok(UpdatedTemplate::NameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a template; `false` when the tenant has no such template (any more).
    pub async fn delete_template(&self, tenant_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM templates WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Templates whose name contains `query` (lower-case, as names are): those starting with
    /// it first, then the others, alphabetical within each group. An empty query lists all.
    pub async fn list_templates(
        &self,
        tenant_id: Uuid,
        query: &str,
        limit: i64,
    ) -> Result<Vec<TemplateRow>, StoreError> {
        // strpos, not LIKE: `_` and `-` in a typed name are literal characters.
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = $1 AND strpos(name, $2) > 0 \
             ORDER BY strpos(name, $2) <> 1, name LIMIT $3"
        )))
        .bind(tenant_id)
        .bind(query)
        .bind(limit.clamp(1, MAX_TEMPLATES_LISTED))
        .fetch_all(&self.pool)
        .await?)
    }
}
