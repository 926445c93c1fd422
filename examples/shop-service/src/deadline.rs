//! Time limits that fit the function's: every request is answered before
//! Lambda would cut the function off.
//!
//! The template gives the function 10 seconds (`Timeout: 10`), and es's
//! default store timeouts are 10 seconds an operation, retries included,
//! and 5 an attempt: a stalled DynamoDB would let the function time out,
//! and the client would see API Gateway's bare 503 (or a 504) and never a
//! `Retry-After`. So the service gives the store shorter limits
//! ([`STORE_OPERATION_TIMEOUT`], [`STORE_ATTEMPT_TIMEOUT`]), and each
//! request a deadline of its own ([`deadline`]): on Lambda the invocation's
//! deadline less [`MARGIN`], elsewhere [`LOCAL_BUDGET`]. A request still
//! running then is dropped and answered 503 `deadline-exceeded`, with
//! `Retry-After`. A write cut off that way may or may not have landed, as
//! with any timeout: a command repeated with the same `Idempotency-Key`
//! gets the first run's answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;

use crate::problem::Problem;

/// The longest one DynamoDB request may take, the SDK's retries included.
/// A command makes at most a few of them in a row (a load, a write, the
/// catch-up after a conflict), and the request deadline cuts off the rest.
pub const STORE_OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

/// The longest one try of a DynamoDB request may take. DynamoDB answers in
/// milliseconds; a try this slow is a stalled connection, and the SDK
/// retries it on another within the operation timeout.
pub const STORE_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long before the invocation's deadline a request still running is
/// answered 503: time to write the answer and hand it to the runtime.
pub const MARGIN: Duration = Duration::from_millis(1500);

/// A request's time off Lambda, where no invocation deadline applies: as
/// much as a 10-second function would have.
pub const LOCAL_BUDGET: Duration = Duration::from_millis(8500);

/// The stores' timeouts, for [`es::dynamo::DynamoStore::with_timeouts`].
pub fn store_timeouts() -> (Option<Duration>, Option<Duration>) {
    (Some(STORE_OPERATION_TIMEOUT), Some(STORE_ATTEMPT_TIMEOUT))
}

/// The time `request` has: until its Lambda invocation's deadline less
/// [`MARGIN`], or [`LOCAL_BUDGET`] when it did not come through Lambda.
pub fn budget(request: &Request) -> Duration {
    let Some(context) = request.lambda_context_ref() else {
        return LOCAL_BUDGET;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_millis(context.deadline)
        .saturating_sub(now)
        .saturating_sub(MARGIN)
        // A deadline already (nearly) passed still gets a moment, to answer.
        .max(Duration::from_millis(100))
}

/// Middleware: answers 503 `deadline-exceeded`, with `Retry-After`, when
/// the request is not done within its [`budget`].
pub async fn deadline(request: Request, next: Next) -> Response {
    let budget = budget(&request);
    match tokio::time::timeout(budget, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(budget_ms = budget.as_millis() as u64, "deadline exceeded");
            Problem::unavailable(
                "deadline-exceeded",
                format!(
                    "the request did not finish within {} ms; the store may be slow. \
                     A write may or may not have landed: repeat it with the same \
                     Idempotency-Key to learn its outcome",
                    budget.as_millis()
                ),
            )
            .into_response()
        }
    }
}
