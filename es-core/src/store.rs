//! For store implementers: the [`EventStore`] trait and everything a
//! backend needs to implement it the way every other store does.
//!
//! Users of es rarely need this module: they name [`EventStore`] in bounds
//! (it is also at the crate's top), and meet [`Cursor`] and [`Page`] when
//! they page through ids or views. What is here is the contract a store
//! author programs against:
//!
//! - the records a store moves: [`StoredEvent`], [`StoredSnapshot`],
//!   [`Append`], [`Commit`] (with [`Commit::check`] and
//!   [`Commit::exact_conflict`]), [`Committed`], [`CommandRecord`],
//!   [`ReadRequest`], [`Direction`], [`Page`] and [`Cursor`];
//! - the limits every store applies, in the same words: [`check_write`],
//!   [`check_id`], [`check_name`], [`check_idempotency_key`],
//!   [`snapshots_to_leave_out`] and [`warn_snapshot_left_out`], with the
//!   constants they use ([`MAX_ITEM_BYTES`], [`PAGE_BYTES`], …) and the key
//!   layout [`stream_key`];
//! - the clock in castore's format: [`now`], [`now_secs`], [`format_millis`];
//! - the costs: the [`capacity`] formulas and [`Record`], the recording side
//!   of [`Stats`], which users can only read;
//! - decoding as every store does it: [`decode_json`], [`decode_event`] and
//!   [`below_first_version`];
//! - [`Writers`], the command queues a store keeps beside its shared state.
//!
//! The trait is shaped after DynamoDB: appends are conditional on an expected
//! version, reads are consistent and come in pages, and one commit may write to
//! several aggregates atomically. Stores move raw, already-encoded records;
//! decoding, validation and replay live in es-core, so every store behaves
//! alike; the conformance suite (`es_core::conformance`, feature
//! `conformance`) checks that a store does.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeSeed;
use serde::Serialize;

use crate::error::{Error, StoreError};
use crate::stats::Stats;

// Public on purpose: a service checks ids and keys before any I/O.
pub use crate::limits::{
    check_id, check_idempotency_key, MAX_IDEMPOTENCY_KEY_BYTES, MAX_ID_BYTES, MAX_ITEM_BYTES,
    MAX_TRANSACTION_BYTES, MAX_TRANSACTION_ITEMS, PAGE_BYTES,
};
pub use crate::stats::capacity;
pub use crate::writers::Writers;
// For es's own stores and macros, not a public API: hidden, and free to
// change in any release.
#[doc(hidden)]
pub use crate::limits::{
    check_name, check_write, snapshots_to_leave_out, stream_key, warn_snapshot_left_out,
};
#[doc(hidden)]
pub use crate::stats::Record;
#[doc(hidden)]
pub use crate::time::{format_millis, now, now_secs};

/// An opaque position in a paged read. Pass it back to continue where a page
/// ended. It is safe to hand to clients.
///
/// Its text means nothing to users: they may hand it to a client with
/// [`Cursor::into_string`] and rebuild it from what the client sends back
/// with [`Cursor::new`]. A store makes one from its own text with
/// [`Cursor::new`] and reads it with [`Cursor::as_str`]; since a cursor may
/// come back from a client, the store validates it then, and refuses one it
/// did not make.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor holding a store's position, in the store's own text.
    pub fn new(position: impl Into<String>) -> Self {
        Cursor(position.into())
    }

    /// The store's text, to be validated before use.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The store's text, owned: to hand to a client, such as in a URL.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Why a value could not be encoded in a store's form, or a payload could
