//! Integration events for other services (feature `publish`): a projection
//! that maps stored events to a public contract and publishes it to an SQS
//! FIFO queue, an SNS FIFO topic or an EventBridge bus, in order per
//! aggregate, never skipping one.
//!
//! Stored events are es's private schema: they evolve with the aggregate
//! (renamed, upcast, split). Other services subscribe to **integration
//! events** instead: types of their own, each with a name and a schema
//! version ([`IntegrationEvent`]), that a mapping projection derives from the
//! stored events. The mapping is an ordinary `#[es::projection]`: each
//! handler decides what, if anything, to publish for an event, calling
//! [`publish`], and may keep state in views (a product's stock, say, to
//! publish `StockDepleted` when the last unit goes).
//!
//! A [`Publisher`] wraps the mapping with a [`Target`] and is run by a
//! [`Projector`](es_core::Projector) like any projection, on every driver:
//! a Lambda function on the table's stream, a stream runner, a rebuild, the
//! in-memory change feed. So it inherits the projector's guarantees: each
//! aggregate's events are mapped in version order, a redelivered event is
//! not mapped again, and an event the stream never brought is read from the
//! events table first. [`publish`] stages a message in the projector's run;
//! the publisher sends the run's messages together, in batches, before the
//! projector commits the run's position (`Projection::before_commit`). A
//! send that fails leaves the position where it was, so the run is retried:
//! nothing is lost, and what was sent twice is dropped by the target (FIFO
//! deduplication) or by the consumer (by the message's `id`).
//!
//! ```no_run
//! use es::prelude::*;
//! use es::dynamo::publish::{self, IntegrationEvent, Publisher, SqsFifo};
//! use es::dynamo::{DynamoStore, DynamoViews};
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
//!
//! /// The contract: what other services read, kept apart from `Restocked`.
//! #[derive(Serialize)]
//! struct StockArrived { sku: String, units: u32 }
//!
//! impl IntegrationEvent for StockArrived {
//!     const NAME: &'static str = "StockArrived";
//!     const VERSION: u32 = 1;
//! }
//!
//! struct Contract;
//!
//! #[es::projection(name = "Integration")]
//! impl Contract {
//!     #[on(Restocked)]
//!     async fn restocked(&self, e: &Restocked, at: &Envelope) -> Result<(), es::Error> {
//!         publish::publish(at, &StockArrived { sku: at.id.clone(), units: e.amount })
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = DynamoStore::from_env("events").await;
//! let views = DynamoViews::from_env("views").await;
//! let queue = SqsFifo::from_env("https://sqs.eu-west-1.amazonaws.com/123456789012/stock.fifo").await;
//! let projector = Projector::new(store, views, Publisher::new(Contract, queue));
//! # let _ = projector; Ok(()) }
//! ```
//!
//! `docs/publishing.md` has the contract's JSON, the ordering and
//! duplicates a consumer must expect, the limits, the failure handling and
//! the costs.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use es_core::projection::{Codec, Projected, Projection, ProjectionError, RawEvent};
use es_core::{Envelope, Error, StoreError};
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

pub mod eventbridge;
mod fifo;
mod ids;
pub mod sns;
pub mod sqs;

pub use eventbridge::EventBridge;
pub use ids::{deduplication_id, group_id};
pub use sns::SnsFifo;
pub use sqs::SqsFifo;

/// An event other services subscribe to: a public, versioned contract,
/// serialized as the `data` of a message. Keep it apart from the stored
/// events, so that those can change behind it.
pub trait IntegrationEvent: Serialize + Send + Sync {
    /// Its name, the message's `type` (EventBridge's `detail-type`), such as
    /// `"OrderPlaced"`.
    const NAME: &'static str;
    /// The version of its schema, from 1: bump it when a change would break
    /// a consumer, and publish both versions while consumers move over.
    const VERSION: u32;
}

/// The JSON document of every message: the contract's envelope, with the
/// integration event as its `data`. It is the body of an SQS or SNS message
/// and the `detail` of an EventBridge event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document<D> {
    /// The event's id, `"{aggregate}#{aggregate id}#{version}"`: the same
    /// however often the event is published, so a consumer deduplicates on
    /// it.
    pub id: String,
    /// The integration event's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// The integration event's schema version.
    pub schema_version: u32,
    /// The aggregate the event is of, such as `"Cart"`.
    pub aggregate: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// The stored event's version in its aggregate: 1, 2, 3… without gaps,
    /// so a consumer that keeps the last one it handled per aggregate
    /// knows a duplicate (not above it) from the next (one above it).
    pub aggregate_version: u64,
    /// When the stored event was committed, ISO 8601 UTC with milliseconds.
    pub time: String,
    /// The business flow it belongs to, from the event's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// What caused it, from the event's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// The integration event.
    pub data: D,
}

