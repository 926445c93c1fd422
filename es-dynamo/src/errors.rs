//! SDK failures as [`StoreError`]s that say whether a retry could help.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use es_core::StoreError;

/// Service error codes that pass by themselves: throttling, contention and
/// DynamoDB's own failures.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "LimitExceededException",
];

/// Cancellation reason codes of a transaction that pass by themselves.
pub(crate) const TRANSIENT_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// Classifies an SDK failure of `operation` on `table`: throttling,
/// contention, 5xx, timeouts and dropped connections are transient; anything
/// else (validation, a missing table, access denied) is permanent. The SDK
/// error is kept as the source.
pub(crate) fn store_error<E>(
    operation: &'static str,
    table: &str,
    err: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (transient, detail) = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("an unnamed error");
            let transient =
                TRANSIENT_CODES.contains(&code) || service.raw().status().is_server_error();
            (
                transient,
                format!("{code}: {}", e.message().unwrap_or("no message")),
            )
        }
        SdkError::TimeoutError(_) => (true, "the request timed out".to_owned()),
        SdkError::DispatchFailure(failure) => {
            let user = failure.as_connector_error().is_some_and(|c| c.is_user());
            (
                !user,
                format!("the request could not be sent: {}", source_text(&err)),
            )
        }
        SdkError::ResponseError(_) => (
            true,
            format!("the response could not be read: {}", source_text(&err)),
        ),
        SdkError::ConstructionFailure(_) => (
            false,
            format!("the request could not be built: {}", source_text(&err)),
        ),
        _ => (false, source_text(&err)),
    };
    let message = format!("table {table:?}: {detail}");
    let error = if transient {
        StoreError::transient(operation, message)
    } else {
        StoreError::permanent(operation, message)
    };
    error.with_source(err)
}

fn source_text(err: &dyn std::error::Error) -> String {
    let mut text = String::new();
    let mut next = err.source();
    while let Some(e) = next {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&e.to_string());
        next = e.source();
    }
    if text.is_empty() {
        err.to_string()
    } else {
        text
    }
}