/// not be decoded into its type: what [`EventStore::encode`],
/// [`EventStore::decode`] and [`Codec::decode_payload`](crate::Codec::decode_payload)
/// return. Every store gives the same path and message for the same
/// payload ([`decode_json`] does it for them), so that a caller can read
/// which field failed without parsing the text.
///
/// It reads ``field `items[0].quantity`: invalid type: string "one",
/// expected u32`` when a field failed, and the message alone when the value
/// itself did.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", FieldOf(.path.as_deref()))]
#[non_exhaustive]
pub struct CodecError {
    /// The path of the field that failed, as in `items[0].quantity`;
    /// `None` when the value itself failed or the store cannot tell.
    pub path: Option<String>,
    /// What was found and what was expected, or why the value cannot be
    /// encoded.
    pub message: String,
}

impl CodecError {
    /// A failure of the value as a whole.
    pub fn new(message: impl std::fmt::Display) -> Self {
        CodecError {
            path: None,
            message: message.to_string(),
        }
    }

    /// A failure of the field at `path`, as in `items[0].quantity`.
    pub fn at(path: impl Into<String>, message: impl std::fmt::Display) -> Self {
        CodecError {
            path: Some(path.into()),
            message: message.to_string(),
        }
    }
}

/// The ``field `…`: `` a [`CodecError`] of a field starts with.
struct FieldOf<'a>(Option<&'a str>);

impl std::fmt::Display for FieldOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(path) => write!(f, "field `{path}`: "),
            None => Ok(()),
        }
    }
}

/// One page of a read.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, in the order asked for.
    pub items: Vec<T>,
    /// Where the next page starts, or `None` after the last page.
    pub next: Option<Cursor>,
}

/// Which way a read walks an aggregate's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first, used to find the latest snapshot.
    Backward,
}

/// One paged read of an aggregate's events.
#[derive(Clone, Debug)]
pub struct ReadRequest<'a> {
    /// The aggregate's name.
    pub aggregate: &'static str,
    /// The aggregate's id.
    pub id: &'a str,
    /// Only events with a version above this one.
    pub after: u64,
    /// Only events at or below this version, when set: a load as of a
    /// version reads newest first from it. `None` reads to the newest event.
    pub until: Option<u64>,
    /// Oldest or newest first.
    pub direction: Direction,
    /// The most items to return in this page; the store may return fewer, as
    /// DynamoDB does at 1 MB.
    pub limit: Option<usize>,
    /// Where the previous page of this same request ended (same aggregate,
    /// id, `after`, `until` and direction).
    pub cursor: Option<Cursor>,
}

/// A snapshot stored inline on an event: the state after that event.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSnapshot<P> {
    /// The aggregate's [`SNAPSHOT_SCHEMA`](crate::Aggregate::SNAPSHOT_SCHEMA) when written.
    pub schema: u32,
    /// The encoded state.
    pub state: P,
}

/// An event as a store holds it, still encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent<P> {
    /// Its version.
    pub version: u64,
    /// The event name, the `type` attribute.
    pub name: String,
    /// The payload's schema version; 1 when the item has none.
    pub schema: u32,
    /// The commit time, ISO 8601 UTC.
    pub timestamp: String,
    /// The encoded payload; `None` when the event has no fields.
    pub payload: Option<P>,
    /// The encoded [`Metadata`](crate::Metadata), when there is any.
    pub metadata: Option<P>,
    /// An inline snapshot, on every Nth version.
    pub snapshot: Option<StoredSnapshot<P>>,
}

/// The events one commit appends to one aggregate.
#[derive(Clone, Debug)]
pub struct Append<P> {
    /// The aggregate's name.
    pub aggregate: &'static str,
    /// The aggregate's id.
    pub id: String,
    /// The version the aggregate must be at; the events take the versions after it.
    pub expected: u64,
    /// The events, versions `expected + 1 ..`.
    pub events: Vec<StoredEvent<P>>,
}

/// A record that a command ran, stored atomically with its events, so that a
/// second delivery of the same command writes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    /// The caller's idempotency key.
    pub key: String,
    /// What the command wrote: aggregate, id and the last version written.
    pub outcome: Vec<(String, String, u64)>,
    /// When the record may be deleted, as seconds since the Unix epoch (the
    /// DynamoDB TTL attribute).
    pub expires_at: u64,
}

