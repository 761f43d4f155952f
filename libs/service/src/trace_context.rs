//! W3C trace context (`traceparent`, `tracestate`) across the fleet's synchronous hops, as
//! `libs/bus` carries it across NATS: every HTTP request and every gRPC call runs in a span
//! whose parent is the caller's, and every outgoing gRPC call carries the current span's
//! context, so one trace runs from a webhook or a REST call through every service it touches.

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// A span for one incoming request, child of the trace its headers name (if any).
pub fn incoming_span(kind: &'static str, method: &str, route: &str, headers: &HeaderMap) -> tracing::Span {
    let span = tracing::info_span!("request", otel.kind = "server", kind, method, route);
    if headers.contains_key("traceparent") {
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
        let _ = span.set_parent(parent);
    }
    span
}

/// Writes the current span's context into `headers` (gRPC metadata are headers).
pub fn inject_current(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeadersMut(headers)));
}

/// The layer every gRPC server of the fleet runs its calls under.
pub type GrpcTraceLayer = tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::GrpcErrorsAsFailures>,
    fn(&http::Request<tonic::body::Body>) -> tracing::Span,
>;

pub fn grpc_server_layer() -> GrpcTraceLayer {
    fn span_of(request: &http::Request<tonic::body::Body>) -> tracing::Span {
        incoming_span("grpc", "POST", request.uri().path(), request.headers())
    }
    tower_http::trace::TraceLayer::new_for_grpc().make_span_with(span_of as fn(&_) -> _)
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(key), http::HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[test]
    fn a_request_span_continues_the_callers_trace_and_passes_it_on() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let mut incoming = HeaderMap::new();
            incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
            let span = incoming_span("http", "GET", "/v1/conversations", &incoming);
            let _entered = span.enter();
            let mut outgoing = HeaderMap::new();
            inject_current(&mut outgoing);
            let traceparent = outgoing["traceparent"].to_str().unwrap();
            assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
            assert!(!traceparent.contains("00f067aa0ba902b7"), "a new span of the same trace: {traceparent}");
            assert!(span.context().span().span_context().is_valid());
        });
    }
}
