//! Where things go in the table: attribute names, keys, and the two layouts.

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};

/// The attribute names of the table, castore's and es's own.
///
/// They are public so that infrastructure code and tools reading the table
/// (stream consumers, migrations) can use the same names as the store.
pub mod attributes {
    /// The partition key (S): `"{Aggregate::NAME}#{id}"`, or the bare id in
    /// [`Layout::TablePerAggregate`](crate::Layout::TablePerAggregate).
    pub const AGGREGATE_ID: &str = "aggregateId";
    /// The sort key (N): the event's version, 1-based. Command records use 0.
    pub const VERSION: &str = "version";
    /// The event name (S).
    pub const TYPE: &str = "type";
    /// The commit time (S), ISO 8601 UTC with milliseconds.
    pub const TIMESTAMP: &str = "timestamp";
    /// The event's fields (M), absent when it has none.
    pub const PAYLOAD: &str = "payload";
    /// The event's metadata (M), absent when empty.
    pub const METADATA: &str = "metadata";
    /// The aggregate name (S), on version 1 only: the HASH key of the sparse
    /// `initialEvents` index in the single-table layout.
    pub const EVENT_STORE_ID: &str = "eventStoreId";
    /// `1` (N) on version 1 only: the HASH key of the `initialEvents` index in
    /// castore's older table-per-event-store layout.
    pub const IS_INITIAL_EVENT: &str = "isInitialEvent";
    /// es only: the payload's schema version (N), absent when 1.
    pub const SCHEMA: &str = "schema";
    /// es only: the state after this event (M), on every Nth version.
    pub const SNAPSHOT: &str = "snapshot";
    /// es only: the aggregate's snapshot schema version (N), beside `snapshot`.
    pub const SNAPSHOT_SCHEMA: &str = "snapshotSchema";
    /// es only, on command records: what the command wrote (L of M).
    pub const OUTCOME: &str = "outcome";
    /// es only, on command records: when the record may be deleted, in
    /// seconds since the Unix epoch (N). The table's TTL attribute.
    pub const EXPIRES_AT: &str = "expiresAt";
    /// The sparse global secondary index of initial events, used to list ids.
    pub const INITIAL_EVENTS_INDEX: &str = "initialEvents";
}

use attributes::*;

/// How aggregates map onto the table. Both layouts are castore's.
///
/// ```
/// use es::dynamo::Layout;
/// assert_eq!(Layout::default(), Layout::SingleTable);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// castore's `DynamoDBSingleTableEventStorageAdapter`: every aggregate
    /// type in one table, keyed `"{Aggregate::NAME}#{id}"`, with the
    /// `initialEvents` index on `eventStoreId` (S) and `timestamp` (S).
    #[default]
    SingleTable,
    /// castore's older, deprecated `DynamoDBEventStorageAdapter`: one table
    /// per aggregate type, keyed by the bare id, with the `initialEvents`
    /// index on `isInitialEvent` (N, 1 on version 1) and `timestamp` (S).
    /// Use one store, on its own table, for each aggregate type.
    ///
    /// The conformance suite runs on this layout too, and every check holds
    /// but one, for a reason inherent to the layout rather than to es: an
    /// item names no aggregate type (no `Name#` prefix, no `eventStoreId`),
    /// and the index is keyed on `isInitialEvent` alone. So on a table that
    /// holds more than one aggregate type:
    ///
    /// - `list_ids` of any type lists the ids of every aggregate in the
    ///   table, since nothing in the index tells the types apart (the check
    ///   `list_ids_pages_through_every_id` asserts the opposite, and is the
    ///   one skipped), and `find_all` then loads each as that type, failing
    ///   on the first event of another;
    /// - two aggregates of different types with the same id share one key,
    ///   so one history: each one's commits conflict with the other's, and a
    ///   load meets the other type's events;
    /// - a single commit to both is refused, as an aggregate appearing twice.
    ///
    /// castore never mixes types in such a table (one table per event store),
    /// and neither should es. What does hold here as in the single-table
    /// layout: paging, conditional and transactional commits, snapshots, odd
    /// ids, limits, cursors, and command records (stored under
    /// `$command#{key}` at version 0, below every event, and never in the
    /// index).
    TablePerAggregate,
}

impl Layout {
    /// The partition key of an aggregate's events.
    pub(crate) fn key(self, aggregate: &str, id: &str) -> String {
        match self {
            Layout::SingleTable => es_core::store::stream_key(aggregate, id),
            Layout::TablePerAggregate => id.to_owned(),
        }
    }

    /// The id in a partition key read back from the index, or `None` when the
    /// key does not belong to `aggregate`.
    pub(crate) fn id_of<'k>(self, aggregate: &str, key: &'k str) -> Option<&'k str> {
        match self {
            Layout::SingleTable => key
                .strip_prefix(aggregate)
                .and_then(|rest| rest.strip_prefix('#')),
            Layout::TablePerAggregate => Some(key),
        }
    }

    /// The HASH attribute of the `initialEvents` index, its type, and the
    /// value it has on the initial events of `aggregate`.
    pub(crate) fn initial_marker(
        self,
        aggregate: &str,
    ) -> (&'static str, ScalarAttributeType, AttributeValue) {
        match self {
            Layout::SingleTable => (
                EVENT_STORE_ID,
                ScalarAttributeType::S,
                AttributeValue::S(aggregate.to_owned()),
            ),
            Layout::TablePerAggregate => (
                IS_INITIAL_EVENT,
                ScalarAttributeType::N,
                AttributeValue::N("1".to_owned()),
            ),
        }
    }
}

/// The partition key of a command record. Aggregate names cannot start with
/// `$`, so in the single-table layout it never collides with an aggregate; in
/// both layouts it sits at version 0, below every event version.
pub(crate) fn command_key(key: &str) -> String {
    format!("{COMMAND_KEY_PREFIX}{key}")
}

/// The start of every command record's partition key.
pub(crate) const COMMAND_KEY_PREFIX: &str = "$command#";

/// The version command records are stored at.
pub(crate) const COMMAND_VERSION: &str = "0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_table_keys_are_prefixed_with_the_aggregate_name() {
        let layout = Layout::SingleTable;
        assert_eq!(layout.key("Product", "a#b"), "Product#a#b");
        assert_eq!(layout.id_of("Product", "Product#a#b"), Some("a#b"));
        assert_eq!(layout.id_of("Product", "Productx#a"), None);
        assert_eq!(layout.id_of("Product", "Cart#a"), None);
    }

    #[test]
    fn table_per_aggregate_keys_are_bare_ids() {
        let layout = Layout::TablePerAggregate;
        assert_eq!(layout.key("Product", "a#b"), "a#b");
        assert_eq!(layout.id_of("Product", "a#b"), Some("a#b"));
        let (name, _, value) = layout.initial_marker("Product");
        assert_eq!(
            (name, value),
            ("isInitialEvent", AttributeValue::N("1".into()))
        );
    }
}
