//! One `tracing` span per DynamoDB request, with what it cost.

use tracing::field::Empty;
use tracing::Span;

/// The span of one request. `items` and `capacity` are filled in by [`done`].
pub(crate) fn request(table: &str, operation: &'static str, aggregate: &str, id: &str) -> Span {
    tracing::debug_span!(
        "dynamodb",
        table,
        operation,
        aggregate,
        id,
        items = Empty,
        capacity = Empty,
        outcome = Empty
    )
}

/// Records what a request read or wrote, and the capacity units it cost.
pub(crate) fn done(span: &Span, outcome: &'static str, items: u64, capacity: f64) {
    span.record("items", items);
    span.record("capacity", capacity);
    span.record("outcome", outcome);
    tracing::debug!(parent: span, outcome, items, capacity, "dynamodb request");
}