/// One integration event, serialized, as a [`Target`] sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The event's id, `"{aggregate}#{aggregate id}#{version}"`.
    pub id: String,
    /// The integration event's name.
    pub name: &'static str,
    /// The integration event's schema version.
    pub schema_version: u32,
    /// The aggregate's name.
    pub aggregate: &'static str,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// The stored event's version.
    pub version: u64,
    /// When the stored event was committed.
    pub time: String,
    /// The [`Document`], as JSON.
    pub body: String,
}

impl Message {
    /// The aggregate's key, `"{aggregate}#{id}"`.
    pub fn key(&self) -> String {
        format!("{}#{}", self.aggregate, self.aggregate_id)
    }

    /// The FIFO message group: the aggregate's key ([`group_id`]).
    pub fn group_id(&self) -> String {
        group_id(self.aggregate, &self.aggregate_id)
    }

    /// The FIFO deduplication id: the key and version ([`deduplication_id`]).
    pub fn deduplication_id(&self) -> String {
        deduplication_id(self.aggregate, &self.aggregate_id, self.version)
    }

    /// The body as a document, to read it back.
    ///
    /// # Errors
    ///
    /// When the body is not one.
    pub fn document<D: serde::de::DeserializeOwned>(&self) -> Result<Document<D>, Error> {
        serde_json::from_str(&self.body).map_err(|e| {
            self.failure(
                "read message",
                false,
                format!("the body is not a document: {e}"),
            )
        })
    }

    /// An error about this message, naming its aggregate, id and version.
    pub(crate) fn failure(&self, operation: &'static str, retryable: bool, why: String) -> Error {
        let message = format!(
            "{} {:?} version {} ({} v{}): {why}",
            self.aggregate, self.aggregate_id, self.version, self.name, self.schema_version
        );
        if retryable {
            StoreError::transient(operation, message).into()
        } else {
            StoreError::permanent(operation, message).into()
        }
    }
}

/// Publishes `event` for the event at `at`: serializes it into a
/// [`Document`] and stages it in the driver's run, which sends it before it
/// commits the run's position. Call it from a mapping projection's handler.
///
/// # Errors
///
/// When the event does not serialize, or when `at` belongs to no driver's
/// run (an envelope built with `Envelope::new`, where nothing would send
/// the message). Both name the aggregate, id and version.
pub fn publish<E: IntegrationEvent>(at: &Envelope, event: &E) -> Result<(), Error> {
    let id = format!("{}#{}#{}", at.aggregate, at.id, at.version);
    let document = Document {
        id: id.clone(),
        kind: E::NAME.to_owned(),
        schema_version: E::VERSION,
        aggregate: at.aggregate.to_owned(),
        aggregate_id: at.id.clone(),
        aggregate_version: at.version,
        time: at.timestamp.clone(),
        correlation_id: at.metadata.correlation_id.clone(),
        causation_id: at.metadata.causation_id.clone(),
        data: event,
    };
    let failure = |why: String| -> Error {
        StoreError::permanent(
            "publish",
            format!(
                "{} {:?} version {} ({} v{}): {why}",
                at.aggregate,
                at.id,
                at.version,
                E::NAME,
                E::VERSION
            ),
        )
        .into()
    };
    let body = serde_json::to_string(&document)
        .map_err(|e| failure(format!("the integration event does not serialize: {e}")))?;
    let message = Message {
        id,
        name: E::NAME,
        schema_version: E::VERSION,
        aggregate: at.aggregate,
        aggregate_id: at.id.clone(),
        version: at.version,
        time: at.timestamp.clone(),
        body,
    };
    at.stage_message(message).map_err(|_| {
        failure(
            "the envelope belongs to no driver's run, so nothing would send the message; \
             publish from a projection run by a Projector"
                .to_owned(),
        )
    })
}

/// Where messages go: an SQS FIFO queue ([`SqsFifo`]), an SNS FIFO topic
/// ([`SnsFifo`]), an EventBridge bus ([`EventBridge`]), or memory
/// ([`MemoryTarget`]).
pub trait Target: Send + Sync {
    /// Sends one run's messages, all of one aggregate, in version order.
    /// Returns once every one was accepted; a message may have been
    /// accepted before, and be sent again.
    ///
    /// # Errors
    ///
    /// The first message that was not accepted, with its aggregate, id and
    /// version: retryable when a later attempt may pass.
    fn send<'a>(
        &'a self,
        messages: &'a [Message],
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a;

    /// The requests sent and the messages accepted so far.
    fn sent(&self) -> Sent;
}

/// What a target sent: [`Target::sent`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Requests, retries included.
    pub requests: u64,
    /// Messages accepted (a message sent twice counts twice).
    pub messages: u64,
}

/// A target's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    messages: AtomicU64,
}

