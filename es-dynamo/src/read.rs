//! Reads: pages of events, pages of ids, command records, and the latest
//! version after a conflict. Every key goes in as an expression attribute
//! value, never spliced into an expression, so any id is safe.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity};
use es_core::store::capacity;
use es_core::store::{check_id, check_idempotency_key, check_name};
use es_core::store::{
    CommandRecord, Cursor, Direction, Page, ReadRequest, Record as _, StoredEvent,
};
use es_core::{Error, EventStore};
use tracing::Instrument;

use crate::errors::store_error;
use crate::item::{self, Item, Whose};
use crate::layout::attributes::*;
use crate::layout::{command_key, COMMAND_KEY_PREFIX, COMMAND_VERSION};
use crate::size::item_size;
use crate::{cursor, trace, DynamoStore};

impl DynamoStore {
    /// One consistent Query of an aggregate's events after `request.after`.
    pub(crate) async fn read_events(
        &self,
        request: ReadRequest<'_>,
    ) -> Result<Page<StoredEvent<AttributeValue>>, Error> {
        check_name(request.aggregate)?;
        check_id(request.aggregate, request.id)?;
        let key = self.layout().key(request.aggregate, request.id);
        let whose = Whose::new(request.aggregate, request.id);
        // The read starts after both `after` and the cursor. Callers page
        // with `after` fixed and the cursor moving on (`Root::hydrate` keeps
        // `after` at the version it started from), so going forward a cursor
        // this store handed out is above `after`. A cursor is only checked
        // for its shape, though, so it may come back at or below `after`,
        // and DynamoDB refuses an ExclusiveStartKey outside the key
        // condition: such a cursor is dropped going forward (the condition
        // alone starts after `after`), and ends the read going backward
        // (nothing is left between it and `after`).
        // With `until`, the same holds at the other end: a cursor at or above
        // it ends the read going forward, and one above it is dropped going
        // backward (the condition alone ends at `until`).
        let nothing = Page {
            items: Vec::new(),
            next: None,
        };
        let until = request.until;
        if until.is_some_and(|until| until <= request.after) {
            return Ok(nothing);
        }
        let start = match &request.cursor {
            None => None,
            Some(c) => {
                let version = cursor::to_version(c)?;
                match request.direction {
                    Direction::Forward if version <= request.after => None,
                    Direction::Forward if until.is_some_and(|until| version >= until) => {
                        return Ok(nothing);
                    }
                    Direction::Backward if version <= request.after.saturating_add(1) => {
                        return Ok(nothing);
                    }
                    Direction::Backward if until.is_some_and(|until| version > until) => None,
                    _ => Some(item::primary_key(&key, &version.to_string())),
                }
            }
        };
        // A read of the whole history asks for the whole partition, so that
        // an item at version 0 or below (which no event has) comes back and
        // fails the load as corrupt rather than being skipped. The exception
        // is a partition that is also a command record's: in the
        // table-per-aggregate layout an aggregate whose id starts with
        // `$command#` shares its key with the record of that idempotency
        // key, which sits at version 0 and is no event of the aggregate.
        let whole = request.after == 0 && !key.starts_with(COMMAND_KEY_PREFIX);
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .expression_attribute_names("#k", AGGREGATE_ID)
            .expression_attribute_values(":k", AttributeValue::S(key.clone()));
        // DynamoDB takes one condition on the sort key: with both ends it is
        // BETWEEN, inclusive, so the lower end is `after + 1` (no overflow:
        // `after < until` here). Up to `until` from the start, the condition
        // still takes in any item at version 0 or below.
        let number = |v: u64| AttributeValue::N(v.to_string());
        let query = match (whole, until) {
            (true, None) => query.key_condition_expression("#k = :k"),
            (true, Some(until)) => query
                .key_condition_expression("#k = :k AND #v <= :until")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":until", number(until)),
            (false, None) => query
                .key_condition_expression("#k = :k AND #v > :after")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":after", number(request.after)),
            (false, Some(until)) => query
                .key_condition_expression("#k = :k AND #v BETWEEN :from AND :until")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":from", number(request.after + 1))
                .expression_attribute_values(":until", number(until)),
        };
        let span = trace::request(self.table(), "Query", request.aggregate, request.id);
        let sent = query
            .consistent_read(true)
            .scan_index_forward(request.direction == Direction::Forward)
            .set_limit(request.limit.map(page_limit))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(self.capacity_request())
            .send()
            .instrument(span.clone())
            .await;
        let output = sent.map_err(|e| self.failed_read(&span, "Query", e))?;
        let items = output.items.unwrap_or_default();
        let units = units_of(output.consumed_capacity.as_ref())
            .unwrap_or_else(|| capacity::consistent_read(items.iter().map(item_size).sum()));
        self.stats().record_read(items.len() as u64, units);
        trace::done(&span, "ok", items.len() as u64, units);
        // Items first: a page that ends on a corrupt item names it by its
        // own attributes rather than by the key it ended on.
        let events = items
            .into_iter()
            .map(|item| item::decode_event(whose, item))
            .collect::<Result<Vec<_>, _>>()?;
        let next = match &output.last_evaluated_key {
            Some(last) => Some(cursor::from_version(item::version_of(whose, last)?)),
            None => None,
        };
        Ok(Page {
            items: events,
            next,
        })
    }

    /// One Query of the `initialEvents` index: ids, oldest first.
    pub(crate) async fn read_ids(
        &self,
        aggregate: &'static str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> Result<Page<String>, Error> {
        check_name(aggregate)?;
        let (hash, _, hash_value) = self.layout().initial_marker(aggregate);
        let start = match &cursor {
            None => None,
            Some(c) => {
                let (timestamp, id) = cursor::to_initial(c)?;
                let mut key = item::primary_key(&self.layout().key(aggregate, &id), "1");
                key.insert(hash.to_owned(), hash_value.clone());
                key.insert(TIMESTAMP.to_owned(), AttributeValue::S(timestamp));
                Some(key)
            }
        };
        let span = trace::request(self.table(), "Query", aggregate, "");
        let sent = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(INITIAL_EVENTS_INDEX)
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", hash)
            .expression_attribute_values(":h", hash_value)
            .set_limit(limit.map(page_limit))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(self.capacity_request())
            .send()
            .instrument(span.clone())
            .await;
        let output = sent.map_err(|e| self.failed_read(&span, "Query", e))?;
        let items = output.items.unwrap_or_default();
        // Index reads are eventually consistent: half a unit per 4 KB.
        let units = units_of(output.consumed_capacity.as_ref())
            .unwrap_or_else(|| capacity::consistent_read(items.iter().map(item_size).sum()) / 2.0);
        self.stats().record_read(items.len() as u64, units);
        trace::done(&span, "ok", items.len() as u64, units);
        let ids = items
            .iter()
            .map(|item| self.id_in(aggregate, item))
            .collect::<Result<Vec<_>, _>>()?;
        let next = match &output.last_evaluated_key {
            None => None,
            Some(last) => {
                let id = self.id_in(aggregate, last)?;
                let Some(AttributeValue::S(timestamp)) = last.get(TIMESTAMP) else {
                    return Err(item::corrupt(
                        Whose::new(aggregate, &id),
                        1,
                        "the index key has no `timestamp` (S)".into(),
                    ));
                };
                Some(cursor::from_initial(timestamp, &id))
            }
        };
        Ok(Page { items: ids, next })
    }

    /// The id of an index item of `aggregate`.
    fn id_in(&self, aggregate: &str, item: &Item) -> Result<String, Error> {
        match item.get(AGGREGATE_ID) {
            Some(AttributeValue::S(key)) => match self.layout().id_of(aggregate, key) {
                Some(id) if !id.is_empty() => Ok(id.to_owned()),
                _ => Err(item::corrupt(
                    Whose::new("", key),
                    1,
                    format!(
                        "the key is in the {aggregate} index but not of the form {aggregate}#id"
                    ),
                )),
            },
            _ => Err(item::corrupt(
                Whose::new(aggregate, ""),
                1,
                "an `initialEvents` index item has no `aggregateId` (S)".into(),
            )),
        }
    }

    /// The command record of idempotency key `key`, expired or not: one
    /// consistent GetItem.
    pub(crate) async fn command_record(&self, key: &str) -> Result<Option<CommandRecord>, Error> {
        check_idempotency_key(key)?;
        let stored = command_key(key);
        let table = self.commands_table();
        let span = trace::request(table, "GetItem", "$command", key);
        let sent = self
            .client()
            .get_item()
            .table_name(table)
            .set_key(Some(item::primary_key(&stored, COMMAND_VERSION)))
            .consistent_read(true)
            .return_consumed_capacity(self.capacity_request())
            .send()
            .instrument(span.clone())
            .await;
        let output = sent.map_err(|e| self.failed_read_on(table, &span, "GetItem", e))?;
        let size = output.item.as_ref().map_or(0, item_size);
        let units = units_of(output.consumed_capacity.as_ref())
            .unwrap_or_else(|| capacity::consistent_read(size));
        let found = u64::from(output.item.is_some());
        self.stats().record_read(found, units);
        trace::done(&span, "ok", found, units);
        output
            .item
            .map(|item| item::decode_command(key, item))
            .transpose()
    }

    /// The latest version of an aggregate: one consistent Query of one item,
    /// newest first, projecting only the version.
    pub(crate) async fn latest_version(
        &self,
        aggregate: &'static str,
        id: &str,
    ) -> Result<u64, Error> {
        let key = self.layout().key(aggregate, id);
        let span = trace::request(self.table(), "Query", aggregate, id);
        let sent = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#k = :k AND #v > :zero")
            .expression_attribute_names("#k", AGGREGATE_ID)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":k", AttributeValue::S(key))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            // The whole item, though only its version is used: DynamoDB
            // bills the whole item's size anyway, and its size is what the
            // capacity is computed from.
            .consistent_read(true)
            .scan_index_forward(false)
            .limit(1)
            .return_consumed_capacity(self.capacity_request())
            .send()
            .instrument(span.clone())
            .await;
        let output = sent.map_err(|e| self.failed_read(&span, "Query", e))?;
        let items = output.items.unwrap_or_default();
        let units = units_of(output.consumed_capacity.as_ref())
            .unwrap_or_else(|| capacity::consistent_read(items.iter().map(item_size).sum()));
        self.stats().record_read(items.len() as u64, units);
        trace::done(&span, "ok", items.len() as u64, units);
        match items.first() {
            Some(latest) => item::version_of(Whose::new(aggregate, id), latest),
            None => Ok(0),
        }
    }

    /// Counts a read of the events table that failed, and classifies its
    /// error.
    fn failed_read<E>(
        &self,
        span: &tracing::Span,
        operation: &'static str,
        err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> Error
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        self.failed_read_on(self.table(), span, operation, err)
    }

    /// Counts a read of `table` that failed, and classifies its error,
    /// naming `table`: the events table, or the commands table.
    fn failed_read_on<E>(
        &self,
        table: &str,
        span: &tracing::Span,
        operation: &'static str,
        err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> Error
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        if !matches!(err, SdkError::ConstructionFailure(_)) {
            self.stats().record_read(0, 0.0);
        }
        trace::done(span, "error", 0, 0.0);
        store_error(operation, table, err).into()
    }
}

/// The capacity DynamoDB reported, when it did.
pub(crate) fn units_of(consumed: Option<&ConsumedCapacity>) -> Option<f64> {
    consumed.and_then(ConsumedCapacity::capacity_units)
}

/// DynamoDB's `Limit` is a positive i32.
fn page_limit(limit: usize) -> i32 {
    i32::try_from(limit.max(1)).unwrap_or(i32::MAX)
}
