//! Read-model tables: typed views keyed by id, written so that an event
//! delivered twice changes a view once.
//!
//! Streams deliver at least once: Lambda retries a batch, a runner restarts
//! from its last checkpoint, a rebuild repeats the page it was cut short in.
//! Inside a driver ([`Projector`](crate::Projector)), [`Views::update`]
//! therefore does not write at once: it stages the row, and the driver
//! writes every row a run of events changed together with the projection's
//! position for the aggregate, the last version it applied, in one
//! conditional commit ([`ViewTable::commit`]). An event at or below the
//! position is a duplicate and runs no handler; an event past the next one
//! is a gap, which the driver fills from the events table first.
//!
//! [`MemoryViews`] keeps rows in memory; es-dynamo's `DynamoViews` keeps them
//! in a DynamoDB table. Both implement [`ViewTable`].

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::stream::{self, Stream, TryStreamExt as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, StoreError};
use crate::limits::check_id;
use crate::projection::Envelope;
use crate::stats::{Record as _, Stats};
use crate::store::{Cursor, Page};

/// One view as a table holds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewRow<V> {
    /// The view's state.
    pub state: V,
    /// How many times the row was written. Each write is conditional on the
    /// revision it read, so two writers never lose each other's update.
    pub revision: u64,
}

/// What a conditional save or commit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// Everything was written.
    Written,
    /// A row is no longer at the revision the write expected, or the
    /// position no longer where it was read: another writer got there first.
    /// Nothing was written.
    Stale,
}

/// The most view rows one [`Commit`] writes: DynamoDB's `TransactWriteItems`
/// takes 100 items, and the position is one of them.
pub const MAX_COMMIT_ROWS: usize = 99;

/// What a driver writes for a run of events of one aggregate, all or
/// nothing: the view rows the run changed, and the projection's new
/// position for the aggregate.
#[derive(Debug)]
pub struct Commit<D> {
    /// The projection's name.
    pub projection: &'static str,
    /// The aggregate's key, `"{aggregate}#{id}"`.
    pub aggregate: String,
    /// The position the commit expects: the last version applied, 0 for an
    /// aggregate the projection never saw.
    pub from: u64,
    /// The new position: the last version of the run.
    pub to: u64,
    /// The rows, at most [`MAX_COMMIT_ROWS`].
    pub rows: Vec<RowWrite<D>>,
}

/// One row of a [`Commit`].
#[derive(Debug)]
pub struct RowWrite<D> {
    /// The view's kind.
    pub kind: String,
    /// The view's id.
    pub id: String,
    /// The row's new revision: the write expects `revision - 1` (no row
    /// when that is 0).
    pub revision: u64,
    /// The encoded state.
    pub state: D,
}

