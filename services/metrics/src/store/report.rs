//! Reading the rollups for reports, and the open conversations for the live figures.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::codec::decode_figures;
use super::fold::dim_of;
use super::{MetricsStore, StoreError};
use crate::domain::buckets::{Dim, Grain};
use crate::domain::figures::Figures;

/// The figures of one cell.
#[derive(Debug, Clone)]
pub struct Cell {
    pub dim: Dim,
    pub key: String,
    pub bucket_start: DateTime<Utc>,
    pub figures: Figures,
}

/// Open conversations of one group now.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct LiveCounts {
    pub key: String,
    pub active: i64,
    pub pending: i64,
    pub backlog: i64,
    pub backlog_unassigned: i64,
}

#[derive(sqlx::FromRow)]
struct CellRow {
    dim: i16,
    key: String,
    bucket_start: DateTime<Utc>,
    figures: Vec<u8>,
}

impl MetricsStore {
    /// The cells of one grain and dimension whose buckets start in `[from, to)`, only of
    /// `keys` when given, ordered by key and bucket.
    pub async fn read_cells(
        &self,
        tenant_id: Uuid,
        grain: Grain,
        dim: Dim,
        keys: Option<&[String]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Cell>, StoreError> {
        let rows: Vec<CellRow> = match keys {
            Some(keys) => {
                sqlx::query_as(
                    "SELECT dim, key, bucket_start, figures FROM rollups \
                     WHERE tenant_id = $1 AND grain = $2 AND dim = $3 AND key = ANY($4) \
                       AND bucket_start >= $5 AND bucket_start < $6 \
                     ORDER BY key, bucket_start",
                )
                .bind(tenant_id)
                .bind(grain.code())
                .bind(dim.code())
                .bind(keys)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT dim, key, bucket_start, figures FROM rollups \
                     WHERE tenant_id = $1 AND grain = $2 AND dim = $3 AND bucket_start >= $4 AND bucket_start < $5 \
                     ORDER BY key, bucket_start",
                )
                .bind(tenant_id)
                .bind(grain.code())
                .bind(dim.code())
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.into_iter()
            .map(|r| {
                Ok(Cell {
                    dim: dim_of(r.dim)?,
                    key: r.key,
                    bucket_start: r.bucket_start,
                    figures: decode_figures(&r.figures)?,
                })
            })
            .collect()
    }

    /// Active, pending and backlog counts of the open conversations, per group of `dim` (the
    /// assignee for agents; conversations without a team or assignee are in no such group).
    pub async fn live_counts(&self, tenant_id: Uuid, dim: Dim) -> Result<Vec<LiveCounts>, StoreError> {
        const COUNTS: &str = "count(*) FILTER (WHERE status = 'active') AS active, \
            count(*) FILTER (WHERE status = 'pending') AS pending, \
            count(*) FILTER (WHERE waiting_for_person) AS backlog, \
            count(*) FILTER (WHERE waiting_for_person AND assignee_id IS NULL) AS backlog_unassigned";
        const OPEN: &str =
            "FROM conversation_states WHERE tenant_id = $1 AND status IN ('active', 'pending') AND NOT deleted";
        let sql = match dim {
            Dim::Tenant => format!("SELECT '' AS key, {COUNTS} {OPEN}"),
            Dim::Channel => format!("SELECT channel AS key, {COUNTS} {OPEN} GROUP BY channel"),
            Dim::Team => {
                format!("SELECT team_id::text AS key, {COUNTS} {OPEN} AND team_id IS NOT NULL GROUP BY team_id")
            }
            Dim::Agent => {
                format!(
                    "SELECT assignee_id::text AS key, {COUNTS} {OPEN} AND assignee_id IS NOT NULL GROUP BY assignee_id"
                )
            }
        };
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).fetch_all(&self.pool).await?)
    }
}
