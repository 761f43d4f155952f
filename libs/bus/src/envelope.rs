//! Building envelopes and carrying W3C trace context between spans, headers and envelopes.

use std::collections::HashMap;

use chrono::Utc;
use inbox_proto::events::v1::{Envelope, envelope::Payload};
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A new envelope stamped now, carrying the current span's trace context.
pub fn new_envelope(event_id: impl Into<String>, tenant_id: impl Into<String>, payload: Payload) -> Envelope {
    Envelope {
        event_id: event_id.into(),
        tenant_id: tenant_id.into(),
        occurred_at: Some(inbox_proto::timestamp_from(Utc::now())),
        trace_context: trace_context_of_current_span(),
        payload: Some(payload),
    }
}

/// The current span's context as W3C headers (`traceparent`, `tracestate`).
pub fn trace_context_of_current_span() -> HashMap<String, String> {
    let mut carrier = MapCarrier(HashMap::new());
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.0
}

/// Makes `span` a child of the trace described by `carrier`, if it describes one.
pub(crate) fn adopt_parent(span: &tracing::Span, carrier: &HashMap<String, String>) {
    if carrier.is_empty() {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&MapCarrier(carrier.clone())));
    let _ = span.set_parent(parent);
}

struct MapCarrier(HashMap<String, String>);

impl Injector for MapCarrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for MapCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The trace headers the bus copies between envelopes and NATS headers.
pub(crate) const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];