/// A table of views, of any number of kinds, of the positions of the
/// projections that keep them, and of the drivers' checkpoints.
///
/// A row's key is its kind and id. Kinds are names such as `"stock"`: not
/// empty, without `#`, and not starting with `$`, which marks positions and
/// checkpoints.
pub trait ViewTable: Clone + Send + Sync + 'static {
    /// A state as the table stores it: a JSON value in memory, a DynamoDB
    /// map in DynamoDB.
    type Doc: Send + Sync + 'static;

    /// Reads one row, consistently.
    fn load<V: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<ViewRow<V>>, Error>> + Send;

    /// Writes `row` if the stored row is at `row.revision - 1` (absent when
    /// that is 0).
    fn save<V: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        row: &ViewRow<V>,
    ) -> impl Future<Output = Result<Saved, Error>> + Send;

    /// One page of the rows of a kind.
    fn list<V: DeserializeOwned>(
        &self,
        kind: &str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> impl Future<Output = Result<Page<(String, ViewRow<V>)>, Error>> + Send;

    /// Encodes a view's state for a [`Commit`].
    fn encode<V: Serialize>(&self, kind: &str, id: &str, state: &V) -> Result<Self::Doc, Error>;

    /// The positions of `projection` for the given aggregate keys, read
    /// consistently: the last version it applied of each. A key the
    /// projection never applied an event of is left out.
    fn positions(
        &self,
        projection: &str,
        aggregates: &[String],
    ) -> impl Future<Output = Result<HashMap<String, u64>, Error>> + Send;

    /// Writes a commit's rows and position together, if every row is at the
    /// revision before its new one and the position is at `from`; otherwise
    /// writes nothing and answers [`Saved::Stale`].
    fn commit(
        &self,
        commit: Commit<Self::Doc>,
    ) -> impl Future<Output = Result<Saved, Error>> + Send;

    /// Whether `other` is this same table: a commit writes its rows into
    /// the table the driver keeps positions in.
    fn same_table(&self, other: &Self) -> bool;

    /// A driver's checkpoint, such as where a rebuild got to.
    fn checkpoint(&self, name: &str) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Sets a driver's checkpoint; `None` removes it.
    fn set_checkpoint(
        &self,
        name: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The table's request and capacity counters.
    fn stats(&self) -> &Stats;
}

/// The views of one kind, typed: `Views<Stock, _>` reads and writes `Stock`
/// rows. Clones share the table.
pub struct Views<V, T> {
    table: T,
    kind: Arc<str>,
    marker: PhantomData<fn() -> V>,
}

impl<V, T: Clone> Clone for Views<V, T> {
    fn clone(&self) -> Self {
        Views {
            table: self.table.clone(),
            kind: self.kind.clone(),
            marker: PhantomData,
        }
    }
}

impl<V, T> std::fmt::Debug for Views<V, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// How many times an update outside a driver re-reads a row another writer
/// changed before giving up with a retryable error.
const UPDATE_ATTEMPTS: u32 = 32;

impl<V, T> Views<V, T>
where
    V: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static,
    T: ViewTable,
{
    /// The views of `kind` in `table`.
    ///
    /// # Panics
    ///
    /// When `kind` is empty, contains `#` or starts with `$`: kinds are
    /// names chosen in code, like aggregate names.
    pub fn new(table: T, kind: &str) -> Self {
        assert!(
            !kind.is_empty() && !kind.contains('#') && !kind.starts_with('$'),
            "a view kind must not be empty, contain '#' or start with '$', not {kind:?}"
        );
        Views {
            table,
            kind: kind.into(),
            marker: PhantomData,
        }
    }

    /// The kind, the first half of each row's key.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The table.
    pub fn table(&self) -> &T {
        &self.table
    }

    /// The state of one view, or `None` when no event touched it yet.
    pub async fn get(&self, id: &str) -> Result<Option<V>, Error> {
        Ok(self.row(id).await?.map(|row| row.state))
    }

    /// One view's row: its state and revision.
    pub async fn row(&self, id: &str) -> Result<Option<ViewRow<V>>, Error> {
        check_id(VIEW, id)?;
        self.table.load(&self.kind, id).await
    }

    /// Applies the event at `envelope` to the view `id` with `change`.
    ///
    /// Inside a driver, the envelope carries the driver's run of events:
    /// the row is read once per run (one consistent read), `change` runs on
    /// the staged state, and the driver writes the row with the
    /// projection's position when the run ends, all or nothing. Whether the
    /// event was applied before is the driver's question, answered by the
    /// position before any handler runs, so `change` runs once per event.
    ///
    /// Given an envelope that no driver made, the row is read, changed and
    /// written at once, on the condition that nobody wrote it since it was
    /// read (re-read and changed again when somebody did); nothing then
    /// tells a redelivered event from a new one.
    ///
    /// # Errors
    ///
    /// A store failure; a row another writer changed under each of 32
    /// attempts (retryable); or, inside a driver, views kept in another
    /// table than the projection's positions, or one row updated as two
    /// types in one run.
    pub async fn update(
        &self,
        id: &str,
        envelope: &Envelope,
        change: impl FnMut(&mut V) + Send,
    ) -> Result<(), Error> {
        check_id(VIEW, id)?;
        match envelope.stage() {
            Some(stage) => {
                let Some(stage) = stage.downcast_ref::<Stage<T>>() else {
                    return Err(StoreError::permanent(
                        "update view",
                        format!(
                            "views of kind {:?} are in a table of another type than the one \
                             the driver keeps the projection's positions in; a projection's \
                             views and positions share one table",
                            self.kind
                        ),
                    )
                    .into());
                };
                stage.update::<V>(&self.table, &self.kind, id, change).await
            }
            None => self.write_now(id, change).await,
        }
    }

    async fn write_now(
        &self,
        id: &str,
        mut change: impl FnMut(&mut V) + Send,
    ) -> Result<(), Error> {
        for _ in 0..UPDATE_ATTEMPTS {
            let mut row = self
                .table
                .load::<V>(&self.kind, id)
                .await?
                .unwrap_or_default();
            change(&mut row.state);
            row.revision += 1;
            match self.table.save(&self.kind, id, &row).await? {
                Saved::Written => return Ok(()),
                Saved::Stale => continue,
            }
        }
        Err(StoreError::transient(
            "update view",
            format!(
                "view {}#{id} changed under each of {UPDATE_ATTEMPTS} attempts",
                self.kind
            ),
        )
        .into())
    }

    /// Every view of this kind, page by page, in the table's order.
    pub fn list(&self) -> impl Stream<Item = Result<(String, V), Error>> + Send + '_ {
        stream::try_unfold(Some(None::<Cursor>), move |state| async move {
            let Some(cursor) = state else {
                return Ok::<_, Error>(None);
            };
            let page = self.table.list::<V>(&self.kind, None, cursor).await?;
            let rows = page.items.into_iter().map(|(id, row)| Ok((id, row.state)));
            Ok(Some((stream::iter(rows), page.next.map(Some))))
        })
        .try_flatten()
    }
}

