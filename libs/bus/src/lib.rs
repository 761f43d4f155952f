//! The message bus: NATS JetStream streams `INGEST`, `EVENTS`, `OUTBOUND` (and `DLQ` for dead
//! letters), publishing with `Nats-Msg-Id` and an awaited ack, durable pull consumers with
//! explicit ack, bounded redelivery with backoff and a dead-letter subject, all carrying one
//! protobuf [`Envelope`] with its trace context in NATS headers.

mod batcher;
mod consumer;
mod envelope;
mod metrics;
mod publisher;
pub mod subjects;

pub use batcher::{BatchProcessor, Batcher, BatcherStopped};
pub use consumer::{ConsumerSpec, Delivery, HandlerError, MessageHandler, run_consumer, seconds_since_stored};
pub use envelope::{new_envelope, trace_context_of_current_span};
pub use inbox_proto::events::v1::{Envelope, envelope::Payload};
pub use metrics::STAGE_BUCKETS;
pub use publisher::{Bus, BusError, Stream};
