//! The engine behind every projection driver: per-aggregate positions, gaps
//! filled from the events table, and each run of events committed with the
//! view rows it changed, all or nothing.
//!
//! A [`Projector`] is a projection with the store its events come from and
//! the view table its positions live in. Every driver hands it the events it
//! has of one aggregate (a Lambda batch's records, a stream runner's, the
//! in-memory change feed's) or asks it to catch an aggregate up (a rebuild,
//! a reapply). For each aggregate it keeps one invariant:
//!
//! > an event is applied only once every earlier event of its aggregate has
//! > been applied, and each exactly once.
//!
//! It reads the projection's position for the aggregate, the last version
//! it applied, and then:
//!
//! - events at or below the position are duplicates: no handler runs;
//! - events between the position and the first one delivered were never
//!   seen (a stream that starts mid-history, a record that went to the
//!   failure destination): they are read from the events table, decoded and
//!   upcast as a load does, checked to run on without a gap, and projected
//!   first;
//! - handlers stage their [`Views::update`](crate::Views::update)s, and the
//!   run's rows are written together with the new position in one
//!   conditional [`ViewTable::commit`]. When another driver moved the
//!   position or a row meanwhile, nothing is written, and the run starts
//!   again from the position as it now is.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt as _, TryStreamExt as _};

use crate::codec::StoreCodec;
use crate::error::{Error, StoreError};
use crate::limits::stream_key;
use crate::projection::{Outbox, Projected, Projection, ProjectionError, RawEvent, StageRef};
use crate::store::{Direction, EventStore, ReadRequest, StoredEvent};
use crate::view::{Saved, Stage, ViewTable, MAX_COMMIT_ROWS};

/// How many times a run starts again after another driver got there first.
const ATTEMPTS: u32 = 32;

/// The most events a run stages before it commits them: bounds a driver's
/// memory on a long history.
const RUN_EVENTS: usize = 1_000;

/// How many aggregates' positions a projector keeps in memory.
const CACHED_POSITIONS: usize = 100_000;

/// How many aggregates [`Projector::reapply`] projects at once.
const REAPPLY_CONCURRENCY: usize = 16;

/// A projection, the store its events come from, and the view table it
/// keeps its views and positions in: what every driver runs.
///
/// ```
/// # mod doc { include!("../doc/product.rs"); }
/// # use doc::*;
/// use es::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
/// # struct Stock { on_hand: i64 }
/// # struct StockView<T> { views: Views<Stock, T> }
/// # #[es::projection]
/// # impl<T: ViewTable> StockView<T> {
/// #     #[on(Restocked)]
/// #     async fn restocked(&self, e: &Restocked, at: &Envelope) -> Result<(), es::Error> {
/// #         self.views.update(&at.id, at, |s| s.on_hand += i64::from(e.amount)).await
/// #     }
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let table = MemoryViews::new();
/// let view = StockView { views: Views::new(table.clone(), "stock") };
/// let projector = Projector::new(store.clone(), table, view);
///
/// for amount in [3, 4, 5] {
///     Product::load(&store, "sku-1").await?.commit(Restocked { amount }).await?;
/// }
/// // Nothing projected yet: catching up reads all three from the store.
/// let outcome = projector.catch_up("Product", "sku-1").await?;
/// assert_eq!((outcome.applied, outcome.position), (3, 3));
/// assert_eq!(projector.projection().views.get("sku-1").await?, Some(Stock { on_hand: 12 }));
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct Projector<S, T, P> {
    store: S,
    table: T,
    projection: P,
    /// Positions read or written: never ahead of the table's, so a stale
    /// one costs a failed commit and a read, never a skipped event.
    positions: quick_cache::sync::Cache<String, u64>,
}

impl<S, T, P> std::fmt::Debug for Projector<S, T, P>
where
    P: Projection,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("projection", &P::NAME)
            .finish_non_exhaustive()
    }
}

/// What a projector did with one aggregate's events, or with many.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events a handler ran for, committed.
    pub applied: u64,
    /// Events of listened aggregates that no handler wants, committed.
    pub ignored: u64,
    /// Delivered events at or below the projection's position: applied
    /// before, so skipped.
    pub duplicates: u64,
    /// Events read from the events table to fill a gap before the
    /// delivered ones (counted in `applied` or `ignored` too).
    pub filled: u64,
    /// Events of aggregates the projection does not listen to.
    pub not_listened: u64,
    /// The projection's position for the aggregate afterwards: the last
    /// version applied (for several aggregates, the last one's).
    pub position: u64,
}

impl std::ops::AddAssign for Outcome {
    fn add_assign(&mut self, other: Outcome) {
        self.applied += other.applied;
        self.ignored += other.ignored;
        self.duplicates += other.duplicates;
        self.filled += other.filled;
        self.not_listened += other.not_listened;
        self.position = other.position;
    }
}

