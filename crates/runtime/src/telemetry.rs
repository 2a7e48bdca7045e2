//! Logging and distributed tracing for every numhub service.
//!
//! One call to [`init`] gives a service human-friendly or machine-readable logs
//! on stderr and, when an OTLP collector is configured through the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` variable, span export. The W3C trace-context
//! helpers ([`extract_context`], [`TraceContextInterceptor`]) let a trace cross
//! gRPC hops between services.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::metadata::{Ascii, MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::{Layered, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Standard OpenTelemetry variable; its presence is what turns span export on,
/// so services need no numhub-specific flag to join a tracing deployment.
const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Standard OpenTelemetry variable that overrides the compiled-in service name.
const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";

/// Set once our subscriber is the global one, so later [`init`] calls in the
/// same process (tests start many services) become cheap no-ops.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Logging flags shared by every service binary (flatten into its CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryConfig {
    /// Log filter in `tracing` EnvFilter syntax, e.g. `info,numhub_wallet=debug`.
    #[arg(long = "log", env = "NUMHUB_LOG", default_value = "info")]
    pub log: String,

    /// Log output format; `auto` picks coloured text on a terminal and JSON
    /// lines otherwise, so log shippers get structured data by default.
    #[arg(
        long = "log-format",
        env = "NUMHUB_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Auto
    )]
    pub log_format: LogFormat,
}

/// How log lines on stderr are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Text with colours when stderr is a terminal, JSON lines otherwise.
    #[default]
    Auto,
    /// Human-readable text (coloured only when stderr is a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// Keeps the span exporter alive; dropping it (or calling
/// [`TelemetryGuard::shutdown`]) flushes buffered spans so the last requests
/// before exit are not lost.
///
/// Drop it while the Tokio runtime is still running: the gRPC exporter needs
/// the runtime to send the final batch. On a current-thread runtime the flush
/// cannot make progress and gives up after the SDK's 5 s timeout.
#[derive(Debug)]
#[must_use = "dropping the guard shuts span export down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// A guard with nothing to flush (no exporter, or telemetry already set up).
    fn inert() -> Self {
        Self { provider: None }
    }

    /// Flushes pending spans and stops the exporter; same as dropping the
    /// guard, but explicit at the end of `main`.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            shutdown_provider(&provider);
        }
    }
}

/// Shuts the provider down without starving the runtime that carries the
/// exporter's gRPC connection.
fn shutdown_provider(provider: &SdkTracerProvider) {
    use tokio::runtime::{Handle, RuntimeFlavor};

    let on_multi_thread_runtime =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    let result = if on_multi_thread_runtime {
        // Lets other workers pick up this worker's tasks (possibly the channel
        // task the final export waits on) while we block.
        tokio::task::block_in_place(|| provider.shutdown())
    } else {
        provider.shutdown()
    };
    if let Err(err) = result {
        // The subscriber is still installed, so this still reaches stderr.
        tracing::warn!(error = %err, "failed to flush and shut down the span exporter");
    }
}

/// Sets the global propagator to W3C TraceContext. Idempotent; [`init`] calls
/// it, and tests that only exercise propagation call it directly.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// Installs the global `tracing` subscriber: stderr logs filtered by
/// `config.log`, plus OTLP/gRPC span export when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is set (which then requires a Tokio runtime to be running).
///
/// Safe to call more than once per process: if a global subscriber is already
/// installed the call succeeds and returns a guard that does nothing.
pub fn init(
    service_name: &'static str,
    config: &TelemetryConfig,
) -> anyhow::Result<TelemetryGuard> {
    // Validate first so a bad filter is reported even when telemetry is
    // already set up by an earlier call.
    let filter = build_filter(&config.log)?;
    install_propagator();

    if INSTALLED.load(Ordering::Acquire) {
        return Ok(TelemetryGuard::inert());
    }

    let provider = if otlp_endpoint_configured() {
        Some(build_tracer_provider(service_name)?)
    } else {
        None
    };

    let mut layers: Vec<Box<dyn Layer<Layered<EnvFilter, Registry>> + Send + Sync>> =
        vec![fmt_layer(
            config.log_format,
            std::io::stderr().is_terminal(),
        )];
    if let Some(provider) = &provider {
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(service_name))
                .boxed(),
        );
    }

    match tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
    {
        Ok(()) => {
            INSTALLED.store(true, Ordering::Release);
            if let Some(provider) = &provider {
                opentelemetry::global::set_tracer_provider(provider.clone());
            }
            Ok(TelemetryGuard { provider })
        }
        // Someone else's subscriber won, or ours was installed but the `log`
        // bridge was taken; the error does not say which. Either way keep
        // running, and keep the provider so it is shut down cleanly if ours
        // is the one in use.
        Err(_already_set) => Ok(TelemetryGuard { provider }),
    }
}

