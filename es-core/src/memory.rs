//! [`MemoryStore`]: the embedded store, with DynamoDB's semantics.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::de::DeserializeSeed;
use serde::Serialize;
use serde_json::Value;

use crate::erasure::Vault;
use crate::error::{Error, StoreError};
use crate::limits::{
    check_id, check_idempotency_key, check_name, check_write, snapshots_to_leave_out, stream_key,
    warn_snapshot_left_out, PAGE_BYTES,
};
use crate::projection::{Projection, ProjectionError, RawEvent};
use crate::stats::{capacity, Record as _, Stats};
use crate::store::{
    CodecError, CommandRecord, Commit, Committed, Cursor, Direction, EventStore, Page, ReadRequest,
    StoredEvent, StoredSnapshot,
};
use crate::writers::Writers;

/// A thread-safe in-memory event store that behaves like `DynamoStore`:
/// conditional appends, atomic multi-aggregate commits, pages of at most 1 MB,
/// the same size limits, and the same request and capacity accounting.
///
/// It is the default for examples and unit tests, and it passes the same
/// conformance suite (`es_core::conformance`, feature `conformance`) as the
/// DynamoDB store. Clones share the same data.
///
/// ```
/// let store = es_core::MemoryStore::new();
/// let small_pages = es_core::MemoryStore::with_page_items(2); // to exercise paging
/// # let _ = (store, small_pages);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
    // Apart from `inner`, so that `as_another_process` can share the data
    // without the queues and the cache.
    writers: Arc<Writers>,
    // Beside `inner` too, so that `with_vault` needs no rebuild of the
    // data; `as_another_process` shares it, as the key table is shared.
    vault: Vault,
}

#[derive(Debug, Default)]
struct Inner {
    data: Mutex<Data>,
    page_items: Option<usize>,
    stats: Stats,
}

#[derive(Debug, Default)]
struct Data {
    // By version, like a DynamoDB partition sorted by its range key: a commit
    // is conditional on its own versions only, so a raw append past the end
    // leaves a gap here exactly as it would there.
    streams: HashMap<String, BTreeMap<u64, Row>>,
    // The `initialEvents` index: per aggregate name, ids by creation time.
    created: HashMap<String, BTreeMap<(String, u64), String>>,
    commands: HashMap<String, CommandRecord>,
    next_seq: u64,
    // The change feed: every event in commit order, as (aggregate, id,
    // version), like a table's stream.
    log: Vec<(&'static str, String, u64)>,
}

#[derive(Debug, Clone)]
struct Row {
    event: StoredEvent<Value>,
    bytes: usize,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose read pages hold at most `items` items, so that
    /// tests can exercise pagination without megabytes of data.
    pub fn with_page_items(items: usize) -> Self {
        MemoryStore {
            inner: Arc::new(Inner {
                page_items: Some(items.max(1)),
                ..Inner::default()
            }),
            writers: Arc::default(),
            vault: Vault::default(),
        }
    }

    /// This store with `vault` for the keys of data subjects, instead of
    /// the vault of its own it starts with (keys in the process). See
    /// [`erasure`](crate::erasure).
    pub fn with_vault(mut self, vault: Vault) -> Self {
        self.vault = vault;
        self
    }

    /// This store with a cache of the latest state of up to `entries`
    /// aggregates, shared by its clones: a command on a cached aggregate
    /// decides on the cached state and writes at once, with no read. A
    /// state that another writer has since moved past costs one conflict
    /// and a read of only the events missed. See
    /// [`EventStore::writers`](crate::EventStore::writers).
    ///
    /// Call it once, where the store is built, and share the result: the
    /// cache is new, and replaces the one this handle had.
    ///
    /// ```
    /// let store = es_core::MemoryStore::new().with_cache(10_000);
    /// # let _ = store;
    /// ```
    pub fn with_cache(mut self, entries: usize) -> Self {
        self.writers = Arc::new(Writers::with_cache(entries));
        self
    }

