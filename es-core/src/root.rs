//! [`Root`]: a loaded aggregate, its id and version, and the way to commit to it.

use std::future::Future;
use std::ops::Deref;

use futures::future::{BoxFuture, FutureExt as _};
use futures::stream::{self, Stream, StreamExt, TryStreamExt};
use tracing::Instrument;

use crate::aggregate::Aggregate;
use crate::codec::{check_version, decode_event, decode_snapshot, encode_event};
use crate::error::{Error, StoreError};
use crate::event::{HandledBy, IntoEvents, Metadata, Recorded};
use crate::limits::{check_id, check_name, stream_key};
use crate::store::{
    Append, Commit, Committed, Cursor, Direction, EventStore, ReadRequest, StoredEvent,
};

/// A loaded aggregate: its id, its version and its state, bound to a store.
///
/// The state is reached through `Deref`. It only changes when a commit has
/// been written, so a handle never shows state the store does not hold.
///
/// ```
/// # mod doc { include!("../doc/product.rs"); }
/// # use doc::*;
/// # use es::prelude::*;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let mut product = Product::load(&store, "sku-1").await?;
/// assert_eq!(product.version(), 0);
/// product.commit(Restocked { amount: 10 }).await?;
/// assert_eq!((product.on_hand, product.version()), (10, 1));
/// # Ok::<_, Error<SoldOut>>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Root<A: Aggregate, S> {
    store: S,
    id: String,
    version: u64,
    state: A,
    metadata: Metadata,
}

impl<A: Aggregate, S> std::fmt::Debug for Root<A, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Root")
            .field("aggregate", &A::NAME)
            .field("id", &self.id)
            .field("version", &self.version)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate, S> Deref for Root<A, S> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.state
    }
}

impl<A: Aggregate, S: EventStore> Root<A, S> {
    /// A handle on an aggregate with no events yet, at version 0, without reading.
    pub fn new(store: &S, id: impl Into<String>) -> Self {
        Root {
            store: store.clone(),
            id: id.into(),
            version: 0,
            state: A::default(),
            metadata: Metadata::default(),
        }
    }

