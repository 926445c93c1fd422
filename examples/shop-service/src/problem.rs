//! Errors as HTTP answers: `application/problem+json` bodies (RFC 9457).
//!
//! Every failure the service reports is a [`Problem`]: an HTTP status, and a
//! body with RFC 9457's `type`, `title`, `status` and `detail`, plus `rule`,
//! a stable name of the rule that failed (`sold-out`, `invalid-id`, …) for
//! clients to branch on, and sometimes fields about it (`available`,
//! `requested`). Domain errors, es errors and axum's extractor rejections
//! all turn into one, so no input reaches axum's plain-text defaults.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::shop::{CartError, CheckoutError, ProductError};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECS: u32 = 1;

/// An error answer: status, rule, human-readable detail and extra fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// The rule that failed, in kebab case: the last segment of `type`.
    pub rule: &'static str,
    /// A short, fixed summary of the rule.
    pub title: &'static str,
    /// What happened in this request.
    pub detail: String,
    /// More members of the body, such as `available` for `sold-out`.
    pub extra: Map<String, Value>,
}

impl Problem {
    /// A problem with no extra members.
    pub fn new(
        status: StatusCode,
        rule: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            status,
            rule,
            title,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    /// Adds a member to the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// 400: the request itself is wrong, in a way `rule` names.
    pub fn bad_request(rule: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            rule,
            "The request is not valid",
            detail,
        )
    }

    /// 404 for a route that does not exist.
    pub fn no_route(method: &str, path: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-such-route",
            "No such route",
            format!("no route for {method} {}", shorten(path)),
        )
    }

    /// 405 for a route that exists, with another method.
    pub fn wrong_method(method: &str, path: &str) -> Self {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("{} does not accept {method}", shorten(path)),
        )
    }

    /// 404 for an aggregate with no events.
    pub fn not_found(what: &'static str, id: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            match what {
                "Cart" => "cart-not-found",
                _ => "product-not-found",
            },
            "Not found",
            format!("{what} {:?} has no events", shorten(id)),
        )
        .with("id", shorten(id))
    }

    /// 404 for a view the read side does not have: no event of it was
    /// projected, or none yet (the projection lags the writes).
    pub fn view_not_found(kind: &'static str, id: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "view-not-found",
            "No view",
            format!(
                "no {kind} view of {:?}: it has no events, or the projection has not applied them yet",
                shorten(id)
            ),
        )
        .with("view", kind)
        .with("id", shorten(id))
    }

    /// 503 with `Retry-After`: the store failed in a way that may pass.
    pub fn unavailable(rule: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            rule,
            "Temporarily unavailable, retry later",
            detail,
        )
    }

    /// 500: something is wrong on the server's side, not in the request.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        // The detail goes to the log, not to the client: it may name tables
        // and stored keys.
        tracing::error!(error = %detail, "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the service failed; the log has the cause",
        )
    }

    /// The body as JSON.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), format!("/problems/{}", self.rule).into());
        body.insert("title".into(), self.title.into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("detail".into(), self.detail.clone().into());
        body.insert("rule".into(), self.rule.into());
        for (key, value) in &self.extra {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// Cuts user input that is echoed back to 64 characters.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(64).collect();
        cut.push('…');
        cut
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let (rule, status) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                ("unsupported-media-type", StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            JsonRejection::JsonSyntaxError(_) => ("malformed-json", StatusCode::BAD_REQUEST),
            JsonRejection::JsonDataError(_) => ("invalid-body", StatusCode::BAD_REQUEST),
            // Reading the body failed: too large (413), or the connection broke.
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ("body-too-large", StatusCode::PAYLOAD_TOO_LARGE)
            }
            _ => ("unreadable-body", StatusCode::BAD_REQUEST),
        };
        let detail = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "the body must be JSON, sent with `Content-Type: application/json`".to_owned()
            }
            other => other.body_text(),
        };
        Problem::new(status, rule, "The request body is not valid", detail)
    }
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        Problem::bad_request("invalid-path", rejection.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Problem::bad_request("invalid-query", rejection.body_text())
    }
}

impl From<ProductError> for Problem {
    fn from(e: ProductError) -> Self {
        let detail = e.to_string();
        match e {
            ProductError::SoldOut {
                available,
                requested,
            } => Problem::new(StatusCode::CONFLICT, "sold-out", "Sold out", detail)
                .with("available", available)
                .with("requested", requested),
            ProductError::EmptyRestock => Problem::bad_request("empty-restock", detail),
            ProductError::NothingReserved(_) => Problem::new(
                StatusCode::CONFLICT,
                "nothing-reserved",
                "Nothing reserved",
                detail,
            ),
            ProductError::TooManyUnits => Problem::new(
                StatusCode::CONFLICT,
                "too-many-units",
                "Too many units",
                detail,
            ),
        }
    }
}

impl From<CartError> for Problem {
    fn from(e: CartError) -> Self {
        let detail = e.to_string();
        let (status, rule, title) = match e {
            CartError::CheckedOut => (
                StatusCode::CONFLICT,
                "cart-checked-out",
                "The cart is checked out",
            ),
            CartError::NotInCart(_) => (StatusCode::CONFLICT, "not-in-cart", "Not in the cart"),
            CartError::Empty => (StatusCode::CONFLICT, "cart-empty", "The cart is empty"),
            CartError::ZeroQuantity => (
                StatusCode::BAD_REQUEST,
                "quantity-out-of-range",
                "The request is not valid",
            ),
            CartError::TooManyUnits => (StatusCode::CONFLICT, "too-many-units", "Too many units"),
            CartError::HoldExpired { .. } => (
                StatusCode::CONFLICT,
                "hold-expired",
                "A hold on an item expired",
            ),
            CartError::Shipping(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "shipping-invalid",
                "The shipping details are not valid",
            ),
        };
        Problem::new(status, rule, title, detail)
    }
}

impl<E: Into<Problem> + std::fmt::Display> From<es::Error<E>> for Problem {
    fn from(e: es::Error<E>) -> Self {
        // Checked first: a conflict that outlived every retry is contention,
        // which passes, as do throttling and timeouts.
        if e.is_retryable() {
            return Problem::unavailable("store-busy", e.to_string());
        }
        match e {
            es::Error::Rejected(rejection) => rejection.into(),
            es::Error::NotFound { aggregate, id } => Problem::not_found(aggregate, &id),
            es::Error::InvalidKey { reason, .. } => {
                Problem::bad_request("invalid-idempotency-key", reason)
            }
            es::Error::InvalidId { reason, .. } => Problem::bad_request("invalid-id", reason),
            es::Error::KeyReused { key, previous, .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                format!(
                    "idempotency key {:?} already ran a command on {previous}",
                    shorten(&key)
                ),
            ),
            // A customer who asked to be forgotten: nothing personal is
            // stored for them again.
            es::Error::Forgotten { .. } => Problem::new(
                StatusCode::GONE,
                "customer-forgotten",
                "The customer was forgotten",
                e.to_string(),
            ),
            es::Error::TooLarge { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too-large",
                "Too large to store",
                e.to_string(),
            ),
            // Stored data that does not load, or a store failure that will
            // not pass: the server's fault, whatever the request was.
            other => Problem::internal(other),
        }
    }
}

impl From<CheckoutError> for Problem {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::Product(e) => e.into(),
            CheckoutError::Cart(e) => e.into(),
            CheckoutError::Store(e) => e.into(),
        }
    }
}

impl From<std::convert::Infallible> for Problem {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
