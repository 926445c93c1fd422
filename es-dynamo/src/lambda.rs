//! A projection as an AWS Lambda function on the table's DynamoDB Stream
//! (feature `lambda`).
//!
//! Give the function's event source mapping `FunctionResponseTypes:
//! [ReportBatchItemFailures]`. [`handle`] projects a batch and answers with
//! the records that failed: Lambda then retries the stream from the first of
//! them, so a failed record comes back with everything after it, in order.
//! Records of other aggregates that had succeeded come back too, and the
//! projection's positions skip them. A record whose retries ran out, which
//! Lambda sends to the failure destination, is read from the events table
//! when the next record of its aggregate comes, or on demand
//! ([`crate::failures`]).
//!
//! The function reads the events table (a `Query` on one aggregate's
//! partition, for gaps) and writes its view table.
//!
//! ```no_run
//! use es::prelude::*;
//! use es::dynamo::{lambda, DynamoViews};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Event, Serialize, Deserialize, Clone, Debug)]
//! # pub struct Restocked { pub amount: u32 }
//! # #[derive(Aggregate, Clone, Debug, Default)]
//! # pub struct Product { pub on_hand: u32 }
//! # #[es::handlers]
//! # impl Product {
//! #     #[on(Restocked)]
//! #     fn restocked(&mut self, e: &Restocked) { self.on_hand += e.amount; }
//! # }
//! # #[derive(Serialize, Deserialize, Clone, Debug, Default)]
//! # struct Stock { on_hand: i64 }
//! struct StockView { views: Views<Stock, DynamoViews> }
//!
//! #[es::projection]
//! impl StockView {
//!     #[on(Restocked)]
//!     async fn restocked(&self, e: &Restocked, at: &Envelope) -> Result<(), es::Error> {
//!         self.views.update(&at.id, at, |s| s.on_hand += i64::from(e.amount)).await?;
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     let store = es::dynamo::DynamoStore::from_env(std::env::var("ES_TABLE")?).await;
//!     let table = DynamoViews::from_env(std::env::var("ES_VIEW_TABLE")?).await;
//!     let view = StockView { views: Views::new(table.clone(), "stock") };
//!     lambda::run(Projector::new(store, table, view)).await
//! }
//! ```

/// A DynamoDB Streams event as Lambda hands it to a function
/// (`aws_lambda_events`), for a handler that takes several kinds of events
/// and hands this one on to [`handle`].
pub use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use es_core::projection::Projection;
use es_core::{Projector, ViewTable};
use lambda_runtime::{service_fn, LambdaEvent};

use crate::batch::{project_batch, BatchReport, StreamRecord};
use crate::DynamoStore;

/// A Lambda event's record, as a [`StreamRecord`].
pub fn record(record: EventRecord) -> StreamRecord {
    record.into()
}

/// Projects a Lambda event's batch, in order per aggregate.
pub async fn project<T: ViewTable, P: Projection>(
    projector: &Projector<DynamoStore, T, P>,
    event: Event,
) -> BatchReport<P::Error> {
    let records = event.records.into_iter().map(record).collect();
    project_batch(projector, records).await
}

/// Projects a Lambda event's batch and answers with the records to retry.
///
/// # Errors
///
/// When a record that failed has no sequence number to report, the whole
/// batch fails, so that Lambda retries all of it.
pub async fn handle<T: ViewTable, P: Projection>(
    projector: &Projector<DynamoStore, T, P>,
    event: Event,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let report = project(projector, event).await;
    response(&report)
}

/// The answer to Lambda for a projected batch: its failed records.
///
/// # Errors
///
/// When a failed record has no sequence number.
pub fn response<E: std::error::Error + 'static>(
    report: &BatchReport<E>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let Some(retry) = report.retry() else {
        return Err(format!(
            "a failed record has no sequence number, so the whole batch is retried: {}",
            report
                .failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
        .into());
    };
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = retry
        .into_iter()
        .map(|sequence_number| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence_number);
            failure
        })
        .collect();
    Ok(response)
}

/// Runs a projector as the Lambda function's handler, until the runtime
/// stops it. The projector lives as long as the container: the positions
/// it read or wrote stay known across invocations, so a warm function
/// reads a position only when another writer moved it.
pub async fn run<T: ViewTable, P: Projection>(
    projector: Projector<DynamoStore, T, P>,
) -> Result<(), lambda_runtime::Error> {
    let projector = &projector;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        handle(projector, event.payload).await
    }))
    .await
}