/// Parses the filter, naming the variable so operators know what to fix.
fn build_filter(directives: &str) -> anyhow::Result<EnvFilter> {
    EnvFilter::builder()
        .parse(directives)
        .with_context(|| format!("invalid log filter {directives:?} in NUMHUB_LOG / --log"))
}

/// Resolves `auto` to (json, ansi) given whether stderr is a terminal.
fn resolve_format(format: LogFormat, stderr_is_terminal: bool) -> (bool, bool) {
    match format {
        LogFormat::Auto => (!stderr_is_terminal, stderr_is_terminal),
        LogFormat::Text => (false, stderr_is_terminal),
        LogFormat::Json => (true, false),
    }
}

fn fmt_layer<S>(format: LogFormat, stderr_is_terminal: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let (json, ansi) = resolve_format(format, stderr_is_terminal);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if json {
        layer.json().boxed()
    } else {
        layer.with_ansi(ansi).boxed()
    }
}

fn otlp_endpoint_configured() -> bool {
    std::env::var_os(OTLP_ENDPOINT_ENV).is_some_and(|v| !v.is_empty())
}

/// Builds an OTLP/gRPC exporter behind a batch processor. The exporter itself
/// reads the `OTEL_EXPORTER_OTLP_*` variables (endpoint, headers, timeout).
fn build_tracer_provider(service_name: &'static str) -> anyhow::Result<SdkTracerProvider> {
    // The tonic channel spawns its connection task on the ambient runtime and
    // would panic without one; fail with a clear message instead.
    tokio::runtime::Handle::try_current().with_context(|| {
        format!("{OTLP_ENDPOINT_ENV} is set, so telemetry::init must run inside a Tokio runtime")
    })?;

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .with_context(|| format!("building the OTLP span exporter for {OTLP_ENDPOINT_ENV}"))?;

    let name = std::env::var(SERVICE_NAME_ENV)
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| service_name.to_owned());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(name)
        .build();

    // The SDK's batch processor exports from its own thread; the tonic client
    // it calls still does its I/O on the Tokio runtime captured above.
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build())
}

/// Server side: reads W3C `traceparent`/`tracestate` from request headers so
/// the handler's span can continue the caller's trace (pass the result to
/// `Span::set_parent`). Returns an empty context when there is none.
pub fn extract_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(&opentelemetry::Context::new(), &HeaderExtractor(headers))
    })
}

/// Client side: writes `cx`'s trace context into outgoing gRPC metadata.
pub fn inject_context(cx: &opentelemetry::Context, metadata: &mut MetadataMap) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut MetadataInjector(metadata));
    });
}