    /// A handle on the same data as a second process would have: its own
    /// command queues and an empty cache of the same size. For tests of
    /// several processes writing one aggregate, which must not share what
    /// each keeps in memory.
    pub fn as_another_process(&self) -> Self {
        MemoryStore {
            inner: self.inner.clone(),
            writers: Arc::new(Writers::with_cache(self.writers.cache_capacity())),
            vault: self.vault.clone(),
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while the lock was held cannot leave a half-applied commit,
        // because commits validate everything before they mutate; so the data
        // is still consistent and the poison can be ignored.
        self.inner
            .data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_page(&self, request: &ReadRequest<'_>) -> Result<Page<StoredEvent<Value>>, Error> {
        check_name(request.aggregate)?;
        check_id(request.aggregate, request.id)?;
        let start_after = match &request.cursor {
            None => None,
            Some(c) => Some(c.as_str().parse::<u64>().map_err(|_| invalid_cursor(c))?),
        };
        let key = stream_key(request.aggregate, request.id);
        let data = self.data();
        let empty = BTreeMap::new();
        let rows = data.streams.get(&key).unwrap_or(&empty);
        // Versions above `after`, and beyond the cursor in the read's
        // direction. Going backward, a cursor at or below `after + 1` leaves
        // nothing between the two (and BTreeMap::range refuses such bounds).
        let range: Box<dyn Iterator<Item = &Row>> = match (request.direction, start_after) {
            (Direction::Forward, _) => {
                let from = start_after.map_or(request.after, |v| v.max(request.after));
                Box::new(
                    rows.range((Bound::Excluded(from), Bound::Unbounded))
                        .map(|(_, r)| r),
                )
            }
            (Direction::Backward, Some(v)) if v <= request.after.saturating_add(1) => {
                Box::new(std::iter::empty())
            }
            (Direction::Backward, _) => {
                let below = start_after.map_or(Bound::Unbounded, Bound::Excluded);
                Box::new(
                    rows.range((Bound::Excluded(request.after), below))
                        .rev()
                        .map(|(_, r)| r),
                )
            }
        };
        // At or below `until`, when set: a load as of a version. Rows above
        // it are skipped before counting, as DynamoDB's key condition leaves
        // them out of a page and its 1 MB.
        let until = request.until.unwrap_or(u64::MAX);
        let range = range.filter(|row| row.event.version <= until);
        let max_items = request
            .limit
            .unwrap_or(usize::MAX)
            .min(self.inner.page_items.unwrap_or(usize::MAX));
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for row in range {
            // Like a DynamoDB Query, stop at the item limit or once 1 MB was read.
            if items.len() >= max_items || bytes >= PAGE_BYTES {
                more = true;
                break;
            }
            bytes += row.bytes;
            items.push(row.event.clone());
        }
        drop(data);
        self.inner
            .stats
            .record_read(items.len() as u64, capacity::consistent_read(bytes));
        let next = match items.last() {
            Some(last) if more => Some(Cursor::new(last.version.to_string())),
            _ => None,
        };
        Ok(Page { items, next })
    }

    fn write(&self, mut commit: Commit<Value>) -> Result<Committed, Error> {
        commit.check()?;
        let Some(first) = commit.appends.first() else {
            return Ok(Committed::Written);
        };
        let (first_name, first_id) = (first.aggregate, first.id.clone());
        // Sizes with and without each snapshot, in the order of the items,
        // so that the snapshots that do not fit are left out as DynamoStore
        // leaves them out.
        let mut fits = Vec::new();
        for append in &commit.appends {
            let key = stream_key(append.aggregate, &append.id);
            fits.extend(append.events.iter().map(|event| {
                let size = item_size(&key, append.aggregate, event);
                (
                    size,
                    event.snapshot.as_ref().map(|s| size - snapshot_size(s)),
                )
            }));
        }
        fits.extend(commit.command.iter().map(|c| (command_size(c), None)));
        let mut leave_out = snapshots_to_leave_out(&fits).into_iter().peekable();
        let mut n = 0;
        for append in &mut commit.appends {
            for event in &mut append.events {
                if leave_out.next_if_eq(&n).is_some() {
                    event.snapshot = None;
                    fits[n].0 = fits[n].1.unwrap_or(fits[n].0);
                    warn_snapshot_left_out(append.aggregate, &append.id, event.version, fits[n].0);
                }
                n += 1;
            }
        }
        let sizes: Vec<usize> = fits.iter().map(|&(size, _)| size).collect();
        check_write(first_name, &first_id, &sizes)?;
        let units = if sizes.len() == 1 {
            capacity::write(sizes[0])
        } else {
            capacity::transaction(sizes.iter().copied())
        };

        let mut data = self.data();
        if let Some(command) = &commit.command {
            if let Some(existing) = data.commands.get(&command.key) {
                // Live until the second it expires, as DynamoDB's condition
                // `expiresAt < :now` reads it.
                if existing.expires_at >= crate::time::now_secs() {
                    let existing = existing.clone();
                    drop(data);
                    self.inner.stats.record_failed_write(units);
                    return Ok(Committed::Duplicate(existing));
                }
            }
        }
        for append in &commit.appends {
            let key = stream_key(append.aggregate, &append.id);
            let rows = data.streams.get(&key);
            // DynamoDB's condition is on each new item alone: the append
            // conflicts when any of its versions is taken.
            let taken = append
                .events
                .iter()
                .any(|e| rows.is_some_and(|rows| rows.contains_key(&e.version)));
            if taken {
                let actual = rows
                    .and_then(|rows| rows.keys().next_back().copied())
                    .unwrap_or(0);
                drop(data);
                self.inner.stats.record_failed_write(units);
                return Err(Error::Conflict {
                    aggregate: append.aggregate,
                    id: append.id.clone(),
                    expected: append.expected,
                    actual,
                });
            }
        }
        // Every check passed: from here on nothing can fail, so the commit is atomic.
        let mut size = sizes.iter();
        for append in commit.appends {
            let key = stream_key(append.aggregate, &append.id);
            for event in append.events {
                if event.version == 1 {
                    let seq = data.next_seq;
                    data.next_seq += 1;
                    data.created
                        .entry(append.aggregate.to_owned())
                        .or_default()
                        .insert((event.timestamp.clone(), seq), append.id.clone());
                }
                let bytes = size.next().copied().unwrap_or_default();
                data.log
                    .push((append.aggregate, append.id.clone(), event.version));
                data.streams
                    .entry(key.clone())
                    .or_default()
                    .insert(event.version, Row { event, bytes });
            }
        }
        let items = sizes.len() as u64;
        if let Some(command) = commit.command {
            data.commands.insert(command.key.clone(), command);
        }
        drop(data);
        self.inner.stats.record_write(items, units);
        Ok(Committed::Written)
    }

    fn ids_page(
        &self,
        aggregate: &'static str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> Result<Page<String>, Error> {
        check_name(aggregate)?;
        // A KEYS_ONLY index page of 1 MB holds thousands of ids; a count cap
        // stands in for it.
        let page_items = limit
            .unwrap_or(usize::MAX)
            .min(self.inner.page_items.unwrap_or(5000))
            .max(1);
        let after = match &cursor {
            None => None,
            Some(c) => Some(parse_ids_cursor(c).ok_or_else(|| invalid_cursor(c))?),
        };
        let data = self.data();
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        if let Some(index) = data.created.get(aggregate) {
            let range: Box<dyn Iterator<Item = (&(String, u64), &String)>> = match &after {
                None => Box::new(index.iter()),
                Some(key) => Box::new(index.range((
                    std::ops::Bound::Excluded(key.clone()),
                    std::ops::Bound::Unbounded,
                ))),
            };
            for (key, id) in range {
                if items.len() == page_items {
                    more = true;
                    break;
                }
                items.push(id.clone());
                last = Some(key.clone());
            }
        }
        drop(data);
        let bytes: usize = items.iter().map(|id| id.len() + aggregate.len() + 40).sum();
        self.inner
            .stats
            .record_read(items.len() as u64, capacity::consistent_read(bytes) / 2.0);
        let next = match last {
            Some((timestamp, seq)) if more => Some(Cursor::new(format!("{seq}|{timestamp}"))),
            _ => None,
        };
        Ok(Page { items, next })
    }
}

fn parse_ids_cursor(cursor: &Cursor) -> Option<(String, u64)> {
    let (seq, timestamp) = cursor.as_str().split_once('|')?;
    Some((timestamp.to_owned(), seq.parse().ok()?))
}

fn invalid_cursor(cursor: &Cursor) -> Error {
    StoreError::permanent(
        "read",
        format!(
            "invalid cursor {:?}: pass back a cursor this store returned",
            cursor.as_str()
        ),
    )
    .into()
}

/// One event of a [`MemoryStore`]'s change feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Its place in the feed, from 1: pass it back to read what came after.
    pub position: u64,
    /// The event, still encoded.
    pub event: RawEvent<Value>,
}

impl MemoryStore {
    /// The events committed after feed position `after`, at most `limit`
    /// of them, in commit order: what a table's stream carries, for
    /// projections in memory. The events of one commit are in one run, in
    /// version order.
    pub fn changes(&self, after: u64, limit: usize) -> Vec<Change> {
        let data = self.data();
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        data.log
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .filter_map(|(i, (aggregate, id, version))| {
                let row = data.streams.get(&stream_key(aggregate, id))?.get(version)?;
                Some(Change {
                    position: i as u64 + 1,
                    event: RawEvent::new(*aggregate, id.clone(), row.event.clone()),
                })
            })
            .collect()
    }

