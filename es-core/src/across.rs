//! Commands across aggregates, with the guarantees of `execute`: turns in
//! one sorted order, states through the cache, one atomic commit,
//! incremental retries, and an idempotency record in the same transaction.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tracing::Instrument as _;

use crate::aggregate::Aggregate;
use crate::command::Retry;
use crate::error::{Error, StoreError};
use crate::event::{IntoEvents, Metadata};
use crate::limits::{check_idempotency_key, stream_key};
use crate::root::Root;
use crate::store::{Append, CommandRecord, Commit, Committed, EventStore};
use crate::writers::Turns;

/// The most aggregates one command across aggregates reads: DynamoDB's
/// transactions hold 100 items.
const MAX_AGGREGATES: usize = 100;

/// Starts a command across aggregates on `store`; see [`Across`].
pub fn across<S: EventStore>(store: &S) -> Across<'_, S> {
    Across {
        store,
        declared: Vec::new(),
        retry: Retry::default(),
        key: None,
        ttl: Duration::from_secs(7 * 24 * 3600),
        metadata: None,
    }
}

/// A command that decides on several aggregates and commits to them
/// atomically, built by [`across`].
///
/// Its decision is a closure over a [`Decision`]: it reads states with
/// [`Decision::state`] and appends events with [`Decision::append`]. The
/// aggregates it touches are loaded before it runs: those declared with
/// [`with`](Across::with), and any other it asks for, which is loaded
/// before the decision runs again. Then, as `execute` does for one
/// aggregate:
///
/// - this process's turns on every aggregate are taken in one sorted
///   order, so its commands never conflict with each other, and two
///   commands across aggregates never wait for each other;
/// - states come from the store's cache when it keeps them, and a refusal
///   decided on a kept state is checked against the store first;
/// - the events are committed in one atomic write (a `TransactWriteItems`
///   on DynamoDB), with the idempotency record when there is a key;
/// - a conflict catches up every aggregate by reading only what it missed,
///   and decides again, up to the retry policy's attempts.
///
/// ```
/// # mod doc { include!("../doc/product.rs"); }
/// # use doc::*;
/// # use es::prelude::*;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// /// Why a move of stock failed: the decision's own errors, and the
/// /// store's. `?` converts each of them.
/// #[derive(Debug, thiserror::Error)]
/// enum MoveError {
///     #[error(transparent)]
///     SoldOut(#[from] SoldOut),
///     #[error(transparent)]
///     Product(#[from] es::Error<SoldOut>),
///     #[error(transparent)]
///     Store(#[from] es::Error),
/// }
///
/// let store = MemoryStore::new();
/// Product::execute(&store, "a", |_| Ok::<_, SoldOut>(Restocked { amount: 5 })).await?;
/// // Moves three units from a to b, or nothing.
/// let done = es::across(&store)
///     .with::<Product>("a")
///     .with::<Product>("b")
///     .idempotency_key("move-1")
///     .execute(|d| {
///         let moved = d.state::<Product>("a")?.reserve("b", 3)?;
///         d.append::<Product>("a", [moved])?;
///         d.append::<Product>("b", [Restocked { amount: 3 }])?;
///         Ok::<_, MoveError>(())
///     })
///     .await?;
/// assert!(!done.duplicate);
/// assert_eq!(done.version_of("Product", "b"), Some(1));
/// assert_eq!(Product::get(&store, "b").await?.on_hand, 3);
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[must_use = "a command does nothing until `execute` is called"]
pub struct Across<'s, S: EventStore> {
    store: &'s S,
    declared: Vec<Declared<S>>,
    retry: Retry,
    key: Option<String>,
    ttl: Duration,
    metadata: Option<Metadata>,
}

/// What a command across aggregates did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// Each aggregate written, with the last version written: `(name, id,
    /// version)`. Empty when the decision appended nothing.
    pub versions: Vec<(String, String, u64)>,
    /// Whether an earlier run with the same idempotency key did it: nothing
    /// was written now, and `versions` are that run's.
    pub duplicate: bool,
    /// How many times the decision was committed (or settled).
    pub attempts: u32,
}

