//! SDK failures as [`StoreError`]s that say whether a retry could help, and
//! for writes whether the outcome is unknown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, ProvideErrorMetadata, SdkError};
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
    // A global table in strong consistency: another Region is writing the
    // item; nothing was written, and a retry may pass.
    "ReplicatedWriteConflictException",
    // KMS (`KmsWrap`): its own failures, a custom key store's HSM slow to
    // answer, or a key briefly unusable.
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
];

/// Cancellation reason codes of a transaction that pass by themselves.
pub(crate) const TRANSIENT_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// The operations that change the table: when one of them fails after its
/// request may have reached DynamoDB, without an answer, its outcome is
/// unknown.
const WRITES: &[&str] = &[
    "PutItem",
    "TransactWriteItems",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
];

/// Classifies an SDK failure of `operation` on `table`: throttling,
/// contention, 5xx, timeouts and dropped connections are transient; anything
/// else (validation, a missing table, access denied) is permanent. A write
/// that failed after its request may have reached DynamoDB (a timeout, a
/// connection lost after sending, a 5xx, an unreadable response) is
/// indeterminate; a refused connection is not, nothing was sent. The SDK
/// error is kept as the source.
pub(crate) fn store_error<E>(
    operation: &'static str,
    table: &str,
    err: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    classify(operation, &format!("table {table:?}"), err, false)
}

/// [`store_error`] for a failure of another AWS service, about `what` (such
/// as `KMS key "alias/x"`), which names it instead of a table.
#[cfg_attr(not(feature = "kms"), allow(dead_code))]
pub(crate) fn service_error<E>(
    operation: &'static str,
    what: &str,
    err: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    classify(operation, what, err, false)
}

/// [`store_error`] for a write sent with `attempts` watching it: it is also
/// indeterminate when an earlier attempt, which the SDK retried, may have
/// landed, whatever the last attempt's failure says.
pub(crate) fn write_error<E>(
    operation: &'static str,
    table: &str,
    err: SdkError<E, HttpResponse>,
    attempts: &Attempts,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    classify(
        operation,
        &format!("table {table:?}"),
        err,
        attempts.unanswered(),
    )
}

/// `what` names what the request was about, such as `table "events"`.
fn classify<E>(
    operation: &'static str,
    what: &str,
    err: SdkError<E, HttpResponse>,
    earlier_unanswered: bool,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // Whether the request may have reached DynamoDB and no answer says
    // what became of it.
    let (transient, unanswered, detail) = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("an unnamed error");
            let server = service.raw().status().is_server_error();
            (
                TRANSIENT_CODES.contains(&code) || server,
                server,
                format!("{code}: {}", e.message().unwrap_or("no message")),
            )
        }
        SdkError::TimeoutError(_) => (true, true, "the request timed out".to_owned()),
        SdkError::DispatchFailure(failure) => {
            let connector = failure.as_connector_error();
            let user = connector.is_some_and(|c| c.is_user());
            let unsent = user || connector.is_some_and(|c| never_connected(c));
            (
                !user,
                !unsent,
                format!("the request could not be sent: {}", source_text(&err)),
            )
        }
        SdkError::ResponseError(_) => (
            true,
            true,
            format!("the response could not be read: {}", source_text(&err)),
        ),
        SdkError::ConstructionFailure(_) => (
            false,
            false,
            format!("the request could not be built: {}", source_text(&err)),
        ),
        _ => (false, true, source_text(&err)),
    };
    let message = format!("{what}: {detail}");
    let error = if WRITES.contains(&operation) && (unanswered || earlier_unanswered) {
        let message = if earlier_unanswered && !unanswered {
            format!("{message}, after an earlier attempt got no answer")
        } else {
            message
        };
        StoreError::indeterminate(operation, message)
    } else if transient {
        StoreError::transient(operation, message)
    } else {
        StoreError::permanent(operation, message)
    };
    error.with_source(err)
}

/// Whether a connector failure happened before the connection was made, so
/// that nothing was sent: a refused connection. Anything else (a reset, a
/// closed connection, a timeout) may have come after the request went out.
fn never_connected(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            ) {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// Watches the attempts of one write request, which the SDK may retry: did
/// any of them go out and fail without an answer that says it was not
/// applied? Then the write's outcome is unknown even when a later attempt
/// fails plainly, say on a refused connection, or finds its version taken,
/// perhaps by that very attempt.
#[derive(Clone, Debug, Default)]
pub(crate) struct Attempts(Arc<AtomicBool>);

impl Attempts {
    /// Whether an attempt may have reached DynamoDB and got no answer.
    pub(crate) fn unanswered(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "es::Attempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The orchestrator takes the request out of the context as it hands
        // it to the connection: while it is still there, nothing was sent.
        if context.request().is_some() {
            return Ok(());
        }
        let unanswered = match context.output_or_error() {
            Some(Ok(_)) => false,
            Some(Err(err)) => match context.response() {
                // DynamoDB answered: a 4xx says nothing was applied, a 5xx
                // (InternalServerError) says nothing for sure.
                Some(response) => response.status().is_server_error() || err.is_response_error(),
                None => !err
                    .as_connector_error()
                    .is_some_and(|c| c.is_user() || never_connected(c)),
            },
            // Cut short, by the operation's timeout.
            None => true,
        };
        if unanswered {
            self.0.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
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
