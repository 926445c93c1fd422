//! Projections: read models kept up to date from the events of one or more
//! aggregates.
//!
//! A projection is a struct with async `#[on(Event)]` handlers in an
//! `#[es::projection]` impl block. Each handler sees the event and its
//! [`Envelope`]: the aggregate's name and id, the event's version, timestamp
//! and metadata. The macro generates [`Projection::project`], which takes one
//! still-encoded [`RawEvent`] of any aggregate, decodes it exactly as a load
//! would, and runs the handler it belongs to.
//!
//! One code path, several drivers: the DynamoDB Stream (a Lambda function or
//! es-dynamo's stream runner), [`rebuild`](crate::rebuild()), which runs a
//! projection over every stored aggregate, and the in-memory change feed.
//! Each runs it through a [`Projector`](crate::Projector), which keeps the
//! projection's position per aggregate: delivery is at least once, and not
//! always complete, but an event is applied only once every earlier event of
//! its aggregate has been, and each exactly once.
//!
//! ```
//! # mod doc { include!("../doc/product.rs"); }
//! # use doc::*;
//! use es::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! /// Units on hand, per product.
//! #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
//! struct Stock { on_hand: i64 }
//!
//! struct StockView<T> { views: Views<Stock, T> }
//!
//! #[es::projection]
//! impl<T: ViewTable> StockView<T> {
//!     #[on(Restocked)]
//!     async fn restocked(&self, e: &Restocked, at: &Envelope) -> Result<(), es::Error> {
//!         self.views.update(&at.id, at, |s| s.on_hand += i64::from(e.amount)).await?;
//!         Ok(())
//!     }
//!
//!     #[on(Reserved)]
//!     async fn reserved(&self, e: &Reserved, at: &Envelope) -> Result<(), es::Error> {
//!         self.views.update(&at.id, at, |s| s.on_hand -= i64::from(e.quantity)).await?;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! Product::load(&store, "sku-1").await?.commit(Restocked { amount: 10 }).await?;
//! Product::execute(&store, "sku-1", |p| p.reserve("cart-1", 3)).await?;
//!
//! let table = MemoryViews::new();
//! let view = StockView { views: Views::new(table.clone(), "stock") };
//! let projector = Projector::new(store.clone(), table, view);
//! let report = es::rebuild(&projector).run().await?;
//! assert_eq!(report.events, 2);
//! let stock = &projector.projection().views;
//! assert_eq!(stock.get("sku-1").await?, Some(Stock { on_hand: 7 }));
//! # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeSeed;

use crate::aggregate::Aggregate;
use crate::error::Error;
use crate::event::{is_named, Event, Metadata};
use crate::limits::stream_key;
use crate::store::StoredEvent;

/// Where an event sits: what a projection handler sees beside the event.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The aggregate's name, such as `"Product"`.
    pub aggregate: &'static str,
    /// The aggregate's id.
    pub id: String,
    /// The event's version in its aggregate, 1-based and contiguous.
    pub version: u64,
    /// When it was committed, ISO 8601 UTC with milliseconds.
    pub timestamp: String,
    /// Its metadata: correlation, causation and command ids, and the rest.
    pub metadata: Metadata,
    /// The driver's run of events this one belongs to, which
    /// [`Views::update`](crate::Views::update) stages its rows in.
    pub(crate) stage: StageRef,
    /// The event's personal fields as stored, sealed, by serialized name.
    pub(crate) sealed: Sealed,
}

/// A driver's stage, type-erased so that an envelope has no table type;
/// [`Views::update`](crate::Views::update) downcasts it to its own. Beside
/// it, the run's outbox: the messages its handlers staged for
/// [`Projection::before_commit`].
#[derive(Clone, Default)]
pub(crate) struct StageRef(
    pub(crate) Option<Arc<dyn Any + Send + Sync>>,
    pub(crate) Option<Arc<Outbox>>,
);