impl Counters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accepted(&self, messages: usize) {
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> Sent {
        Sent {
            requests: self.requests.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
        }
    }
}

/// How targets retry the entries of a batch that failed: 5 attempts in
/// all, after waits of up to 50 ms doubling to 1 s.
pub(crate) fn default_retry() -> es_core::Retry {
    es_core::Retry {
        max_attempts: 5,
        base_delay: std::time::Duration::from_millis(50),
        max_delay: std::time::Duration::from_secs(1),
    }
}

/// Checks that no message is over a target's limit, before any is sent.
pub(crate) fn check_sizes(
    messages: &[Message],
    target: &str,
    max: usize,
    size: impl Fn(&Message) -> usize,
) -> Result<(), Error> {
    match messages.iter().find(|m| size(m) > max) {
        Some(m) => Err(m.failure(
            "publish",
            false,
            format!(
                "the message is {} bytes, over {target}'s limit of {max}",
                size(m)
            ),
        )),
        None => Ok(()),
    }
}

/// Chunks of at most `entries` messages and `bytes` bytes, in order.
pub(crate) fn chunks(
    messages: &[Message],
    entries: usize,
    bytes: usize,
    size: impl Fn(&Message) -> usize,
) -> Vec<&[Message]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut total = 0;
    for (i, message) in messages.iter().enumerate() {
        let s = size(message);
        if i > start && (i - start == entries || total + s > bytes) {
            out.push(&messages[start..i]);
            start = i;
            total = 0;
        }
        total += s;
    }
    if start < messages.len() {
        out.push(&messages[start..]);
    }
    out
}

/// A mapping projection and the target its messages go to: a projection
/// itself, run by a [`Projector`](es_core::Projector) on any driver.
///
/// Its name, error type and aggregates are the mapping's; its positions
/// are kept under the mapping's name, apart from any other projection's.
#[derive(Debug)]
pub struct Publisher<M, T> {
    mapping: M,
    target: T,
}

impl<M: Projection, T: Target> Publisher<M, T> {
    /// `mapping`'s messages, sent to `target`.
    pub fn new(mapping: M, target: T) -> Self {
        Publisher { mapping, target }
    }

    /// The mapping projection.
    pub fn mapping(&self) -> &M {
        &self.mapping
    }

    /// The target.
    pub fn target(&self) -> &T {
        &self.target
    }
}

impl<M: Projection, T: Target> Projection for Publisher<M, T> {
    const NAME: &'static str = M::NAME;
    type Error = M::Error;

    fn aggregates() -> Vec<&'static str> {
        M::aggregates()
    }

    fn personal(aggregate: &str, event: &str) -> Option<&'static es_core::erasure::Personal> {
        M::personal(aggregate, event)
    }

    fn project<'a, C: Codec>(
        &'a self,
        codec: &'a C,
        event: RawEvent<C::Payload>,
    ) -> impl Future<Output = Result<Projected, ProjectionError<Self::Error>>> + Send + 'a {
        self.mapping.project(codec, event)
    }

    async fn before_commit(
        &self,
        aggregate: &'static str,
        id: &str,
        staged: Vec<Box<dyn Any + Send>>,
    ) -> Result<(), ProjectionError<Self::Error>> {
        let fail = |source: Error| ProjectionError::Event {
            projection: M::NAME,
            source,
        };
        let mut messages = Vec::with_capacity(staged.len());
        for message in staged {
            match message.downcast::<Message>() {
                Ok(message) => messages.push(*message),
                Err(_) => {
                    return Err(fail(
                        StoreError::permanent(
                            "publish",
                            format!(
                                "{aggregate} {id:?}: a handler of {} staged a message that \
                                     is not an integration event; stage them with \
                                     es::dynamo::publish::publish",
                                M::NAME
                            ),
                        )
                        .into(),
                    ))
                }
            }
        }
        let span = tracing::debug_span!(
            "publish",
            projection = M::NAME,
            aggregate,
            id,
            messages = messages.len()
        );
        self.target
            .send(&messages)
            .instrument(span)
            .await
            .map_err(fail)
    }
}

/// A target in memory: keeps every message it is sent, for tests and the
/// in-memory store. Clones share the messages.
#[derive(Clone, Debug, Default)]
pub struct MemoryTarget {
    messages: Arc<Mutex<Vec<Message>>>,
    counters: Arc<Counters>,
}

impl MemoryTarget {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far, in the order they were sent.
    pub fn messages(&self) -> Vec<Message> {
        self.messages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Target for MemoryTarget {
    async fn send(&self, messages: &[Message]) -> Result<(), Error> {
        self.counters.request();
        self.counters.accepted(messages.len());
        self.messages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(messages.iter().cloned());
        Ok(())
    }

    fn sent(&self) -> Sent {
        self.counters.get()
    }
}
