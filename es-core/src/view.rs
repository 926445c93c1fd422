//! Read-model tables: typed views keyed by id, written so that an event
//! delivered twice changes a view once.
//!
//! Streams deliver at least once: Lambda retries a batch, a runner restarts
//! from its last checkpoint, a rebuild repeats the page it was cut short in.
//! Each [`ViewRow`] therefore records, per aggregate, the last version it
//! applied, and [`Views::update`] writes the new state and that version in
//! one conditional write. A duplicate or out-of-date event is seen on the
//! read and costs no write at all.
//!
//! [`MemoryViews`] keeps rows in memory; es-dynamo's `DynamoViews` keeps them
//! in a DynamoDB table. Both implement [`ViewTable`].

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
    /// The last version applied, per aggregate key (`"Product#sku-1"`).
    pub applied: BTreeMap<String, u64>,
}

impl<V> ViewRow<V> {
    /// Whether the event at `envelope` was applied already.
    pub fn has_applied(&self, envelope: &Envelope) -> bool {
        self.applied
            .get(&envelope.key())
            .is_some_and(|&v| v >= envelope.version)
    }
}

/// What a conditional save did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// The row was written.
    Written,
    /// The row is no longer at the revision the save expected: another writer
    /// saved it first. Nothing was written.
    Stale,
}

/// A table of views, of any number of kinds, and of the checkpoints of the
/// drivers that keep them.
///
/// A row's key is its kind and id. Kinds are names such as `"stock"`: not
/// empty, without `#`, and not starting with `$`, which marks checkpoints.
pub trait ViewTable: Clone + Send + Sync + 'static {
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

/// What [`Views::update`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Updated {
    /// The change was applied and written.
    Applied,
    /// The view had applied this event, or a later one of its aggregate,
    /// already: nothing was written.
    AlreadyApplied,
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

/// How many times [`Views::update`] re-reads a row another writer changed
/// before giving up with a retryable error.
const UPDATE_ATTEMPTS: u32 = 32;

impl<V, T> Views<V, T>
where
    V: Serialize + DeserializeOwned + Default + Clone + Send + Sync,
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

    /// One view's row: its state, revision and applied versions.
    pub async fn row(&self, id: &str) -> Result<Option<ViewRow<V>>, Error> {
        check_id(VIEW, id)?;
        self.table.load(&self.kind, id).await
    }

    /// Applies the event at `envelope` to the view `id` with `change`,
    /// unless the view applied it, or a later event of its aggregate,
    /// already.
    ///
    /// The new state and the event's version are written together, on the
    /// condition that nobody wrote the row since it was read; when somebody
    /// did, the row is read again and `change` runs again on it. A duplicate
    /// costs one read and no write.
    pub async fn update(
        &self,
        id: &str,
        envelope: &Envelope,
        mut change: impl FnMut(&mut V) + Send,
    ) -> Result<Updated, Error> {
        check_id(VIEW, id)?;
        for _ in 0..UPDATE_ATTEMPTS {
            let mut row = self
                .table
                .load::<V>(&self.kind, id)
                .await?
                .unwrap_or_default();
            if row.has_applied(envelope) {
                return Ok(Updated::AlreadyApplied);
            }
            change(&mut row.state);
            row.applied.insert(envelope.key(), envelope.version);
            row.revision += 1;
            match self.table.save(&self.kind, id, &row).await? {
                Saved::Written => return Ok(Updated::Applied),
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
        applied: row.applied,
    })
}

impl ViewTable for MemoryViews {
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
                applied: row.applied.clone(),
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