    /// Projects the change feed after `position` through `projector`, and
    /// moves `position` past what it projected: the in-memory counterpart
    /// of a stream runner. Returns how many changes it read.
    ///
    /// Each change goes through the projector as a stream record would:
    /// the projection's position for its aggregate decides whether it is a
    /// duplicate or follows a gap, which is read from this store first.
    ///
    /// # Errors
    ///
    /// The first event that failed; `position` stays before it, so the
    /// next call starts with it again.
    pub async fn catch_up<T, P>(
        &self,
        projector: &crate::Projector<MemoryStore, T, P>,
        position: &mut u64,
    ) -> Result<u64, ProjectionError<P::Error>>
    where
        T: crate::ViewTable,
        P: Projection,
    {
        let mut read = 0;
        loop {
            let changes = self.changes(*position, 256);
            let Some(end) = changes.last().map(|c| c.position) else {
                return Ok(read);
            };
            // A page's changes by aggregate, each in feed order, as a
            // stream batch groups its records.
            let mut groups: Vec<(String, String, Vec<FedEvent>)> = Vec::new();
            for change in changes {
                let RawEvent {
                    aggregate,
                    id,
                    event,
                    ..
                } = change.event;
                match groups
                    .iter_mut()
                    .find(|(a, i, _)| *a == aggregate && *i == id)
                {
                    Some((_, _, events)) => events.push((change.position, event)),
                    None => groups.push((aggregate, id, vec![(change.position, event)])),
                }
            }
            let mut failed: Option<(u64, ProjectionError<P::Error>)> = None;
            for (aggregate, id, events) in groups {
                let positions: Vec<(u64, u64)> =
                    events.iter().map(|(p, e)| (*p, e.version)).collect();
                let events = events.into_iter().map(|(_, e)| e).collect();
                if let Err(halted) = projector.project(&aggregate, &id, events).await {
                    // The feed resumes at the first change this aggregate
                    // has not applied.
                    let at = positions
                        .iter()
                        .find(|(_, version)| *version > halted.done.position)
                        .map_or(end, |(p, _)| *p);
                    if failed.as_ref().is_none_or(|(first, _)| at < *first) {
                        failed = Some((at, halted.error));
                    }
                }
            }
            if let Some((at, error)) = failed {
                *position = at - 1;
                return Err(error);
            }
            read += end - *position;
            *position = end;
        }
    }
}

/// An event of the change feed, with its place in it.
type FedEvent = (u64, StoredEvent<Value>);

impl crate::projection::Codec for MemoryStore {
    type Payload = Value;

