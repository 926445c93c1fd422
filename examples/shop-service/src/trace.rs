//! Which request this is: the ids that go into each event's metadata and
//! into every log line.
//!
//! - The request id is API Gateway's (`requestContext.requestId`) on Lambda,
//!   and one the service makes up when it serves a socket itself.
//! - The trace id is the X-Ray trace id from the `X-Amzn-Trace-Id` header,
//!   which `lambda_http` sets from the invocation's trace on Lambda, and
//!   which a load balancer or another service may send.
//!
//! In an event's metadata the correlation id is the trace's root (it ties
//! together everything one business flow did, across services), or the
//! request id when there is no trace; the causation id is the request id
//! (the message that caused the event); the command id is the request's
//! `Idempotency-Key`, when it has one.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;

/// The header that carries an X-Ray trace id.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";
/// The response header that names the request id, so a client can quote it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest header value taken as an id. X-Ray's header is about 100 bytes; a
/// longer one is not an id, and metadata should stay small.
const MAX_ID_LEN: usize = 256;

/// The ids of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIds {
    /// API Gateway's request id, or a local one.
    pub request_id: String,
    /// The whole `X-Amzn-Trace-Id` value, when there is one.
    pub trace_id: Option<String>,
}

impl RequestIds {
    /// Reads the ids from a request's headers and `lambda_http`'s extensions.
    pub fn of(parts: &Parts) -> Self {
        let request_id = parts
            .extensions
            .request_context_ref()
            .and_then(|context| match context {
                RequestContext::ApiGatewayV2(context) => context.request_id.clone(),
                // Non-exhaustive: other event sources, if enabled one day.
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .filter(|id| usable(id))
            .unwrap_or_else(local_request_id);
        let trace_id = parts
            .headers
            .get(TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| usable(id))
            .map(str::to_owned);
        RequestIds {
            request_id,
            trace_id,
        }
    }

    /// The trace's root id (`Root=1-…` of an X-Ray header), or the whole
    /// header when it has no `Root` field.
    pub fn trace_root(&self) -> Option<&str> {
        let trace = self.trace_id.as_deref()?;
        let root = trace
            .split(';')
            .find_map(|field| field.trim().strip_prefix("Root="));
        Some(root.unwrap_or(trace))
    }

    /// The metadata for the events this request writes.
    pub fn metadata(&self, idempotency_key: Option<&str>) -> es::Metadata {
        es::Metadata {
            correlation_id: Some(
                self.trace_root()
                    .map_or_else(|| self.request_id.clone(), str::to_owned),
            ),
            causation_id: Some(self.request_id.clone()),
            command_id: idempotency_key.map(str::to_owned),
            ..es::Metadata::default()
        }
    }
}

fn usable(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A request id for requests that did not come through API Gateway: unique
/// within the process (a counter) and across restarts (the start time).
fn local_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    });
    format!("local-{start:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl<S: Send + Sync> FromRequestParts<S> for RequestIds {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The middleware put them there; read them again only for a router
        // built without it.
        Ok(parts
            .extensions
            .get::<RequestIds>()
            .cloned()
            .unwrap_or_else(|| RequestIds::of(parts)))
    }
}

/// Middleware: works out the request's ids once, hands them to the handler,
/// names the request id in the answer, and logs one line per request.
pub async fn track(request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let ids = RequestIds::of(&parts);
    parts.extensions.insert(ids.clone());
    let method = parts.method.clone();
    let path = crate::problem::shorten(parts.uri.path());
    let span = tracing::info_span!(
        "request",
        request_id = %ids.request_id,
        trace_id = ids.trace_id.as_deref().unwrap_or(""),
    );
    let started = std::time::Instant::now();
    let mut response =
        tracing::Instrument::instrument(next.run(Request::from_parts(parts, body)), span.clone())
            .await;
    if let Ok(value) = HeaderValue::from_str(&ids.request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "answered"
        );
    });
    response
}