/// The messages the handlers of a driver's run staged with
/// [`Envelope::stage_message`], each with the version of the event that
/// staged it, in the order they were staged.
#[derive(Default)]
pub(crate) struct Outbox(std::sync::Mutex<Vec<(u64, Box<dyn Any + Send>)>>);

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Box<dyn Any + Send>)>> {
        // A handler that panicked while pushing left a whole vector: every
        // change below is one push, retain or take.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops what the event at `version` staged: it failed, or starts the
    /// next run.
    pub(crate) fn discard(&self, version: u64) {
        self.lock().retain(|(v, _)| *v != version);
    }

    /// Takes every staged message, oldest first.
    pub(crate) fn take(&self) -> Vec<Box<dyn Any + Send>> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|(_, message)| message)
            .collect()
    }
}

impl PartialEq for StageRef {
    /// Two envelopes of one event are equal whichever run they belong to.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for StageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Staged"
        } else {
            "Unstaged"
        })
    }
}

/// The personal fields of an event as stored, sealed, by serialized name.
pub(crate) type Sealed = Arc<std::collections::BTreeMap<String, crate::erasure::Sealed>>;

impl Envelope {
    /// The personal field `field` (its serialized name) as it is stored:
    /// sealed under its subject's key. A view keeps this instead of the
    /// plaintext its handler sees, and a reader of the view opens it with
    /// [`Vault::open`](crate::erasure::Vault::open), which answers `None`
    /// once the subject is forgotten. `None` when the field is not
    /// personal, or the event was not read through a driver that opens
    /// sealed fields.
    pub fn sealed(&self, field: &str) -> Option<&crate::erasure::Sealed> {
        self.sealed.get(field)
    }

    /// An envelope outside any driver, such as a handler's unit test builds:
    /// a [`Views::update`](crate::Views::update) given it writes at once.
    pub fn new(
        aggregate: &'static str,
        id: impl Into<String>,
        version: u64,
        timestamp: impl Into<String>,
        metadata: Metadata,
    ) -> Self {
        Envelope {
            aggregate,
            id: id.into(),
            version,
            timestamp: timestamp.into(),
            metadata,
            stage: StageRef::default(),
            sealed: Sealed::default(),
        }
    }

    pub(crate) fn stage(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.stage.0.as_deref()
    }

    /// An idempotency key (or timer id) for a command this event causes:
    /// `"{aggregate}#{id}@{version}/{what}"`. A process manager gives it to
    /// the commands its handlers issue, so that a redelivered event runs
    /// each of them once; `what` tells apart several commands of one event.
    ///
    /// ```
    /// let at = es::Envelope::new("Cart", "c-1", 3, "2026-12-07T00:00:00.000Z", Default::default());
    /// assert_eq!(at.command_key("expire/mug"), "Cart#c-1@3/expire/mug");
    /// ```
    pub fn command_key(&self, what: &str) -> String {
        format!("{}@{}/{what}", self.key(), self.version)
    }

    /// Stages a message for after the handlers of the driver's run: the
    /// driver hands every message its run's handlers staged to the
    /// projection's [`Projection::before_commit`], in the order they were
    /// staged, before it commits the run's position. A message staged by an
    /// event that fails, or that the driver leaves to a later run, is
    /// dropped with that event's other changes.
    ///
    /// Outside a driver (an envelope from [`Envelope::new`]) there is no
    /// run to stage in, and the message is given back.
    ///
    /// # Errors
    ///
    /// The message, when the envelope belongs to no driver's run.
    pub fn stage_message<M: Any + Send>(&self, message: M) -> Result<(), M> {
        match &self.stage.1 {
            Some(outbox) => {
                outbox.lock().push((self.version, Box::new(message)));
                Ok(())
            }
            None => Err(message),
        }
    }

    /// The aggregate's stored key, `"{aggregate}#{id}"`: what a projection
    /// keeps its position for the aggregate under.
    pub fn key(&self) -> String {
        stream_key(self.aggregate, &self.id)
    }
}