/// One atomic write: appends to one or more aggregates, and optionally the
/// record of the command that produced them.
#[derive(Clone, Debug)]
pub struct Commit<P> {
    /// The appends, at most one per aggregate.
    pub appends: Vec<Append<P>>,
    /// Written in the same transaction when the command carries an idempotency key.
    pub command: Option<CommandRecord>,
    /// Whether a [`Conflict`](crate::Error::Conflict) must carry the exact
    /// version the store holds now. When `false`, a store may report
    /// `expected + 1`, the least it can be, and save a read: DynamoDB's failed
    /// condition says only that the next version exists, so the exact one
    /// costs a Query. `execute` passes `false` on the attempts it will retry,
    /// because its catch-up read finds the version anyway.
    ///
    /// Part of the store contract: a store must honour `true`, and may
    /// ignore `false` (reporting the exact version is always correct).
    pub exact_conflict: bool,
}

impl<P> Commit<P> {
    /// Checks what every store must refuse before it writes anything: bad
    /// names and ids, an aggregate appended to twice, events not numbered
    /// `expected + 1, expected + 2, …` (none can follow `u64::MAX`), and a bad
    /// idempotency key. Size limits depend on the store's encoding, so each
    /// store checks those itself.
    pub fn check(&self) -> Result<(), Error> {
        let mut seen = std::collections::HashSet::new();
        for append in &self.appends {
            check_name(append.aggregate)?;
            check_id(append.aggregate, &append.id)?;
            let refuse = |message: String| {
                Err(StoreError::permanent(
                    "commit",
                    format!("{} {:?}: {message}", append.aggregate, append.id),
                )
                .into())
            };
            if !seen.insert(stream_key(append.aggregate, &append.id)) {
                return refuse(
                    "appears twice in one commit; a commit appends to each aggregate once".into(),
                );
            }
            for (n, event) in append.events.iter().enumerate() {
                // `expected` comes from the caller: wrapping round would
                // write version 0 or 1.
                let Some(version) = next_version(append.expected, n) else {
                    return refuse(format!(
                        "event {n} would have a version past u64::MAX (the append expects version {})",
                        append.expected
                    ));
                };
                if event.version != version {
                    return refuse(format!(
                        "event {n} has version {}, not {version}",
                        event.version
                    ));
                }
            }
        }
        match &self.command {
            Some(command) => check_idempotency_key(&command.key),
            None => Ok(()),
        }
    }
}

/// The version of event `n` (0-based) of an append after `expected`, or
/// `None` past `u64::MAX`.
fn next_version(expected: u64, n: usize) -> Option<u64> {
    expected.checked_add(1)?.checked_add(u64::try_from(n).ok()?)
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// The events were written.
    Written,
    /// A command with the same idempotency key already ran; nothing was written.
    Duplicate(CommandRecord),
}