// ---- A driver's staged rows ---------------------------------------------

/// The rows a driver's run of events changed, not yet written: what
/// [`Views::update`] changes inside a driver. Rows are keyed by kind and id
/// and hold their typed state; an event's changes can be undone, so that a
/// run can be committed up to the event before one that failed.
pub(crate) struct Stage<T: ViewTable> {
    table: T,
    inner: Mutex<StageInner<T>>,
}

/// A row's kind and id.
type RowKey = (String, String);

struct StageInner<T: ViewTable> {
    rows: BTreeMap<RowKey, Staged<T>>,
    /// The rows the current event touched, as they were before it: `None`
    /// for a row it brought into the stage.
    undo: Option<BTreeMap<RowKey, Option<Staged<T>>>>,
}

struct Staged<T: ViewTable> {
    /// The revision the row was read at (0: no row).
    revision: u64,
    state: Box<dyn Any + Send>,
    type_name: &'static str,
    copy: fn(&(dyn Any + Send)) -> Option<Box<dyn Any + Send>>,
    encode: Encode<T>,
}

impl<T: ViewTable> Staged<T> {
    fn try_clone(&self) -> Option<Staged<T>> {
        Some(Staged {
            revision: self.revision,
            state: (self.copy)(&*self.state)?,
            type_name: self.type_name,
            copy: self.copy,
            encode: self.encode,
        })
    }
}

fn copy_as<V: Clone + Send + 'static>(state: &(dyn Any + Send)) -> Option<Box<dyn Any + Send>> {
    let state: &dyn Any = state;
    state
        .downcast_ref::<V>()
        .map(|v| Box::new(v.clone()) as Box<dyn Any + Send>)
}

/// An encoder of one staged row, for the table it goes to.
type Encode<T> = fn(&T, &str, &str, &(dyn Any + Send)) -> Result<<T as ViewTable>::Doc, Error>;

fn encode_as<T: ViewTable, V: Serialize + 'static>(
    table: &T,
    kind: &str,
    id: &str,
    state: &(dyn Any + Send),
) -> Result<T::Doc, Error> {
    let state: &dyn Any = state;
    match state.downcast_ref::<V>() {
        Some(state) => table.encode(kind, id, state),
        None => Err(StoreError::permanent(
            "commit views",
            format!("view {kind}#{id}: its staged state is not the type it was read as"),
        )
        .into()),
    }
}