    /// Loads an aggregate: the latest valid snapshot, then every event after it.
    /// An aggregate with no events loads at version 0 with the default state.
    pub fn load(
        store: &S,
        id: impl Into<String>,
    ) -> impl Future<Output = Result<Self, Error<A::Error>>> + Send + 'static {
        let mut root = Self::new(store, id);
        let span = tracing::info_span!("es.load", aggregate = A::NAME, id = %root.id, version = tracing::field::Empty);
        let recorder = span.clone();
        async move {
            check_name(A::NAME).map_err(Error::widen)?;
            check_id(A::NAME, &root.id).map_err(Error::widen)?;
            if A::SNAPSHOT_EVERY > 0 {
                root.load_from_snapshot(None).await?;
            } else {
                root.hydrate().await?;
            }
            recorder.record("version", root.version);
            root.remember();
            Ok(root)
        }
        .instrument(span)
    }

    /// Loads an aggregate as it was right after `version`: the state a
    /// replay of its first `version` events gives, checked for contiguity
    /// like [`Root::load`]. Version 0 is the default state, and reads nothing.
    ///
    /// It starts from the latest usable snapshot at or below `version`,
    /// reading newest first from `version`, so its cost is bounded by
    /// `SNAPSHOT_EVERY` events as a load's is; without snapshots it replays
    /// the first `version` events. Fails with [`Error::VersionNotFound`]
    /// when the aggregate has fewer than `version` events.
    ///
    /// The handle commits like any other, and is stale unless `version` is
    /// the latest: a commit from it fails with [`Error::Conflict`].
    ///
    /// ```
    /// # mod doc { include!("../doc/product.rs"); }
    /// # use doc::*;
    /// # use es::prelude::*;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let mut product = Product::load(&store, "sku-1").await?;
    /// product.commit(Restocked { amount: 10 }).await?;
    /// product.commit(Restocked { amount: 5 }).await?;
    /// let then = Product::load_at(&store, "sku-1", 1).await?;
    /// assert_eq!((then.on_hand, then.version()), (10, 1));
    /// # Ok::<_, Error<SoldOut>>(()) }).unwrap();
    /// ```
    pub fn load_as_of(
        store: &S,
        id: impl Into<String>,
        version: u64,
    ) -> impl Future<Output = Result<Self, Error<A::Error>>> + Send + 'static {
        let mut root = Self::new(store, id);
        let span =
            tracing::info_span!("es.load", aggregate = A::NAME, id = %root.id, as_of = version);
        async move {
            check_name(A::NAME).map_err(Error::widen)?;
            check_id(A::NAME, &root.id).map_err(Error::widen)?;
            if version == 0 {
                return Ok(root);
            }
            if A::SNAPSHOT_EVERY > 0 {
                root.load_from_snapshot(Some(version)).await?;
            } else {
                root.hydrate_until(Some(version)).await?;
            }
            // The reads stop at `version` and versions are contiguous, so
            // anything short of it is the end of the history.
            if root.version != version {
                return Err(Error::VersionNotFound {
                    aggregate: A::NAME,
                    id: root.id,
                    version,
                    latest: root.version,
                });
            }
            Ok(root)
        }
        .instrument(span)
    }

    /// The aggregate's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version of the last event applied; 0 when there is none.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Gives up the handle and keeps the state.
    pub fn into_state(self) -> A {
        self.state
    }

    /// The store this handle commits to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Sets the metadata stored with every event this handle commits from now on.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Catches up: reads and applies only the events after this handle's
    /// version, page by page. Returns how many events were applied.
    pub async fn hydrate(&mut self) -> Result<u64, Error<A::Error>> {
        self.hydrate_until(None).await
    }

    /// [`Root::hydrate`], up to and including version `until` when set.
    async fn hydrate_until(&mut self, until: Option<u64>) -> Result<u64, Error<A::Error>> {
        let start = self.version;
        // `after` stays at the start for every page: the cursor moves on, and
        // a store may rely on `after` and the cursor describing one query.
        let mut cursor = None;
        loop {
            let page = self
                .store
                .read(ReadRequest {
                    aggregate: A::NAME,
                    id: &self.id,
                    after: start,
                    until,
                    direction: Direction::Forward,
                    limit: None,
                    cursor: cursor.take(),
                })
                .await
                .map_err(|e| e.about(A::NAME, &self.id).widen())?;
            let mut items = page.items;
            crate::erasure::open_stored::<A, S>(&self.store, &self.id, &mut items)
                .await
                .map_err(Error::widen)?;
            // Each page is applied before the next is read, so memory stays
            // bounded by one page however long the history is.
            for stored in items {
                self.apply_stored(stored)?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(self.version - start),
            }
        }
    }

    /// Reads the newest `SNAPSHOT_EVERY` events, newest first, and starts
    /// from the latest usable snapshot among them. Snapshots are written every
    /// `SNAPSHOT_EVERY` versions, so a sound one is always among them, unless
    /// it was left out or cannot be used (a history from before snapshots, a
    /// new `snapshot_schema`, a corrupt snapshot, or one left out of its
    /// commit as too large for the item). Then paging further back would
    /// buffer the whole history newest first: it loads forward instead, one
    /// page at a time, as without snapshots.
    ///
    /// A page may hold fewer than `SNAPSHOT_EVERY` events, as DynamoDB's do
    /// at 1 MB: the read goes on, newest first, until it has seen that many
    /// (or the snapshot, or the first event), so a cut page still gives a
    /// load bounded by `SNAPSHOT_EVERY` events.
    ///
    /// With `until`, all of this holds as of that version: the reads start
    /// newest first from it, and the fallback reads forward up to it.
    async fn load_from_snapshot(&mut self, until: Option<u64>) -> Result<(), Error<A::Error>> {
        let window = usize::try_from(A::SNAPSHOT_EVERY).unwrap_or(usize::MAX);
        let mut newer: Vec<StoredEvent<S::Payload>> = Vec::new();
        let mut base: Option<(u64, A)> = None;
        let mut cursor = None;
        // Whether the reads reached the oldest event.
        let mut whole = false;
        'pages: while newer.len() < window {
            let page = self
                .store
                .read(ReadRequest {
                    aggregate: A::NAME,
                    id: &self.id,
                    after: 0,
                    until,
                    direction: Direction::Backward,
                    limit: Some(window - newer.len()),
                    cursor: cursor.take(),
                })
                .await
                .map_err(|e| e.about(A::NAME, &self.id).widen())?;
            let read = page.items.len();
            let mut items = page.items;
            crate::erasure::open_stored::<A, S>(&self.store, &self.id, &mut items)
                .await
                .map_err(Error::widen)?;
            for mut stored in items {
                if let Some(snapshot) = stored.snapshot.take() {
                    match decode_snapshot::<A, S>(&self.store, snapshot) {
                        Ok(state) => {
                            base = Some((stored.version, state));
                            break 'pages;
                        }
                        Err(reason) => tracing::warn!(
                            aggregate = A::NAME,
                            id = %self.id,
                            version = stored.version,
                            %reason,
                            "ignoring unusable snapshot"
                        ),
                    }
                }
                newer.push(stored);
            }
            match page.next {
                None => {
                    whole = true;
                    break;
                }
                // A page with nothing in it would not move the read on.
                Some(_) if read == 0 => break,
                Some(next) => cursor = Some(next),
            }
        }
        match base {
            Some((version, state)) => {
                self.version = version;
                self.state = state;
            }
            // The pages held the whole history: replay it from the start.
            None if whole => {}
            None => {
                tracing::warn!(
                    aggregate = A::NAME,
                    id = %self.id,
                    "no usable snapshot among the newest {window} events; loading the whole history"
                );
                self.hydrate_until(until).await?;
                return Ok(());
            }
        }
        for stored in newer.into_iter().rev() {
            self.apply_stored(stored)?;
        }
        Ok(())
    }

    fn apply_stored(&mut self, stored: StoredEvent<S::Payload>) -> Result<(), Error<A::Error>> {
        // Before contiguity, so that an item at version 0 is named for what
        // it is rather than as a gap.
        check_version(A::NAME, &self.id, stored.version).map_err(Error::widen)?;
        let Some(expected) = self.version.checked_add(1) else {
            return Err(Error::Corrupt {
                aggregate: A::NAME.into(),
                id: self.id.clone(),
                version: stored.version,
                reason: format!("no version can follow {}", self.version),
            });
        };
        if stored.version != expected {
            return Err(Error::Corrupt {
                aggregate: A::NAME.into(),
                id: self.id.clone(),
                version: stored.version,
                reason: format!("expected version {expected}: versions must be contiguous"),
            });
        }
        let recorded = decode_event::<A, S>(&self.store, &self.id, stored)?;
        self.state
            .apply(&recorded.event)
            .map_err(|source| Error::Replay {
                aggregate: A::NAME,
                id: self.id.clone(),
                version: recorded.version,
                source,
            })?;
        self.version = recorded.version;
        Ok(())
    }

    /// Validates and writes one event at the next version. Returns the new version.
    ///
    /// The handler runs on a copy of the state first: if it rejects the event,
    /// nothing is written and the error is [`Error::Rejected`]. If another
    /// writer committed first, the error is [`Error::Conflict`] and this
    /// handle is unchanged; [`Root::hydrate`] catches it up.
    ///
    /// The future is boxed, and the event converted before it is made, so
    /// that its type does not name the event's: an event `A` has no handler
    /// for is then reported once, at the argument, and not again at the call
    /// and at its `.await`, as it would be by an `async fn`.
    pub fn commit(
        &mut self,
        event: impl HandledBy<A>,
    ) -> BoxFuture<'_, Result<u64, Error<A::Error>>> {
        self.commit_events(vec![event.into_event()]).boxed()
    }

    /// Validates and writes several events atomically: all or none. Boxed
    /// for the reason [`Root::commit`] is.
    pub fn commit_all(
        &mut self,
        events: impl IntoEvents<A>,
    ) -> BoxFuture<'_, Result<u64, Error<A::Error>>> {
        self.commit_events(events.into_events()).boxed()
    }

    async fn commit_events(&mut self, events: Vec<A::Event>) -> Result<u64, Error<A::Error>> {
        if events.is_empty() {
            return Ok(self.version);
        }
        let span = tracing::info_span!(
            "es.commit",
            aggregate = A::NAME,
            id = %self.id,
            expected = self.version,
            events = events.len()
        );
        async {
            let Staged {
                append,
                next,
                last,
                sealing,
            } = self.stage(&events)?;
            let committed = crate::erasure::commit(
                &self.store,
                Commit {
                    appends: vec![append],
                    command: None,
                    exact_conflict: true,
                },
                &[sealing],
            )
            .await
            .map_err(|e| e.about(A::NAME, &self.id).widen())?;
            debug_assert_eq!(committed, Committed::Written);
            self.advance(last, next);
            Ok(self.version)
        }
        .instrument(span)
        .await
    }

    /// Runs the handlers of `events` on a copy of the state and encodes them
    /// at the versions after this handle's. Returns the append and the state
    /// the aggregate will have once it is written.
    pub(crate) fn stage(
        &self,
        events: &[A::Event],
    ) -> Result<Staged<A, S::Payload>, Error<A::Error>> {
        check_name(A::NAME).map_err(Error::widen)?;
        check_id(A::NAME, &self.id).map_err(Error::widen)?;
        // Versions must not wrap round to overwrite version 0 or 1. Nothing
        // stored is wrong, so this is no `Corrupt`: it is refused as
        // `Commit::check` refuses an append past `u64::MAX`.
        let last = u64::try_from(events.len())
            .ok()
            .and_then(|n| self.version.checked_add(n))
            .ok_or_else(|| {
                Error::from(
                    StoreError::permanent(
                        "commit",
                        format!(
                            "{} {:?}: no room for {} more events after version {}: \
                             versions end at u64::MAX",
                            A::NAME,
                            self.id,
                            events.len(),
                            self.version
                        ),
                    )
                    .about(A::NAME, &self.id),
                )
            })?;
        let timestamp = crate::time::now();
        let mut next = self.state.clone();
        let mut stored = Vec::with_capacity(events.len());
        // `v < last`, so `v + 1` cannot overflow even with no events.
        for (version, event) in (self.version..last).map(|v| v + 1).zip(events) {
            next.apply(event).map_err(Error::Rejected)?;
            stored.push(encode_event::<A, S>(
                &self.store,
                &self.id,
                version,
                event,
                &next,
                &timestamp,
                &self.metadata,
            )?);
        }
        let append = Append {
            aggregate: A::NAME,
            id: self.id.clone(),
            expected: self.version,
            events: stored,
        };
        Ok(Staged {
            append,
            next,
            last,
            sealing: crate::erasure::Sealing::of::<A>(),
        })
    }

    /// Replaces the state and version after a commit made elsewhere (a
    /// transaction or an idempotent command) was written.
    pub(crate) fn advance(&mut self, version: u64, state: A) {
        self.version = version;
        self.state = state;
        self.remember();
    }

    /// A handle at a state this process kept (see [`Writers`](crate::Writers)),
    /// not read from the store: a commit from it checks it.
    pub(crate) fn kept(store: &S, id: String, version: u64, state: A, metadata: Metadata) -> Self {
        Root {
            store: store.clone(),
            id,
            version,
            state,
            metadata,
        }
    }

    /// The handle a writer decides on in its `turn` on the aggregate:
    /// `given` (a handle the caller holds) or the state this process kept,
    /// whichever is later, else a load; then caught up when this process
    /// has since seen a later version than it holds. With whether it was
    /// read from the store: one that was not may be stale, which its
    /// commit's condition checks.
    pub(crate) async fn for_turn(
        store: &S,
        id: String,
        given: Option<Self>,
        turn: &crate::writers::Turn,
    ) -> Result<(Self, bool), Error<A::Error>> {
        let mut read = false;
        let mut root = match (given, turn.latest::<A>()) {
            (Some(given), Some((version, state))) if version > given.version => {
                Root::kept(store, id, version, state, given.metadata)
            }
            (Some(given), _) => given,
            (None, Some((version, state))) => {
                Root::kept(store, id, version, state, Metadata::default())
            }
            (None, None) => {
                read = true;
                Root::load(store, id).await?
            }
        };
        // A handle this process has since moved past would only conflict:
        // catch it up first.
        if !read
            && store
                .writers()
                .seen(turn.key())
                .is_some_and(|seen| seen > root.version)
        {
            read = true;
            root.hydrate().await?;
        }
        Ok((root, read))
    }

    /// Tells the store's [`Writers`](crate::Writers) this handle's state is
    /// the latest known, so that the next command on the aggregate in this
    /// process starts from it instead of reading.
    pub(crate) fn remember(&self) {
        // A state that may hold personal data stays only while commands
        // queue on it, never in the cache: a forget must not leave its
        // plaintext in memory for long.
        let cache = !<A::Event as crate::EventSet>::ANY_PERSONAL && A::PERSONAL.is_none();
        self.store.writers().remember(
            &stream_key(A::NAME, &self.id),
            self.version,
            &self.state,
            cache,
        );
    }

    /// The aggregate's whole history, oldest first, read lazily page by page.
    ///
    /// It is checked as a load is: an item at version 0 or below, or a gap
    /// in the versions, is an [`Error::Corrupt`] in the stream.
    pub fn history(
        &self,
    ) -> impl Stream<Item = Result<Recorded<A::Event>, Error<A::Error>>> + Send + '_ {
        history::<A, S>(&self.store, &self.id, 0)
    }

    /// The aggregate's events after `version`, oldest first, read lazily
    /// page by page and checked as [`Root::history`] is: the first is at
    /// `version + 1`, or the stream yields [`Error::Corrupt`]. Nothing
    /// after the latest version is an empty stream.
    pub fn history_after(
        &self,
        version: u64,
    ) -> impl Stream<Item = Result<Recorded<A::Event>, Error<A::Error>>> + Send + '_ {
        history::<A, S>(&self.store, &self.id, version)
    }
}