/// A backend that stores events: [`MemoryStore`](crate::MemoryStore), or
/// `es::dynamo::DynamoStore`.
///
/// Stores are cheap handles (clone them freely) and must be safe to share
/// between tasks. Every store passes the conformance suite
/// (`es_core::conformance`, behind the `conformance` feature).
pub trait EventStore: Clone + Send + Sync + 'static {
    /// The store's native encoding of a payload: a JSON value in memory, a
    /// DynamoDB map in DynamoDB.
    type Payload: Clone + Debug + Send + Sync + 'static;

    /// Encodes a value in the store's native form.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Self::Payload, CodecError>;

    /// Decodes a payload with a seed (for events, the seed knows the event name).
    ///
    /// A payload that does not fit its type fails with the path of the
    /// field and the words [`decode_json`] gives, on every store.
    fn decode<T, V>(&self, seed: T, payload: Self::Payload) -> Result<V, CodecError>
    where
        T: for<'de> DeserializeSeed<'de, Value = V>;

    /// Reads one page of an aggregate's events. Reads are strongly consistent:
    /// a read that starts after a commit returned sees that commit.
    fn read(
        &self,
        request: ReadRequest<'_>,
    ) -> impl Future<Output = Result<Page<StoredEvent<Self::Payload>>, Error>> + Send;

    /// Writes a commit atomically: every append lands at its expected version,
    /// or nothing is written and the first stale append is reported as
    /// [`Error::Conflict`]. Size and id limits are checked before anything is sent.
    ///
    /// An `expected` version above the aggregate's real one is a caller bug:
    /// DynamoDB can only check that the new versions are free, so it would
    /// leave a gap (which later loads report as [`Error::Corrupt`]). [`Root`](crate::Root)
    /// and [`Transaction`](crate::Transaction) only ever use versions they read.
    fn commit(
        &self,
        commit: Commit<Self::Payload>,
    ) -> impl Future<Output = Result<Committed, Error>> + Send;

    /// One page of the ids of an aggregate type, oldest first by creation
    /// time, with at most `limit` ids (the store may return fewer).
    fn list_ids(
        &self,
        aggregate: &'static str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> impl Future<Output = Result<Page<String>, Error>> + Send;

    /// The record of a command that ran with this idempotency key, if any.
    fn command(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<CommandRecord>, Error>> + Send;

    /// The store's request and capacity counters.
    fn stats(&self) -> &Stats;

    /// The command queues, and the cache when there is one, that this
    /// store's clones share: commands on one aggregate through them take
    /// turns instead of conflicting. A store keeps one [`Writers`] beside
    /// its shared state, and a second instance of the store on the same
    /// data (another process, in effect) keeps its own.
    fn writers(&self) -> &Arc<Writers>;

    /// The keys of data subjects, which seal and open events' personal
    /// fields (see [`erasure`](crate::erasure)); `None` when the store has
    /// none, and then a commit of personal data fails, saying so.
    fn vault(&self) -> Option<&crate::erasure::Vault> {
        None
    }
}

pub use crate::codec::decode_event;
pub use crate::erasure::open_stored;

/// Decodes a JSON value with a seed, as [`MemoryStore`](crate::MemoryStore)
/// does and `DynamoStore` does after turning an attribute value into JSON, so
/// that a payload that does not fit its type fails in the same words on
/// every store: the path of the field, then what was found and what was
/// expected, as in ``field `items[0].quantity`: invalid type: string "one",
/// expected u32``. For es's own stores; not a public API.
#[doc(hidden)]
pub fn decode_json<T, V>(seed: T, value: serde_json::Value) -> Result<V, CodecError>
where
    T: for<'de> DeserializeSeed<'de, Value = V>,
{
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(value, &mut track);
    seed.deserialize(deserializer).map_err(|e| {
        let path = track.path().to_string();
        // The path of the value itself is `.`: nothing to name.
        if path == "." {
            CodecError::new(e)
        } else {
            CodecError::at(path, e)
        }
    })
}

/// Why an item at `version`, 0 or below, in an aggregate's partition is no
/// event: every store reports it as [`Error::Corrupt`] in these words. Such
/// an item is never skipped, because skipping it could load a state no
/// replay of the real history gives. For es's own stores; not a public API.
#[doc(hidden)]
pub fn below_first_version(version: impl std::fmt::Display) -> String {
    format!("version {version} is below 1: an aggregate's events start at version 1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_past_u64_max_do_not_exist() {
        assert_eq!(next_version(0, 0), Some(1));
        assert_eq!(next_version(7, 2), Some(10));
        assert_eq!(next_version(u64::MAX - 2, 1), Some(u64::MAX));
        assert_eq!(next_version(u64::MAX - 1, 1), None);
        assert_eq!(next_version(u64::MAX, 0), None);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(next_version(0, usize::MAX), None);
    }
}