/// A run that stopped at an event: what was committed before it, and why.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Halted<E: std::error::Error + 'static> {
    /// What was committed before the failure; `position` is the last
    /// version applied, so the failed event is the one after it.
    pub done: Outcome,
    /// Why.
    #[source]
    pub error: ProjectionError<E>,
}

impl<E: std::error::Error + 'static> From<Halted<E>> for ProjectionError<E> {
    fn from(halted: Halted<E>) -> Self {
        halted.error
    }
}

impl<S, T, P> Projector<S, T, P>
where
    S: EventStore,
    T: ViewTable,
    P: Projection,
{
    /// A projector of `projection` over `store`'s events, keeping its
    /// positions in `table`, where its views must be too.
    ///
    /// # Panics
    ///
    /// When the projection's name is empty or holds a `#`: positions are
    /// keyed by it, and names are chosen in code.
    pub fn new(store: S, table: T, projection: P) -> Self {
        assert!(
            !P::NAME.is_empty() && !P::NAME.contains('#'),
            "a projection's name must not be empty or contain '#', not {:?}",
            P::NAME
        );
        Projector {
            store,
            table,
            projection,
            positions: quick_cache::sync::Cache::new(CACHED_POSITIONS),
        }
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The store its events, and the gaps between them, are read from.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The table its positions (and views) are kept in.
    pub fn table(&self) -> &T {
        &self.table
    }

    /// Forgets the positions it keeps in memory; the next event of each
    /// aggregate reads its position from the table again.
    pub fn forget_positions(&self) {
        self.positions.clear();
    }

    /// The projection's position for an aggregate, read from the table:
    /// the last version it applied, 0 when none.
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn position(&self, aggregate: &str, id: &str) -> Result<u64, Error> {
        self.read_position(&stream_key(aggregate, id), true).await
    }

    /// Reads the positions of these aggregate keys (`"{aggregate}#{id}"`)
    /// that it does not keep in memory, in one request per hundred, so that
    /// a batch's runs need not read them one by one.
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn prefetch(&self, aggregates: &[String]) -> Result<(), Error> {
        let missing: Vec<String> = aggregates
            .iter()
            .filter(|key| self.positions.get(*key).is_none())
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in missing.chunks(100) {
            let found = self.table.positions(P::NAME, chunk).await?;
            for key in chunk {
                self.positions
                    .insert(key.clone(), found.get(key).copied().unwrap_or(0));
            }
        }
        Ok(())
    }

    async fn read_position(&self, key: &str, fresh: bool) -> Result<u64, Error> {
        if !fresh {
            if let Some(position) = self.positions.get(key) {
                return Ok(position);
            }
        }
        let found = self.table.positions(P::NAME, &[key.to_owned()]).await?;
        let position = found.get(key).copied().unwrap_or(0);
        self.positions.insert(key.to_owned(), position);
        Ok(position)
    }

    /// The listened aggregate of that name, as the `'static` name the
    /// store reads by.
    fn listened(aggregate: &str) -> Option<&'static str> {
        P::aggregates().into_iter().find(|a| *a == aggregate)
    }

    /// Projects events of one aggregate as a driver delivered them, in any
    /// order, duplicates and gaps included: first every event between the
    /// projection's position and the newest delivered one that it has not
    /// applied, read from the store where it was not delivered, then
    /// nothing more.
    ///
    /// # Errors
    ///
    /// The first event that failed, with what was committed before it:
    /// a handler's error, an event that does not decode, a history with a
    /// gap, or a store failure.
    pub async fn project(
        &self,
        aggregate: &str,
        id: &str,
        delivered: Vec<StoredEvent<S::Payload>>,
    ) -> Result<Outcome, Halted<P::Error>> {
        let Some(aggregate) = Self::listened(aggregate) else {
            return Ok(Outcome {
                not_listened: delivered.len() as u64,
                ..Outcome::default()
            });
        };
        let count = delivered.len() as u64;
        let delivered: BTreeMap<u64, StoredEvent<S::Payload>> =
            delivered.into_iter().map(|e| (e.version, e)).collect();
        let Some(&target) = delivered.keys().next_back() else {
            return Ok(Outcome::default());
        };
        let mut outcome = self.run(aggregate, id, &delivered, Some(target)).await?;
        // Every delivered event at or below the target was either applied
        // in this run or had been before.
        let mine = (outcome.applied + outcome.ignored).saturating_sub(outcome.filled);
        outcome.duplicates = count.saturating_sub(mine);
        Ok(outcome)
    }

    /// Projects every event of one aggregate that the projection has not
    /// applied, up to the newest in the store: what a rebuild and a
    /// reapply do for each aggregate.
    ///
    /// # Errors
    ///
    /// As [`project`](Projector::project).
    pub async fn catch_up(&self, aggregate: &str, id: &str) -> Result<Outcome, Halted<P::Error>> {
        let Some(aggregate) = Self::listened(aggregate) else {
            return Ok(Outcome::default());
        };
        self.run(aggregate, id, &BTreeMap::new(), None).await
    }

    /// Catches each of these aggregates up ([`catch_up`](Projector::catch_up)),
    /// several at once: re-projects whatever the projection is missing of
    /// them, such as the aggregates of records that went to a failure
    /// destination. Aggregates the projection does not listen to are
    /// skipped.
    ///
    /// # Errors
    ///
    /// The first aggregate that failed. The others may or may not have
    /// been caught up; running it again is safe.
    pub async fn reapply<I, A, D>(
        &self,
        aggregates: I,
    ) -> Result<Outcome, ProjectionError<P::Error>>
    where
        I: IntoIterator<Item = (A, D)>,
        A: AsRef<str>,
        D: AsRef<str>,
    {
        let list: Vec<(String, String)> = aggregates
            .into_iter()
            .map(|(a, i)| (a.as_ref().to_owned(), i.as_ref().to_owned()))
            .collect();
        let keys: Vec<String> = list
            .iter()
            .filter(|(a, _)| Self::listened(a).is_some())
            .map(|(a, i)| stream_key(a, i))
            .collect();
        self.prefetch(&keys).await.map_err(|e| self.fail(e))?;
        let outcomes: Vec<Outcome> = stream::iter(list)
            .map(|(aggregate, id)| async move {
                self.catch_up(&aggregate, &id)
                    .await
                    .map_err(ProjectionError::from)
            })
            .buffer_unordered(REAPPLY_CONCURRENCY)
            .try_collect()
            .await?;
        let mut total = Outcome::default();
        for outcome in outcomes {
            total += outcome;
        }
        Ok(total)
    }

    fn fail(&self, source: Error) -> ProjectionError<P::Error> {
        ProjectionError::Event {
            projection: P::NAME,
            source,
        }
    }

    /// The loop every entry point shares: from the position, project each
    /// event up to `target` (or the newest), committing runs.
    async fn run(
        &self,
        aggregate: &'static str,
        id: &str,
        delivered: &BTreeMap<u64, StoredEvent<S::Payload>>,
        target: Option<u64>,
    ) -> Result<Outcome, Halted<P::Error>> {
        let key = stream_key(aggregate, id);
        let mut outcome = Outcome::default();
        let halt = |done: Outcome, error: Error| Halted {
            done,
            error: self.fail(error),
        };
        let mut fresh = false;
        'attempt: for _ in 0..ATTEMPTS {
            let mut position = self
                .read_position(&key, fresh)
                .await
                .map_err(|e| halt(outcome, e))?;
            outcome.position = position;
            loop {
                if target.is_some_and(|t| position >= t) {
                    return Ok(outcome);
                }
                let Next {
                    events,
                    filled,
                    newest,
                } = self
                    .next_events(aggregate, id, position, target, delivered)
                    .await
                    .map_err(|e| halt(outcome, e))?;
                let Some(through) = events.last().map(|e| e.version) else {
                    return Ok(outcome);
                };
                let mut events = events;
                let sealed = {
                    let mut refs: Vec<&mut StoredEvent<S::Payload>> = events.iter_mut().collect();
                    crate::erasure::open(
                        &self.store,
                        aggregate,
                        id,
                        &|name: &str| P::personal(aggregate, name),
                        None,
                        &mut refs,
                    )
                    .await
                    .map_err(|e| halt(outcome, e))?
                };
                let mut sealed = sealed.into_iter();
                let stage = Arc::new(Stage::new(self.table.clone()));
                let erased: Arc<dyn Any + Send + Sync> = stage.clone();
                let outbox = Arc::new(Outbox::default());
                let mut last = position;
                let mut run = Outcome::default();
                let mut failure = None;
                for event in events {
                    let version = event.version;
                    let from_store = filled.contains(&version);
                    stage.begin_event();
                    let raw = RawEvent {
                        aggregate: aggregate.to_owned(),
                        id: id.to_owned(),
                        event,
                        stage: StageRef(Some(erased.clone()), Some(outbox.clone())),
                        sealed: Arc::new(sealed.next().unwrap_or_default()),
                    };
                    let projected = self.projection.project(&StoreCodec(&self.store), raw).await;
                    match projected {
                        Ok(projected) if stage.len() > MAX_COMMIT_ROWS => {
                            stage.undo_event();
                            outbox.discard(version);
                            if last == position {
                                failure = Some(self.fail(too_many_rows(aggregate, id, version)));
                            }
                            // Otherwise the event starts the next run.
                            let _ = projected;
                            break;
                        }
                        Ok(projected) => {
                            stage.end_event();
                            last = version;
                            match projected {
                                Projected::Applied => run.applied += 1,
                                Projected::Ignored | Projected::NotListened => run.ignored += 1,
                            }
                            run.filled += u64::from(from_store);
                        }
                        Err(error) => {
                            stage.undo_event();
                            outbox.discard(version);
                            failure = Some(error);
                            break;
                        }
                    }
                }
                if last > position {
                    // What the handlers staged goes out before the position
                    // moves past it: sent at least once, never skipped.
                    let messages = outbox.take();
                    if !messages.is_empty() {
                        self.projection
                            .before_commit(aggregate, id, messages)
                            .await
                            .map_err(|error| Halted {
                                done: outcome,
                                error,
                            })?;
                    }
                    let commit = stage
                        .commit(P::NAME, key.clone(), position, last)
                        .map_err(|e| halt(outcome, e))?;
                    match self.table.commit(commit).await.map_err(|e| {
                        // The commit may have landed: the position must be
                        // read again, not assumed.
                        self.positions.remove(&key);
                        halt(outcome, e.about(aggregate, id).writing(position + 1, last))
                    })? {
                        Saved::Written => {
                            self.positions.insert(key.clone(), last);
                            position = last;
                            run.position = last;
                            outcome += run;
                        }
                        Saved::Stale => {
                            fresh = true;
                            continue 'attempt;
                        }
                    }
                }
                if let Some(error) = failure {
                    return Err(Halted {
                        done: outcome,
                        error,
                    });
                }
                // The store said there is nothing after these: done, without
                // another read to hear it again.
                if newest && target.is_none() && last == through {
                    return Ok(outcome);
                }
            }
        }
        Err(halt(
            outcome,
            StoreError::transient(
                "project",
                format!(
                    "{}: the position or views of {key} changed under each of {ATTEMPTS} attempts",
                    P::NAME
                ),
            )
            .into(),
        ))
    }

    /// The next events after `after`, contiguous, up to `target` (or the
    /// newest) and at most [`RUN_EVENTS`]: delivered ones where there are,
    /// read from the store in between.
    async fn next_events(
        &self,
        aggregate: &'static str,
        id: &str,
        after: u64,
        target: Option<u64>,
        delivered: &BTreeMap<u64, StoredEvent<S::Payload>>,
    ) -> Result<Next<S::Payload>, Error> {
        let mut events = Vec::new();
        let mut filled = Vec::new();
        let mut last = after;
        let mut newest = false;
        while !newest && events.len() < RUN_EVENTS && target.is_none_or(|t| last < t) {
            let next = last + 1;
            if let Some(event) = delivered.get(&next) {
                events.push(event.clone());
                last = next;
                continue;
            }
            // A gap: read up to the next delivered event, or the target.
            let until = delivered
                .range(next..)
                .next()
                .map(|(&v, _)| v - 1)
                .or(target);
            let page = self
                .store
                .read(ReadRequest {
                    aggregate,
                    id,
                    after: last,
                    until,
                    direction: Direction::Forward,
                    limit: Some(RUN_EVENTS - events.len()),
                    cursor: None,
                })
                .await
                .map_err(|e| e.about(aggregate, id))?;
            let ended = page.next.is_none();
            let empty = page.items.is_empty();
            for event in page.items {
                if event.version != last + 1 {
                    return Err(Error::Corrupt {
                        aggregate: aggregate.into(),
                        id: id.to_owned(),
                        version: event.version,
                        reason: format!(
                            "the history skips from version {last} to {}",
                            event.version
                        ),
                    });
                }
                last = event.version;
                filled.push(last);
                events.push(event);
            }
            match until {
                // A gap must be filled to its end: the versions after it
                // exist.
                Some(until) if last < until && (ended || empty) => {
                    return Err(Error::Corrupt {
                        aggregate: aggregate.into(),
                        id: id.to_owned(),
                        version: last + 1,
                        reason: format!(
                            "the events table has no version {}, though version {} exists \
                             beyond it: the history has a gap",
                            last + 1,
                            until + 1
                        ),
                    });
                }
                Some(_) => {}
                None => newest = ended || empty,
            }
        }
        Ok(Next {
            events,
            filled,
            newest,
        })
    }
}

/// What [`Projector::next_events`] found.
struct Next<P> {
    events: Vec<StoredEvent<P>>,
    /// The versions read from the store, not delivered.
    filled: Vec<u64>,
    /// Whether the store said there is nothing after them.
    newest: bool,
}

fn too_many_rows(aggregate: &str, id: &str, version: u64) -> Error {
    StoreError::permanent(
        "project",
        format!(
            "{aggregate} {id:?} version {version}: its handlers update more than \
             {MAX_COMMIT_ROWS} view rows, which cannot be written with the position in one \
             transaction"
        ),
    )
    .into()
}