/// An event of any aggregate, still encoded, as a driver hands it to a
/// projection: a stream record's new image, or an event read from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct RawEvent<P> {
    /// The aggregate's name, from the stored key.
    pub aggregate: String,
    /// The aggregate's id.
    pub id: String,
    /// The stored event.
    pub event: StoredEvent<P>,
    /// The driver's run it is projected in, if any.
    pub(crate) stage: StageRef,
    /// Its personal fields as stored, once a driver opened them.
    pub(crate) sealed: Sealed,
}

impl<P> RawEvent<P> {
    /// An event of aggregate `aggregate` and id `id`, outside any driver's
    /// run.
    pub fn new(aggregate: impl Into<String>, id: impl Into<String>, event: StoredEvent<P>) -> Self {
        RawEvent {
            aggregate: aggregate.into(),
            id: id.into(),
            event,
            stage: StageRef::default(),
            sealed: Sealed::default(),
        }
    }
}

/// Decodes a store's payloads, without the store: what a projection needs to
/// read an event from a stream record as well as from the store.
///
/// [`MemoryStore`](crate::MemoryStore) implements it, and so do es-dynamo's
/// `DynamoStore` and `DynamoCodec` (for stream images).
pub trait Codec: Send + Sync {
    /// The encoded form: a JSON value in memory, a DynamoDB attribute value
    /// in DynamoDB.
    type Payload: Clone + Debug + Send + Sync + 'static;

    /// Decodes a payload with a seed.
    fn decode_payload<T, V>(
        &self,
        seed: T,
        payload: Self::Payload,
    ) -> Result<V, crate::store::CodecError>
    where
        T: for<'de> DeserializeSeed<'de, Value = V>;
}

/// What a projection did with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Projected {
    /// A handler ran.
    Applied,
    /// The event is of an aggregate the projection listens to, it decoded,
    /// and no handler wants it.
    Ignored,
    /// The event is of an aggregate the projection does not listen to.
    NotListened,
}

/// A read model kept from events. Implement it with `#[es::projection]` on
/// the impl block of its `#[on(Event)]` handlers.
///
/// Handlers take `&self`: a driver may project the events of different
/// aggregates at once, and keeps each aggregate's events in order. State
/// lives in a view table ([`Views`](crate::Views)), or behind a lock.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a projection",
    label = "`{Self}` has no `#[es::projection]` impl block",
    note = "add `#[es::projection] impl {Self} {{ #[on(SomeEvent)] async fn some(&self, e: &SomeEvent, at: &Envelope) {{ .. }} }}`"
)]
pub trait Projection: Send + Sync {
    /// The projection's name, which its checkpoints are kept under. The
    /// type's name unless `#[es::projection(name = "..")]` says otherwise.
    const NAME: &'static str;

    /// The error its handlers return; `es::Error` unless
    /// `#[es::projection(error = ..)]` says otherwise.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The names of the aggregates it listens to, each once.
    fn aggregates() -> Vec<&'static str>;

