//! Counts what a DynamoDB client sends, from outside the framework using it.
//!
//! dynamo-es keeps no statistics and asks DynamoDB for no consumed capacity,
//! so its requests and capacity are counted here, by an interceptor on the
//! SDK client handed to it. The same interceptor sits on every client in the
//! benchmark (es's too, whose counts the report prints beside es's own
//! `Stats`), so each contender pays the same bookkeeping inside its timings:
//! per request a mutex lock and a few additions, per call the sizing of the
//! items it writes, and per Query the sizing of the items it returns.
//!
//! Capacity is computed with DynamoDB's documented formulas from the items on
//! the wire, not read from DynamoDB Local's `ConsumedCapacity`, which is
//! wrong for multi-item transactions: a standard write costs 1 WCU per KB of
//! the item, a transactional one 2 WCU per KB of each item, and a consistent
//! Query 1 RCU per 4 KB of all the items it returns.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use es::dynamo::item_size;
use es::store::capacity;

/// What one client sent, summed since it was built.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    /// Calls per operation name (`Query`, `TransactWriteItems`, …), one per
    /// call however many times the SDK retried it.
    pub operations: BTreeMap<String, u64>,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Items written, counting each item of a transaction.
    pub items_written: u64,
    /// The bytes of those items, as DynamoDB sizes them.
    pub bytes_written: u64,
    /// Write units by the documented formulas, for every write attempted:
    /// DynamoDB bills a write whose condition fails too.
    pub write_units: f64,
    /// Items returned by Queries.
    pub items_read: u64,
    /// The bytes of those items.
    pub bytes_read: u64,
    /// Read units of those Queries, priced as consistent reads.
    pub read_units: f64,
}

impl Counts {
    /// Calls of `operation`.
    pub fn calls(&self, operation: &str) -> u64 {
        self.operations.get(operation).copied().unwrap_or(0)
    }

    /// What was sent between `before` and `self`.
    pub fn since(&self, before: &Counts) -> Counts {
        Counts {
            operations: self
                .operations
                .iter()
                .map(|(op, n)| (op.clone(), n - before.calls(op)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            requests: self.requests - before.requests,
            items_written: self.items_written - before.items_written,
            bytes_written: self.bytes_written - before.bytes_written,
            write_units: self.write_units - before.write_units,
            items_read: self.items_read - before.items_read,
            bytes_read: self.bytes_read - before.bytes_read,
            read_units: self.read_units - before.read_units,
        }
    }

    /// The operations as `1 Query + 1 TransactWriteItems`, each divided by
    /// `per` (the number of commands they served).
    pub fn operations_per(&self, per: usize) -> String {
        if self.operations.is_empty() {
            return "none".to_owned();
        }
        self.operations
            .iter()
            .map(|(op, n)| format!("{} {op}", trim(*n as f64 / per as f64)))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// `2` for 2.0, `1.50` otherwise: whole numbers read as counts.
pub fn trim(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The interceptor: clone it into a client's config, read it with
/// [`Counter::counts`].
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<Mutex<Counts>>);

impl Counter {
    /// Everything counted so far.
    pub fn counts(&self) -> Counts {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A panic elsewhere while holding the lock leaves plain numbers
        // behind, still worth reading.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    /// Once per call, before any attempt (the SDK serializes a request once
    /// and resends it on retries): the operation, and the write units of the
    /// items it is about to write. Not `read_before_execution`: a client's
    /// interceptors run that before the operation's name is in the bag.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let mut counts = self.lock();
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        *counts.operations.entry(operation.to_owned()).or_default() += 1;
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            let bytes = put.item().map_or(0, item_size);
            counts.items_written += 1;
            counts.bytes_written += bytes as u64;
            counts.write_units += capacity::write(bytes);
        } else if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
            // Only the Puts carry whole items, and they are all dynamo-es
            // and es send; other actions would be priced by their key only.
            let sizes: Vec<usize> = tx
                .transact_items()
                .iter()
                .filter_map(|action| action.put())
                .map(|put| item_size(put.item()))
                .collect();
            counts.items_written += sizes.len() as u64;
            counts.bytes_written += sizes.iter().sum::<usize>() as u64;
            counts.write_units += capacity::transaction(sizes);
        }
        Ok(())
    }

    /// Once per HTTP request, retries included.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.lock().requests += 1;
        Ok(())
    }

    /// Once per response: the items a Query returned.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        if let Some(query) = output.downcast_ref::<QueryOutput>() {
            let bytes: usize = query.items().iter().map(item_size).sum();
            let mut counts = self.lock();
            counts.items_read += query.items().len() as u64;
            counts.bytes_read += bytes as u64;
            counts.read_units += capacity::consistent_read(bytes);
        }
        Ok(())
    }
}