impl Done {
    /// The version written to one aggregate, if it was.
    pub fn version_of(&self, aggregate: &str, id: &str) -> Option<u64> {
        self.versions
            .iter()
            .find(|(a, i, _)| a == aggregate && i == id)
            .map(|(_, _, v)| *v)
    }
}

impl<'s, S: EventStore> Across<'s, S> {
    /// Loads aggregate `A` of `id` before the decision first runs. Any
    /// aggregate the decision asks for is loaded anyway; declaring the ones
    /// it will need saves a run of the decision.
    pub fn with<A: Aggregate>(mut self, id: impl Into<String>) -> Self {
        self.declare::<A>(id.into());
        self
    }

    fn declare<A: Aggregate>(&mut self, id: String) {
        let key = stream_key(A::NAME, &id);
        if !self.declared.iter().any(|d| d.key == key) {
            self.declared.push(Declared {
                key,
                name: A::NAME,
                id,
                load: load_slot::<A, S>,
            });
        }
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Makes the command idempotent: a second run with the same key writes
    /// nothing and returns the first run's versions. The key is written in
    /// the same transaction as the events, and kept for `ttl` (7 days by
    /// default).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// How long the idempotency record is kept.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Stores `metadata` (correlation and causation ids, say) with every
    /// event the command writes.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Runs `decide` on the aggregates' states and commits what it appends,
    /// all or nothing; see [`Across`].
    ///
    /// # Errors
    ///
    /// What `decide` returns (a rejection is never retried); a store
    /// failure, a conflict once the attempts are used up, a write whose
    /// outcome is unknown without an idempotency key, or a key that ran
    /// another command ([`Error::KeyReused`]), converted with `From`.
    pub async fn execute<F, E>(mut self, mut decide: F) -> Result<Done, E>
    where
        F: FnMut(&mut Decision<S>) -> Result<(), E>,
        E: From<Error>,
    {
        let span = tracing::info_span!(
            "es.across",
            aggregates = tracing::field::Empty,
            attempts = tracing::field::Empty
        );
        let recorder = span.clone();
        async move {
            if let Some(key) = &self.key {
                check_idempotency_key(key)?;
            }
            let max_attempts = self.retry.max_attempts.max(1);
            let mut slots: Vec<Box<dyn Slot<S>>> = Vec::new();
            let mut turns: Option<Turns> = None;
            let mut attempt = 1;
            let result = loop {
                // Every aggregate asked for is loaded, under this process's
                // turn, before the decision runs.
                if slots.len() < self.declared.len() {
                    if self.declared.len() > MAX_AGGREGATES {
                        break Err(E::from(Error::from(StoreError::permanent(
                            "across",
                            format!(
                                "the command reads {} aggregates; one atomic commit holds at most \
                                 {MAX_AGGREGATES}",
                                self.declared.len()
                            ),
                        ))));
                    }
                    // Turns are given up before all are taken again, in
                    // one sorted order, so no two callers wait for each
                    // other.
                    drop(turns.take());
                    let held = crate::writers::turns(
                        self.store,
                        self.declared.iter().map(|d| (d.name, d.id.as_str())),
                    )
                    .await;
                    for declared in &self.declared[slots.len()..] {
                        let kept = held.kept(&declared.key);
                        match (declared.load)(self.store, declared.id.clone(), kept).await {
                            Ok(slot) => slots.push(slot),
                            Err(e) => return Err(E::from(e)),
                        }
                    }
                    turns = Some(held);
                    // A state this process has since moved past would only
                    // conflict: catch it up first.
                    for slot in &mut slots {
                        let seen = self.store.writers().seen(slot.key());
                        if seen.is_some_and(|seen| seen > slot.version()) {
                            if let Err(e) = slot.hydrate().await {
                                return Err(E::from(e));
                            }
                        }
                    }
                    if let Some(metadata) = &self.metadata {
                        for slot in &mut slots {
                            slot.set_metadata(metadata.clone());
                        }
                    }
                }
                for slot in &mut slots {
                    slot.clear();
                }
                let mut decision = Decision {
                    slots: &mut slots,
                    missing: Vec::new(),
                };
                let decided = decide(&mut decision);
                let missing = std::mem::take(&mut decision.missing);
                if !missing.is_empty() {
                    for declared in missing {
                        if !self.declared.iter().any(|d| d.key == declared.key) {
                            self.declared.push(declared);
                        }
                    }
                    continue;
                }
                let appended = slots.iter().any(|s| s.staged());
                // Nothing to write, or a refusal: the answer stands only on
                // the latest state. Catch up what was kept, not read, and
                // decide again if anything changed.
                if decided.is_err() || !appended {
                    let mut changed = false;
                    for slot in slots.iter_mut().filter(|s| s.kept()) {
                        match slot.hydrate().await {
                            Ok(n) => changed |= n > 0,
                            Err(e) => return Err(E::from(e)),
                        }
                    }
                    if changed {
                        continue;
                    }
                    // A repeated command may be refused, or find nothing to
                    // do, only because its first run already changed the
                    // state: then that run answers.
                    if let Some(key) = &self.key {
                        match self.store.command(key).await {
                            Ok(Some(record)) => {
                                break duplicate(record, &slots, attempt).map_err(E::from)
                            }
                            Ok(None) => {}
                            Err(e) => break Err(E::from(e)),
                        }
                    }
                    if let Err(e) = decided {
                        break Err(e);
                    }
                    break Ok(Done {
                        versions: Vec::new(),
                        duplicate: false,
                        attempts: attempt,
                    });
                }
                if let Err(e) = decided {
                    break Err(e);
                }
                let (appends, sealings): (Vec<Append<S::Payload>>, Vec<_>) =
                    slots.iter_mut().filter_map(|s| s.append()).unzip();
                let versions: Vec<(String, String, u64)> = appends
                    .iter()
                    .map(|a| {
                        let last = a.expected + a.events.len() as u64;
                        (a.aggregate.to_owned(), a.id.clone(), last)
                    })
                    .collect();
                let command = self.key.as_ref().map(|key| CommandRecord {
                    key: key.clone(),
                    outcome: versions.clone(),
                    expires_at: crate::time::now_secs().saturating_add(self.ttl.as_secs()),
                });
                let written = crate::erasure::commit(
                    self.store,
                    Commit {
                        appends,
                        command,
                        exact_conflict: attempt >= max_attempts,
                    },
                    &sealings,
                )
                .await;
                match written {
                    Ok(Committed::Written) => {
                        for slot in &mut slots {
                            slot.advance();
                        }
                        break Ok(Done {
                            versions,
                            duplicate: false,
                            attempts: attempt,
                        });
                    }
                    Ok(Committed::Duplicate(record)) => {
                        break duplicate(record, &slots, attempt).map_err(E::from)
                    }
                    // A write that may have landed is never decided again
                    // without a key: it would apply twice.
                    Err(e) if e.is_indeterminate() && self.key.is_none() => break Err(E::from(e)),
                    Err(e) if e.is_retryable() && attempt < max_attempts => {
                        tracing::debug!(attempt, error = %e, "retrying a command across aggregates");
                        tokio::time::sleep(self.retry.delay(attempt)).await;
                        attempt += 1;
                        for slot in &mut slots {
                            if let Err(failed) = slot.hydrate().await {
                                return Err(E::from(failed));
                            }
                        }
                    }
                    Err(e) => break Err(E::from(e)),
                }
            };
            // A failure may leave what this process kept behind the store.
            if result.is_err() {
                for slot in &slots {
                    self.store.writers().forget(slot.key());
                }
            }
            drop(turns);
            recorder.record("aggregates", slots.len());
            recorder.record("attempts", attempt);
            result
        }
        .instrument(span)
        .await
    }
}

/// The outcome of the run that used this key before: refused when that run
/// touched none of the aggregates this one loaded, which is another command.
fn duplicate<S: EventStore>(
    record: CommandRecord,
    slots: &[Box<dyn Slot<S>>],
    attempts: u32,
) -> Result<Done, Error> {
    let ours = record
        .outcome
        .iter()
        .any(|(a, i, _)| slots.iter().any(|s| s.key() == stream_key(a, i)));
    if !ours {
        let previous = record
            .outcome
            .iter()
            .map(|(a, i, _)| format!("{a} {i:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (aggregate, id) = slots
            .first()
            .map(|s| (s.name(), s.id().to_owned()))
            .unwrap_or(("", String::new()));
        return Err(Error::KeyReused {
            key: record.key,
            aggregate,
            id,
            previous,
        });
    }
    tracing::info!(key = %record.key, "command across aggregates already ran; nothing written");
    Ok(Done {
        versions: record.outcome,
        duplicate: true,
        attempts,
    })
}

/// The aggregates a command across aggregates decides on, and what it
/// appends to them.
pub struct Decision<'a, S: EventStore> {
    slots: &'a mut Vec<Box<dyn Slot<S>>>,
    missing: Vec<Declared<S>>,
}

impl<S: EventStore> Decision<'_, S> {
    fn find<A: Aggregate>(&self, id: &str) -> Option<usize> {
        let key = stream_key(A::NAME, id);
        self.slots.iter().position(|s| s.key() == key)
    }

    fn ask<A: Aggregate>(&mut self, id: &str) -> Error {
        let key = stream_key(A::NAME, id);
        if !self.missing.iter().any(|d| d.key == key) {
            self.missing.push(Declared {
                key,
                name: A::NAME,
                id: id.to_owned(),
                load: load_slot::<A, S>,
            });
        }
        StoreError::transient(
            "across",
            format!(
                "{} {id:?} is not loaded yet: it is loaded, and the decision runs again",
                A::NAME
            ),
        )
        .into()
    }

    /// The state of aggregate `A` of `id`, as loaded (without what this
    /// decision appended to it).
    ///
    /// # Errors
    ///
    /// When it is not loaded yet: return the error (with `?`), and it is
    /// loaded before the decision runs again.
    pub fn state<A: Aggregate>(&mut self, id: &str) -> Result<&A, Error> {
        match self.find::<A>(id) {
            Some(i) => {
                let root = self.slots[i]
                    .as_any()
                    .downcast_ref::<Loaded<A, S>>()
                    .map(|l| l.root.state());
                root.ok_or_else(|| mismatch::<A>(id))
            }
            None => Err(self.ask::<A>(id)),
        }
    }

    /// The version aggregate `A` of `id` was loaded at.
    ///
    /// # Errors
    ///
    /// As [`state`](Decision::state).
    pub fn version<A: Aggregate>(&mut self, id: &str) -> Result<u64, Error> {
        match self.find::<A>(id) {
            Some(i) => Ok(self.slots[i].version()),
            None => Err(self.ask::<A>(id)),
        }
    }

    /// Appends events to aggregate `A` of `id`, after its handlers accept
    /// them (on a copy of its state, after what this decision appended to it
    /// before).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] with the handler's error; or, when the aggregate
    /// is not loaded yet, an error to return (with `?`): it is loaded, and
    /// the decision runs again.
    pub fn append<A: Aggregate>(
        &mut self,
        id: &str,
        events: impl IntoEvents<A>,
    ) -> Result<(), Error<A::Error>> {
        let Some(i) = self.find::<A>(id) else {
            return Err(self.ask::<A>(id).widen());
        };
        let Some(loaded) = self.slots[i].as_any_mut().downcast_mut::<Loaded<A, S>>() else {
            return Err(mismatch::<A>(id).widen());
        };
        let mut events_now = loaded.events.clone();
        events_now.extend(events.into_events());
        let staged = loaded.root.stage(&events_now)?;
        loaded.events = events_now;
        loaded.staged = Some(staged);
        Ok(())
    }
}

fn mismatch<A: Aggregate>(id: &str) -> Error {
    StoreError::permanent(
        "across",
        format!(
            "{} {id:?} was loaded as another type of the same name",
            A::NAME
        ),
    )
    .into()
}

/// An aggregate to load: its key, and how.
struct Declared<S: EventStore> {
    key: String,
    name: &'static str,
    id: String,
    load: LoadSlot<S>,
}

type Kept = Option<crate::writers::Kept>;
type SlotFuture<S> = Pin<Box<dyn Future<Output = Result<Box<dyn Slot<S>>, Error>> + Send>>;
type LoadSlot<S> = fn(&S, String, Kept) -> SlotFuture<S>;
type Hydrating<'a> = Pin<Box<dyn Future<Output = Result<u64, Error>> + Send + 'a>>;

/// One loaded aggregate, whatever its type.
trait Slot<S: EventStore>: Send {
    fn key(&self) -> &str;
    fn name(&self) -> &'static str;
    fn id(&self) -> &str;
    fn version(&self) -> u64;
    fn kept(&self) -> bool;
    fn staged(&self) -> bool;
    fn clear(&mut self);
    fn append(&mut self) -> Option<(Append<S::Payload>, crate::erasure::Sealing)>;
    fn advance(&mut self);
    fn hydrate(&mut self) -> Hydrating<'_>;
    fn set_metadata(&mut self, metadata: Metadata);
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

struct Loaded<A: Aggregate, S: EventStore> {
    key: String,
    root: Root<A, S>,
    /// Whether the state was kept by this process, not read: a refusal on
    /// it is checked against the store first.
    kept: bool,
    events: Vec<A::Event>,
    staged: Option<crate::root::Staged<A, S::Payload>>,
    /// The state and version to move to once the commit is written.
    next: Option<(u64, A)>,
}

fn load_slot<A: Aggregate, S: EventStore>(store: &S, id: String, kept: Kept) -> SlotFuture<S> {
    let store = store.clone();
    Box::pin(async move {
        let key = stream_key(A::NAME, &id);
        let kept = kept.as_ref().and_then(crate::writers::kept_as::<A>);
        let (root, kept) = match kept {
            Some((version, state)) => (
                Root::kept(&store, id, version, state, Metadata::default()),
                true,
            ),
            None => (
                Root::load(&store, id).await.map_err(Error::narrow_store)?,
                false,
            ),
        };
        Ok(Box::new(Loaded {
            key,
            root,
            kept,
            events: Vec::new(),
            staged: None,
            next: None,
        }) as Box<dyn Slot<S>>)
    })
}

impl<A: Aggregate, S: EventStore> Slot<S> for Loaded<A, S> {
    fn key(&self) -> &str {
        &self.key
    }
    fn name(&self) -> &'static str {
        A::NAME
    }
    fn id(&self) -> &str {
        self.root.id()
    }
    fn version(&self) -> u64 {
        self.root.version()
    }
    fn kept(&self) -> bool {
        self.kept
    }
    fn staged(&self) -> bool {
        self.staged.is_some()
    }
    fn clear(&mut self) {
        self.events.clear();
        self.staged = None;
        self.next = None;
    }
    fn append(&mut self) -> Option<(Append<S::Payload>, crate::erasure::Sealing)> {
        let crate::root::Staged {
            append,
            next,
            last,
            sealing,
        } = self.staged.take()?;
        self.next = Some((last, next));
        Some((append, sealing))
    }
    fn advance(&mut self) {
        if let Some((last, next)) = self.next.take() {
            self.root.advance(last, next);
        }
    }
    fn hydrate(&mut self) -> Hydrating<'_> {
        Box::pin(async move {
            self.kept = false;
            self.root.hydrate().await.map_err(Error::narrow_store)
        })
    }
    fn set_metadata(&mut self, metadata: Metadata) {
        let placeholder = Root::new(self.root.store(), "");
        let root = std::mem::replace(&mut self.root, placeholder);
        self.root = root.with_metadata(metadata);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