    /// The personal fields of the event `event` of aggregate `aggregate`,
    /// if it has any: a driver opens them ([`erasure`](crate::erasure))
    /// before [`project`](Projection::project) decodes the event.
    /// `#[es::projection]` implements it from the listened aggregates'
    /// events; a projection that wraps another must pass it on.
    fn personal(aggregate: &str, event: &str) -> Option<&'static crate::erasure::Personal> {
        let _ = (aggregate, event);
        None
    }

    /// Decodes one event and runs its handler.
    ///
    /// An event of an aggregate it does not listen to is
    /// [`Projected::NotListened`], without being decoded. An event of a
    /// listened aggregate is decoded as a load decodes it, even when no
    /// handler wants it: an event that does not decode, or that the
    /// aggregate does not know, is an error for that event, never a skip.
    fn project<'a, C: Codec>(
        &'a self,
        codec: &'a C,
        event: RawEvent<C::Payload>,
    ) -> impl Future<Output = Result<Projected, ProjectionError<Self::Error>>> + Send + 'a;

    /// Takes the messages a driver's run of events of one aggregate staged
    /// ([`Envelope::stage_message`]), after its handlers ran and before
    /// the driver commits the run's position, so that they can be sent
    /// together: a publisher of integration events sends them here.
    ///
    /// Called only when the run staged a message. When it fails, the run's
    /// position and views are not committed, and the driver reports the
    /// run's first event as failed: the run is projected again, and its
    /// messages staged and handed over again, when it is retried.
    ///
    /// The default refuses any message: a projection whose handlers stage
    /// messages must take them, or they would be lost. A projection that
    /// wraps another must pass them on.
    fn before_commit<'a>(
        &'a self,
        aggregate: &'static str,
        id: &'a str,
        messages: Vec<Box<dyn Any + Send>>,
    ) -> impl Future<Output = Result<(), ProjectionError<Self::Error>>> + Send + 'a {
        async move {
            Err(ProjectionError::Event {
                projection: Self::NAME,
                source: crate::error::StoreError::permanent(
                    "project",
                    format!(
                        "{aggregate} {id:?}: its handlers staged {} message(s), which {} does \
                         not take (it does not implement `before_commit`)",
                        messages.len(),
                        Self::NAME
                    ),
                )
                .into(),
            })
        }
    }
}

/// Why a projection failed on one event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError<E> {
    /// A handler returned an error.
    #[error("{projection}: the {event} handler failed on {aggregate} {id:?} version {version}: {source}")]
    Handler {
        /// The projection's name.
        projection: &'static str,
        /// The event's name.
        event: &'static str,
        /// The aggregate's name.
        aggregate: &'static str,
        /// The aggregate's id.
        id: String,
        /// The event's version.
        version: u64,
        /// The handler's error.
        #[source]
        source: E,
    },

    /// The event could not be read: [`Error::Corrupt`] or
    /// [`Error::UnknownEvent`], naming the aggregate, id and version, as a
    /// load would fail on the same item; or a store failure of a driver.
    #[error("{projection}: {source}")]
    Event {
        /// The projection's name.
        projection: &'static str,
        /// What went wrong.
        #[source]
        source: Error,
    },
}

impl<E> ProjectionError<E> {
    /// The aggregate, id and version of the event it failed on, when known.
    pub fn event(&self) -> Option<(&str, &str, u64)> {
        match self {
            ProjectionError::Handler {
                aggregate,
                id,
                version,
                ..
            } => Some((aggregate, id, *version)),
            ProjectionError::Event { .. } => None,
        }
    }
}

// ---- What the generated code calls ----------------------------------------

/// Ties an event type to the aggregate that handles it, so that a
/// projection's `#[on(Event)]` knows which aggregate's stream to read it from.
/// `#[es::handlers]` implements it for every handled event.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event of any aggregate",
    label = "no aggregate's `#[es::handlers]` handles `{Self}`",
    note = "a projection handles the events of aggregates: add a handler for `{Self}` to an aggregate's `#[es::handlers]` block"
)]
///
/// It has no bounds of its own, so that a mistake in the aggregate or the
/// event is reported once, where it is, and not again here.
pub trait EventOf<A> {}

/// An event type and the aggregate whose stream it is read from. The macro
/// generates one function per handler that returns it, `fn() -> impl
/// Route<Event = E>`, so that the aggregate is inferred, and a mistake
/// reported, in one place.
#[doc(hidden)]
pub trait Route: Send + Sync + 'static {
    type Event: Event;
    type Aggregate: Aggregate;
}

#[doc(hidden)]
pub struct Marker<E, A>(PhantomData<fn() -> (E, A)>);

impl<E: Event, A: Aggregate> Route for Marker<E, A> {
    type Event = E;
    type Aggregate = A;
}

/// The route of event `E`: from the aggregate that handles it, inferred from
/// its only [`EventOf`] impl, or given.
#[doc(hidden)]
pub fn which_aggregate<E: Event + EventOf<Aggregate>, Aggregate: self::Aggregate>(
) -> Marker<E, Aggregate> {
    Marker(PhantomData)
}

