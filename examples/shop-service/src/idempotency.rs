//! An `Idempotency-Key` remembers the request it came with.
//!
//! es's idempotency keys make a command apply once: a second run with the
//! same key writes nothing and answers as the first did. A client that
//! reuses a key for another request, by mistake, would then get the answer
//! to the first one, for a request it never sent. So the service stores a
//! fingerprint of each keyed request (a hash of its method, path and body)
//! in the metadata of the events it writes, beside the key (`commandId`),
//! as `requestFingerprint`; a repeat whose fingerprint differs is refused
//! with 422 `idempotency-key-reused`, and an identical repeat gets the
//! first answer, as before.
//!
//! The body is hashed in a canonical form of its JSON (object keys sorted,
//! no white space), so that `{"a": 1, "b": 2}` and `{"b":2,"a":1}` are the
//! same request; a body that is not JSON is hashed as its bytes. The hash
//! is 128-bit FNV-1a: stable across builds and Rust versions (it is
//! stored), and a clash between two requests of one client under one key
//! is out of reach of chance. It is no defence against a client crafting
//! one, and need not be: the key is that client's own.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::problem::{shorten, Problem};
use crate::routes::IDEMPOTENCY_KEY;
use crate::MAX_BODY_BYTES;

/// The metadata entry that holds a keyed request's fingerprint.
pub const FINGERPRINT: &str = "requestFingerprint";

/// The fingerprint of a request that carries an `Idempotency-Key`; `None`
/// for a request without one (the [`fingerprint`] middleware reads and
/// hashes bodies only for those).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Fingerprint(pub Option<String>);

impl Fingerprint {
    /// The fingerprint of `method`, `path` and `body`.
    pub fn of(method: &str, path: &str, body: &[u8]) -> Self {
        let mut text = Vec::with_capacity(body.len() + path.len() + 16);
        text.extend_from_slice(method.as_bytes());
        text.push(b'\n');
        text.extend_from_slice(path.as_bytes());
        text.push(b'\n');
        match serde_json::from_slice::<Value>(body) {
            Ok(json) => {
                let mut json_text = String::with_capacity(body.len());
                canonical(&json, &mut json_text);
                text.extend_from_slice(b"json:");
                text.extend_from_slice(json_text.as_bytes());
            }
            Err(_) => {
                text.extend_from_slice(b"raw:");
                text.extend_from_slice(body);
            }
        }
        Fingerprint(Some(format!("fnv1a128:{:032x}", fnv1a128(&text))))
    }

    /// Puts the fingerprint in `metadata`, when there is one.
    pub fn stamp(&self, mut metadata: es::Metadata) -> es::Metadata {
        if let Some(fingerprint) = &self.0 {
            metadata
                .extra
                .insert(FINGERPRINT.to_owned(), fingerprint.clone().into());
        }
        metadata
    }

    /// Checks a repeat under `key` against the metadata of the event its
    /// first run wrote: the same request, or one written before
    /// fingerprints were (which is taken as the same), passes; another is
    /// 422 `idempotency-key-reused`.
    pub fn check(&self, key: &str, first: &es::Metadata) -> Result<(), Problem> {
        let (Some(now), Some(Value::String(then))) = (&self.0, first.extra.get(FINGERPRINT)) else {
            return Ok(());
        };
        if now == then {
            return Ok(());
        }
        Err(key_reused(
            key,
            "was first sent with another request (method, path or body)",
        ))
    }
}

/// 422 `idempotency-key-reused`: `key` `what`.
pub fn key_reused(key: &str, what: &str) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        "Idempotency key reused",
        format!(
            "idempotency key {:?} {what}; a new request needs a new key",
            shorten(key)
        ),
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Fingerprint {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Fingerprint>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Middleware: for a request with an `Idempotency-Key`, reads its body (up
/// to [`MAX_BODY_BYTES`]), hashes it with the method and path, and hands the
/// [`Fingerprint`] and the body on to the handler.
pub async fn fingerprint(request: Request, next: Next) -> Response {
    if !request.headers().contains_key(IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let too_large =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.to_string().contains("length limit exceeded"));
            return if too_large {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "The request body is not valid",
                    format!("the body is over the limit of {MAX_BODY_BYTES} bytes"),
                )
            } else {
                Problem::bad_request(
                    "unreadable-body",
                    format!("the body could not be read: {e}"),
                )
            }
            .into_response();
        }
    };
    let fingerprint = Fingerprint::of(parts.method.as_str(), parts.uri.path(), &bytes);
    parts.extensions.insert(fingerprint);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// JSON with object keys sorted and no white space.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// 128-bit FNV-1a.
fn fnv1a128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    bytes.iter().fold(OFFSET, |hash, &b| {
        (hash ^ u128::from(b)).wrapping_mul(PRIME)
    })
}
