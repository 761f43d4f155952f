//! Writing the transactional outbox: events commit with the change they describe;
//! `inbox_service::outbox` relays them.

use inbox_bus::Envelope;
use prost::Message as _;
use sqlx::{Postgres, Transaction};

use super::StoreError;

/// The NOTIFY channel that wakes the relay when a transaction wrote outbox rows.
pub const OUTBOX_CHANNEL: &str = "inbox_outbox";

/// Writes `envelope` for `subject` into the outbox of the open transaction.
pub(crate) async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    subject: &str,
    envelope: &Envelope,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO outbox (subject, envelope) VALUES ($1, $2)")
        .bind(subject)
        .bind(envelope.encode_to_vec())
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')").bind(OUTBOX_CHANNEL).execute(&mut **tx).await?;
    Ok(())
}

/// Writes many events to the outbox in one statement and wakes the relay once.
pub(crate) async fn enqueue_many(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(String, Envelope)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let subjects: Vec<&str> = events.iter().map(|(s, _)| s.as_str()).collect();
    let envelopes: Vec<Vec<u8>> = events.iter().map(|(_, e)| e.encode_to_vec()).collect();
    sqlx::query("INSERT INTO outbox (subject, envelope) SELECT * FROM UNNEST($1::text[], $2::bytea[])")
        .bind(&subjects)
        .bind(&envelopes)
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')").bind(OUTBOX_CHANNEL).execute(&mut **tx).await?;
    Ok(())
}

/// Writes `message.created` (the message and its conversation after it) to the outbox.
pub(crate) async fn enqueue_message_created(
    tx: &mut Transaction<'_, Postgres>,
    message: &super::MessageRow,
    conversation: &super::ConversationRow,
) -> Result<(), StoreError> {
    let tenant = message.tenant_id.to_string();
    let event = inbox_bus::new_envelope(
        uuid::Uuid::now_v7().to_string(),
        &tenant,
        inbox_bus::Payload::MessageCreated(inbox_proto::events::v1::MessageCreated {
            message: Some(message.to_proto()),
            conversation: Some(conversation.to_proto()),
        }),
    );
    enqueue(tx, &inbox_bus::subjects::event(&tenant, "message.created"), &event).await
}