/// Tonic client interceptor that propagates the current `tracing` span's
/// trace to the callee, e.g. `Client::with_interceptor(channel, TraceContextInterceptor)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let cx = tracing::Span::current().context();
        inject_context(&cx, request.metadata_mut());
        Ok(request)
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Propagator keys and values are ASCII; anything else is skipped
        // rather than failing the request.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::<Ascii>::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    use tonic::service::Interceptor as _;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN_ID: &str = "00f067aa0ba902b7";

    fn remote_context() -> opentelemetry::Context {
        let state = TraceState::from_key_value([("numhub", "test")]).unwrap();
        let span_context = SpanContext::new(
            TraceId::from_hex(TRACE_ID).unwrap(),
            SpanId::from_hex(SPAN_ID).unwrap(),
            TraceFlags::SAMPLED,
            true,
            state,
        );
        opentelemetry::Context::new().with_remote_span_context(span_context)
    }

    #[test]
    fn trace_context_round_trips_through_grpc_metadata() {
        install_propagator();

        let mut metadata = MetadataMap::new();
        inject_context(&remote_context(), &mut metadata);
        assert_eq!(
            metadata.get("traceparent").unwrap().to_str().unwrap(),
            format!("00-{TRACE_ID}-{SPAN_ID}-01"),
        );

        let headers = metadata.into_headers();
        let extracted = extract_context(&headers);
        let span = extracted.span();
        let sc = span.span_context();
        assert!(sc.is_valid());
        assert!(sc.is_remote());
        assert!(sc.is_sampled());
        assert_eq!(sc.trace_id(), TraceId::from_hex(TRACE_ID).unwrap());
        assert_eq!(sc.span_id(), SpanId::from_hex(SPAN_ID).unwrap());
        assert_eq!(sc.trace_state().get("numhub"), Some("test"));
    }

    #[test]
    fn extract_without_headers_gives_no_span() {
        install_propagator();
        let cx = extract_context(&http::HeaderMap::new());
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn interceptor_injects_current_span_as_child_of_remote_parent() {
        install_propagator();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));

        let request = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("outgoing_call");
            span.set_parent(remote_context()).unwrap();
            let _entered = span.enter();
            TraceContextInterceptor
                .call(tonic::Request::new(()))
                .unwrap()
        });

        let cx = extract_context(&request.into_parts().0.into_headers());
        let span = cx.span();
        let sc = span.span_context();
        assert_eq!(sc.trace_id(), TraceId::from_hex(TRACE_ID).unwrap());
        // The callee's parent must be our client span, not the remote one.
        assert!(sc.span_id() != SpanId::from_hex(SPAN_ID).unwrap());
        assert!(sc.span_id() != SpanId::INVALID);
    }

    #[test]
    fn interceptor_outside_a_span_adds_nothing() {
        install_propagator();
        let request = TraceContextInterceptor
            .call(tonic::Request::new(()))
            .unwrap();
        assert!(request.metadata().get("traceparent").is_none());
    }

    #[test]
    fn invalid_log_filter_is_an_error_naming_the_variable() {
        let config = TelemetryConfig {
            log: "wallet=notalevel[".to_owned(),
            log_format: LogFormat::Text,
        };
        let err = init("numhub-test", &config).unwrap_err();
        assert!(err.to_string().contains("NUMHUB_LOG"), "{err:#}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn init_twice_succeeds_and_second_guard_is_inert() {
        let config = TelemetryConfig {
            log: "warn".to_owned(),
            log_format: LogFormat::Json,
        };
        let first = init("numhub-test", &config).unwrap();
        let second = init("numhub-test", &config).unwrap();
        assert!(second.provider.is_none());
        second.shutdown();
        first.shutdown();
    }

    #[test]
    fn format_resolution() {
        assert_eq!(resolve_format(LogFormat::Auto, true), (false, true));
        assert_eq!(resolve_format(LogFormat::Auto, false), (true, false));
        assert_eq!(resolve_format(LogFormat::Text, false), (false, false));
        assert_eq!(resolve_format(LogFormat::Json, true), (true, false));
    }

    #[test]
    fn flags_parse() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            telemetry: TelemetryConfig,
        }
        let cli = Cli::try_parse_from(["svc", "--log", "debug", "--log-format", "json"]).unwrap();
        assert_eq!(cli.telemetry.log, "debug");
        assert_eq!(cli.telemetry.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["svc", "--log-format", "xml"]).is_err());
    }
}