    fn decode_payload<T, V>(&self, seed: T, payload: Value) -> Result<V, CodecError>
    where
        T: for<'de> DeserializeSeed<'de, Value = V>,
    {
        EventStore::decode(self, seed, payload)
    }
}

impl EventStore for MemoryStore {
    type Payload = Value;

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Value, CodecError> {
        serde_json::to_value(value).map_err(CodecError::new)
    }

    fn decode<T, V>(&self, seed: T, payload: Value) -> Result<V, CodecError>
    where
        T: for<'de> DeserializeSeed<'de, Value = V>,
    {
        crate::store::decode_json(seed, payload)
    }

    async fn read(&self, request: ReadRequest<'_>) -> Result<Page<StoredEvent<Value>>, Error> {
        self.read_page(&request)
    }

    async fn commit(&self, commit: Commit<Value>) -> Result<Committed, Error> {
        self.write(commit)
    }

    async fn list_ids(
        &self,
        aggregate: &'static str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> Result<Page<String>, Error> {
        self.ids_page(aggregate, limit, cursor)
    }

    async fn command(&self, key: &str) -> Result<Option<CommandRecord>, Error> {
        check_idempotency_key(key)?;
        let record = self.data().commands.get(key).cloned();
        self.inner
            .stats
            .record_read(u64::from(record.is_some()), 1.0);
        Ok(record.filter(|r| r.expires_at >= crate::time::now_secs()))
    }

    fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    fn writers(&self) -> &Arc<Writers> {
        &self.writers
    }

    fn vault(&self) -> Option<&Vault> {
        Some(&self.vault)
    }
}

/// The size DynamoDB would bill for this event's item: attribute names plus values.
fn item_size(key: &str, aggregate: &str, event: &StoredEvent<Value>) -> usize {
    let mut size = "aggregateId".len() + key.len();
    size += "version".len() + number_size(event.version as f64);
    size += "type".len() + event.name.len();
    size += "timestamp".len() + event.timestamp.len();
    if let Some(p) = &event.payload {
        size += "payload".len() + value_size(p);
    }
    if let Some(m) = &event.metadata {
        size += "metadata".len() + value_size(m);
    }
    if event.version == 1 {
        size += "eventStoreId".len() + aggregate.len();
    }
    if event.schema != 1 {
        size += "schema".len() + number_size(f64::from(event.schema));
    }
    if let Some(s) = &event.snapshot {
        size += snapshot_size(s);
    }
    size
}

/// What an inline snapshot adds to its item.
fn snapshot_size(snapshot: &StoredSnapshot<Value>) -> usize {
    "snapshot".len()
        + value_size(&snapshot.state)
        + "snapshotSchema".len()
        + number_size(f64::from(snapshot.schema))
}

fn command_size(command: &CommandRecord) -> usize {
    let outcome: usize = command
        .outcome
        .iter()
        .map(|(a, i, _)| a.len() + i.len() + 12)
        .sum();
    "aggregateId".len()
        + command.key.len()
        + 10
        + "version".len()
        + 1
        + "outcome".len()
        + outcome
        + "expiresAt".len()
        + 6
}

// DynamoDB's sizing rules: strings by UTF-8 length, numbers by about one byte
// per two significant digits plus one, containers 3 bytes plus 1 per element.
fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(n) => number_size(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.len(),
        Value::Array(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::Object(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
    }
}

fn number_size(n: f64) -> usize {
    let digits = format!("{}", n.abs())
        .chars()
        .filter(char::is_ascii_digit)
        .count();
    digits.div_ceil(2) + 1
}
