//! Telemetry for every service: JSON logs that carry the active trace id, OpenTelemetry traces
//! (exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, but always generated so
//! trace context flows through HTTP, gRPC and NATS), and the Prometheus registry.

use std::fmt;

use inbox_config::{LogFormat, LogSettings};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

pub use prometheus;

/// The environment variable that switches OTLP export on.
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter {0:?}: {1}")]
    Filter(String, String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
}

/// Keeps the tracer provider alive; call [`TelemetryGuard::shutdown`] before exit to flush.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// Flushes pending spans. The SDK's shutdown blocks, so it runs off the async threads.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
}

/// Installs the global subscriber and tracer provider for `service_name`.
pub fn init(service_name: &'static str, log: &LogSettings) -> Result<TelemetryGuard, TelemetryError> {
    let otlp_endpoint = std::env::var(OTLP_ENDPOINT_VAR).ok().filter(|v| !v.is_empty());
    let provider = tracer_provider(service_name, otlp_endpoint.is_some())?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter =
        EnvFilter::try_new(&log.level).map_err(|e| TelemetryError::Filter(log.level.clone(), e.to_string()))?;
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name));
    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    let installed = match log.format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().fmt_fields(JsonFields::new()).event_format(TraceIdJson::new()))
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)?;
    tracing::info!(service = service_name, otlp = otlp_endpoint.is_some(), "telemetry initialised");
    Ok(TelemetryGuard { provider })
}

fn tracer_provider(service_name: &'static str, export: bool) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if export {
        // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and the other standard variables).
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// The trace id of the active OpenTelemetry context, if a span is being recorded.
pub fn current_trace_id() -> Option<String> {
    let cx = opentelemetry::Context::current();
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// tracing-subscriber's JSON format with `trace_id` and `span_id` added to every line logged
/// inside a traced span, so logs and traces join on the trace id.
struct TraceIdJson {
    inner: Format<Json>,
}

impl TraceIdJson {
    fn new() -> Self {
        Self { inner: tracing_subscriber::fmt::format().json().with_current_span(true).with_span_list(false) }
    }
}

impl<S, N> FormatEvent<S, N> for TraceIdJson
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let sc = span.span_context();
        match line.strip_prefix('{') {
            Some(rest) if sc.is_valid() => {
                write!(writer, "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{}", sc.trace_id(), sc.span_id(), rest)
            }
            _ => writer.write_str(&line),
        }
    }
}

/// Renders every registered metric in the Prometheus text format.
pub fn render_metrics() -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if encoder.encode(&prometheus::gather(), &mut buf).is_err() {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn log_lines_inside_a_span_carry_its_trace_id() {
        let provider = tracer_provider("telemetry-test", false).unwrap();
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t"))).with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new())
                    .event_format(TraceIdJson::new())
                    .with_writer(captured.clone()),
            );
        let trace_id = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("edge", tenant_id = "t1");
            let _entered = span.enter();
            tracing::info!(attempts = 2, "delivery retry failed");
            current_trace_id()
        });
        let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        let trace_id = trace_id.expect("a span was active");
        assert_eq!(line["trace_id"], serde_json::Value::String(trace_id));
        assert_eq!(line["fields"]["message"], "delivery retry failed");
        assert_eq!(line["span"]["tenant_id"], "t1");
    }

    #[test]
    fn log_lines_outside_any_span_are_plain_json() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(TraceIdJson::new())
                .with_writer(captured.clone()),
        );
        tracing::subscriber::with_default(subscriber, || tracing::warn!("no span here"));
        let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!(line.get("trace_id").is_none());
        assert_eq!(line["level"], "WARN");
    }
}