/// Events checked and encoded for a commit, and the state once it is written.
pub(crate) struct Staged<A, P> {
    pub(crate) append: Append<P>,
    pub(crate) next: A,
    /// The version of the last event, once written.
    pub(crate) last: u64,
    /// Where the events' personal fields are, to seal them at the commit.
    pub(crate) sealing: crate::erasure::Sealing,
}

/// The events of one aggregate after version `after`, read lazily page by
/// page, each checked to follow the one before as [`Root::load`] checks them.
pub(crate) fn history<'a, A: Aggregate, S: EventStore>(
    store: &'a S,
    id: &'a str,
    after: u64,
) -> impl Stream<Item = Result<Recorded<A::Event>, Error<A::Error>>> + Send + 'a {
    // State: the next cursor to read, or None once the last page was read.
    let pages = stream::try_unfold(Some(None::<Cursor>), move |state| async move {
        let Some(cursor) = state else {
            return Ok::<_, Error<A::Error>>(None);
        };
        let page = store
            .read(ReadRequest {
                aggregate: A::NAME,
                id,
                after,
                until: None,
                direction: Direction::Forward,
                limit: None,
                cursor,
            })
            .await
            .map_err(|e| e.about(A::NAME, id).widen())?;
        let mut items = page.items;
        crate::erasure::open_stored::<A, S>(store, id, &mut items)
            .await
            .map_err(Error::widen)?;
        let events: Vec<_> = items
            .into_iter()
            .map(|stored| {
                // Before decoding, so that a bad item is named for its place
                // in the history rather than for its payload.
                check_version(A::NAME, id, stored.version).map_err(Error::widen)?;
                Ok(stored)
            })
            .collect();
        let more = page.next.map(Some);
        Ok(Some((stream::iter(events), more)))
    });
    // The version each event must have: one past the one before.
    let mut expected = after.checked_add(1);
    pages
        .try_flatten()
        .and_then(move |stored| {
            let version = stored.version;
            let checked = match expected {
                Some(next) if version == next => {
                    expected = next.checked_add(1);
                    decode_event::<A, S>(store, id, stored)
                }
                Some(next) => Err(Error::Corrupt {
                    aggregate: A::NAME.into(),
                    id: id.to_owned(),
                    version,
                    reason: format!("expected version {next}: versions must be contiguous"),
                }),
                None => Err(Error::Corrupt {
                    aggregate: A::NAME.into(),
                    id: id.to_owned(),
                    version,
                    reason: format!("no version can follow {}", u64::MAX),
                }),
            };
            futures::future::ready(checked)
        })
        .boxed()
}