/// The name of a route's aggregate.
#[doc(hidden)]
pub fn aggregate_of<R: Route>(_: R) -> &'static str {
    <R::Aggregate as Aggregate>::NAME
}

/// The event and its envelope, or the raw event back when it is another.
#[doc(hidden)]
pub type Decoded<E, P> = Result<(E, Envelope), RawEvent<P>>;

/// Decodes `raw` as the route's event when it is one (same aggregate name
/// and event name), or gives it back.
#[doc(hidden)]
pub fn decode_as<R: Route, C: Codec>(
    _: R,
    codec: &C,
    raw: RawEvent<C::Payload>,
) -> Result<Decoded<R::Event, C::Payload>, Error> {
    let name = <R::Aggregate as Aggregate>::NAME;
    // An item stored under one of the event's older names is this event too.
    if raw.aggregate != name || !is_named::<R::Event>(&raw.event.name) {
        return Ok(Err(raw));
    }
    let RawEvent {
        id,
        event,
        stage,
        sealed,
        ..
    } = raw;
    let (decoded, version, timestamp, metadata) =
        crate::codec::decode_one::<R::Event, C>(codec, name, &id, event)?;
    Ok(Ok((
        decoded,
        Envelope {
            aggregate: name,
            id,
            version,
            timestamp,
            metadata,
            stage,
            sealed,
        },
    )))
}

/// The personal fields of event `event` when `aggregate` is the route's:
/// `Some` of the lookup, or `None` for another aggregate.
#[doc(hidden)]
pub fn personal_of<R: Route>(
    _: R,
    aggregate: &str,
    event: &str,
) -> Option<Option<&'static crate::erasure::Personal>> {
    (aggregate == <R::Aggregate as Aggregate>::NAME)
        .then(|| <<R::Aggregate as Aggregate>::Event as crate::EventSet>::personal_of(event))
}

/// Checks that an event of a listened aggregate that no handler wants
/// decodes as a load would decode it, or says why not.
#[doc(hidden)]
pub fn check_ignored<R: Route, C: Codec>(
    _: R,
    codec: &C,
    raw: &RawEvent<C::Payload>,
) -> Option<Result<Projected, Error>> {
    if raw.aggregate != <R::Aggregate as Aggregate>::NAME {
        return None;
    }
    Some(
        crate::codec::check_event::<R::Aggregate, C>(codec, &raw.id, raw.event.clone())
            .map(|()| Projected::Ignored),
    )
}

/// Wraps a handler's outcome.
#[doc(hidden)]
pub fn handled<E>(
    projection: &'static str,
    event: &'static str,
    envelope: Envelope,
    outcome: Result<(), E>,
) -> Result<Projected, ProjectionError<E>> {
    outcome
        .map(|()| Projected::Applied)
        .map_err(|source| ProjectionError::Handler {
            projection,
            event,
            aggregate: envelope.aggregate,
            id: envelope.id,
            version: envelope.version,
            source,
        })
}

/// Wraps a decoding failure.
#[doc(hidden)]
pub fn unreadable<E>(projection: &'static str, source: Error) -> ProjectionError<E> {
    ProjectionError::Event { projection, source }
}

/// What a projection handler returns: `()` when it cannot fail, or
/// `Result<(), E>` where `E` is the projection's error type.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this projection handler returns `{Self}`, but the projection's error type is `{E}`",
    label = "expected `()` or `Result<(), {E}>`",
    note = "set the projection's error type with `#[es::projection(error = ..)]` (it is `es::Error` by default), \
            or return `Result<(), {E}>`; a handler that cannot fail returns nothing"
)]
pub trait ProjectionResult<E> {
    fn into_result(self) -> Result<(), E>;
}

impl<E> ProjectionResult<E> for () {
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

impl<E> ProjectionResult<E> for Result<(), E> {
    fn into_result(self) -> Result<(), E> {
        self
    }
}