impl<T: ViewTable> Stage<T> {
    pub(crate) fn new(table: T) -> Self {
        Stage {
            table,
            inner: Mutex::new(StageInner {
                rows: BTreeMap::new(),
                undo: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StageInner<T>> {
        // A handler that panicked mid-change leaves a state the driver
        // discards with the whole run.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many rows are staged.
    pub(crate) fn len(&self) -> usize {
        self.lock().rows.len()
    }

    /// Starts an event: from here, what it changes can be undone.
    pub(crate) fn begin_event(&self) {
        self.lock().undo = Some(BTreeMap::new());
    }

    /// Keeps what the current event changed.
    pub(crate) fn end_event(&self) {
        self.lock().undo = None;
    }

    /// Undoes what the current event changed.
    pub(crate) fn undo_event(&self) {
        let mut inner = self.lock();
        if let Some(undo) = inner.undo.take() {
            for (key, before) in undo {
                match before {
                    Some(row) => inner.rows.insert(key, row),
                    None => inner.rows.remove(&key),
                };
            }
        }
    }

    async fn update<V>(
        &self,
        table: &T,
        kind: &str,
        id: &str,
        mut change: impl FnMut(&mut V) + Send,
    ) -> Result<(), Error>
    where
        V: Serialize + DeserializeOwned + Default + Clone + Send + 'static,
    {
        if !self.table.same_table(table) {
            return Err(StoreError::permanent(
                "update view",
                format!(
                    "views of kind {kind:?} are in another table than the one the driver keeps \
                     the projection's positions in; a projection's views and positions share \
                     one table, so that they are written together"
                ),
            )
            .into());
        }
        let key = (kind.to_owned(), id.to_owned());
        let staged = self.lock().rows.contains_key(&key);
        if !staged {
            // Read outside the lock: other rows of the run may be staged
            // meanwhile, by a handler that updates several at once.
            let row = table.load::<V>(kind, id).await?;
            let mut inner = self.lock();
            if !inner.rows.contains_key(&key) {
                let (revision, state) = row.map_or((0, V::default()), |r| (r.revision, r.state));
                if let Some(undo) = inner.undo.as_mut() {
                    undo.entry(key.clone()).or_insert(None);
                }
                inner.rows.insert(
                    key.clone(),
                    Staged {
                        revision,
                        state: Box::new(state),
                        type_name: std::any::type_name::<V>(),
                        copy: copy_as::<V>,
                        encode: encode_as::<T, V>,
                    },
                );
            }
        }
        let mut inner = self.lock();
        let StageInner { rows, undo } = &mut *inner;
        let Some(row) = rows.get_mut(&key) else {
            return Err(StoreError::permanent(
                "update view",
                format!("view {kind}#{id} left the driver's stage while it was updated"),
            )
            .into());
        };
        if let Some(undo) = undo.as_mut() {
            if !undo.contains_key(&key) {
                undo.insert(key.clone(), row.try_clone());
            }
        }
        let type_name = row.type_name;
        let state: &mut dyn Any = &mut *row.state;
        let Some(state) = state.downcast_mut::<V>() else {
            return Err(StoreError::permanent(
                "update view",
                format!(
                    "view {kind}#{id} is updated as {} and as {type_name} in one run of events; \
                     give each kind one state type",
                    std::any::type_name::<V>()
                ),
            )
            .into());
        };
        change(state);
        Ok(())
    }

    /// The commit of what is staged: every row at its next revision, and
    /// the position moved from `from` to `to`.
    pub(crate) fn commit(
        &self,
        projection: &'static str,
        aggregate: String,
        from: u64,
        to: u64,
    ) -> Result<Commit<T::Doc>, Error> {
        let inner = self.lock();
        let rows = inner
            .rows
            .iter()
            .map(|((kind, id), row)| {
                Ok(RowWrite {
                    kind: kind.clone(),
                    id: id.clone(),
                    revision: row.revision + 1,
                    state: (row.encode)(&self.table, kind, id, &*row.state)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Commit {
            projection,
            aggregate,
            from,
            to,
            rows,
        })
    }
}
/// The pseudo-aggregate name ids of views are checked under.
const VIEW: &str = "view";

/// An in-memory [`ViewTable`], thread-safe, with the same conditional writes
/// as the DynamoDB one. Clones share the rows.
#[derive(Clone, Debug, Default)]
pub struct MemoryViews {
    inner: Arc<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    rows: Mutex<Rows>,
    stats: Stats,
}

#[derive(Debug, Default)]
struct Rows {
    // By kind, then id: listing a kind walks its ids in order.
    views: HashMap<String, BTreeMap<String, ViewRow<serde_json::Value>>>,
    /// By projection, then aggregate key.
    positions: HashMap<String, HashMap<String, u64>>,
    checkpoints: HashMap<String, String>,
}

impl MemoryViews {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> MutexGuard<'_, Rows> {
        // A panic while the lock was held left no half-written row: every
        // change below is one insert.
        self.inner
            .rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn to_json<V: Serialize>(operation: &'static str, value: &V) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| {
        StoreError::permanent(operation, format!("cannot encode the view: {e}")).into()
    })
}

fn from_json<V: DeserializeOwned>(
    kind: &str,
    id: &str,
    row: ViewRow<serde_json::Value>,
) -> Result<ViewRow<V>, Error> {
    let state = serde_json::from_value(row.state).map_err(|e| Error::Corrupt {
        aggregate: kind.to_owned().into(),
        id: id.to_owned(),
        version: row.revision,
        reason: format!("view state: {e}"),
    })?;
    Ok(ViewRow {
        state,
        revision: row.revision,
    })
}

impl ViewTable for MemoryViews {
    type Doc = serde_json::Value;

    async fn load<V: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<ViewRow<V>>, Error> {
        self.inner.stats.record_read(1, 1.0);
        let row = self
            .rows()
            .views
            .get(kind)
            .and_then(|rows| rows.get(id))
            .cloned();
        row.map(|row| from_json(kind, id, row)).transpose()
    }

    async fn save<V: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        row: &ViewRow<V>,
    ) -> Result<Saved, Error> {
        let state = to_json("save view", &row.state)?;
        let mut rows = self.rows();
        let kind_rows = rows.views.entry(kind.to_owned()).or_default();
        let current = kind_rows.get(id).map_or(0, |r| r.revision);
        if current.checked_add(1) != Some(row.revision) {
            self.inner.stats.record_failed_write(1.0);
            return Ok(Saved::Stale);
        }
        kind_rows.insert(
            id.to_owned(),
            ViewRow {
                state,
                revision: row.revision,
            },
        );
        self.inner.stats.record_write(1, 1.0);
        Ok(Saved::Written)
    }

    async fn list<V: DeserializeOwned>(
        &self,
        kind: &str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> Result<Page<(String, ViewRow<V>)>, Error> {
        let limit = limit.unwrap_or(100).max(1);
        let page: Vec<(String, ViewRow<serde_json::Value>)> = {
            let rows = self.rows();
            let Some(kind_rows) = rows.views.get(kind) else {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            };
            let after = cursor.map(|c| c.into_string());
            kind_rows
                .iter()
                .filter(|(id, _)| after.as_ref().is_none_or(|after| *id > after))
                .take(limit + 1)
                .map(|(id, row)| (id.clone(), row.clone()))
                .collect()
        };
        self.inner.stats.record_read(page.len() as u64, 1.0);
        let more = page.len() > limit;
        let items = page
            .into_iter()
            .take(limit)
            .map(|(id, row)| from_json(kind, &id, row).map(|row| (id, row)))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if more {
            items.last().map(|(id, _)| Cursor::new(id.clone()))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    fn encode<V: Serialize>(&self, _: &str, _: &str, state: &V) -> Result<Self::Doc, Error> {
        to_json("commit views", state)
    }

    async fn positions(
        &self,
        projection: &str,
        aggregates: &[String],
    ) -> Result<HashMap<String, u64>, Error> {
        let rows = self.rows();
        let found: HashMap<String, u64> = rows
            .positions
            .get(projection)
            .map(|positions| {
                aggregates
                    .iter()
                    .filter_map(|key| positions.get(key).map(|&v| (key.clone(), v)))
                    .collect()
            })
            .unwrap_or_default();
        // One request per hundred keys, as DynamoDB's BatchGetItem.
        for request in 0..aggregates.len().div_ceil(100).max(1) {
            let items = if request == 0 { found.len() as u64 } else { 0 };
            self.inner.stats.record_read(items, 1.0);
        }
        Ok(found)
    }

    async fn commit(&self, commit: Commit<Self::Doc>) -> Result<Saved, Error> {
        let items = commit.rows.len() as u64 + 1;
        let units = 2.0 * items as f64;
        if commit.rows.len() > MAX_COMMIT_ROWS {
            return Err(StoreError::permanent(
                "commit views",
                format!(
                    "a commit of {} rows is over the limit of {MAX_COMMIT_ROWS} and a position",
                    commit.rows.len()
                ),
            )
            .into());
        }
        let mut guard = self.rows();
        let rows = &mut *guard;
        let position = rows
            .positions
            .get(commit.projection)
            .and_then(|p| p.get(&commit.aggregate))
            .copied()
            .unwrap_or(0);
        let stale = position != commit.from
            || commit.rows.iter().any(|row| {
                let current = rows
                    .views
                    .get(&row.kind)
                    .and_then(|kind| kind.get(&row.id))
                    .map_or(0, |r| r.revision);
                current.checked_add(1) != Some(row.revision)
            });
        if stale {
            self.inner.stats.record_failed_write(units);
            return Ok(Saved::Stale);
        }
        for row in commit.rows {
            rows.views.entry(row.kind).or_default().insert(
                row.id,
                ViewRow {
                    state: row.state,
                    revision: row.revision,
                },
            );
        }
        rows.positions
            .entry(commit.projection.to_owned())
            .or_default()
            .insert(commit.aggregate, commit.to);
        self.inner.stats.record_write(items, units);
        Ok(Saved::Written)
    }

    fn same_table(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<String>, Error> {
        self.inner.stats.record_read(1, 1.0);
        Ok(self.rows().checkpoints.get(name).cloned())
    }

    async fn set_checkpoint(&self, name: &str, value: Option<&str>) -> Result<(), Error> {
        let mut rows = self.rows();
        match value {
            Some(value) => rows.checkpoints.insert(name.to_owned(), value.to_owned()),
            None => rows.checkpoints.remove(name),
        };
        self.inner.stats.record_write(1, 1.0);
        Ok(())
    }

    fn stats(&self) -> &Stats {
        &self.inner.stats
    }
}
