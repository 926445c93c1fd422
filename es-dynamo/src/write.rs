//! Commits: one conditional PutItem for a single event, one TransactWriteItems
//! for anything larger. Everything is validated before anything is sent.

use std::collections::HashSet;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use es_core::store::capacity;
use es_core::store::{check_write, snapshots_to_leave_out, warn_snapshot_left_out};
use es_core::store::{CommandRecord, Commit, Committed, Record as _};
use es_core::{Error, EventStore, StoreError};
use tracing::Instrument;

use crate::errors::{write_error, Attempts, TRANSIENT_REASONS};
use crate::item::{self, Item};
use crate::layout::attributes::*;
use crate::read::units_of;
use crate::size::{index_entry_size, item_size};
use crate::{trace, DynamoStore};

/// One event item, ready to send.
struct EventPut {
    item: Item,
    size: usize,
    /// The write units of its `initialEvents` index entry (version 1 only).
    index_units: f64,
    aggregate: &'static str,
    id: String,
    expected: u64,
    /// The event's version, for the log.
    version: u64,
}

/// A command record item, ready to send.
struct CommandPut {
    key: String,
    item: Item,
    size: usize,
}

/// A validated commit.
struct Plan {
    events: Vec<EventPut>,
    command: Option<CommandPut>,
    /// Whether a conflict looks up the version the store holds now.
    exact_conflict: bool,
}

impl DynamoStore {
    /// Writes a commit: validates it whole, then sends one request.
    pub(crate) async fn write(&self, commit: Commit<AttributeValue>) -> Result<Committed, Error> {
        let plan = self.plan(commit)?;
        if let Some(first) = plan.events.first() {
            let aggregates: HashSet<(&str, &str)> = plan
                .events
                .iter()
                .map(|e| (e.aggregate, e.id.as_str()))
                .collect();
            self.may_write(&crate::regions::Needs {
                aggregate: first.aggregate,
                id: &first.id,
                first: first.expected.saturating_add(1),
                last: plan
                    .events
                    .iter()
                    .filter(|e| e.aggregate == first.aggregate && e.id == first.id)
                    .map(|e| e.version)
                    .max()
                    .unwrap_or(first.version),
                events: plan.events.len(),
                aggregates: aggregates.len(),
                command: plan.command.is_some(),
            })?;
        }
        match (plan.events.len(), &plan.command) {
            (0, _) => Ok(Committed::Written),
            (1, None) => self.put_one(plan.events, plan.exact_conflict).await,
            _ => self.transact(plan).await,
        }
    }

    /// Builds every item and checks every limit, so that a commit that would
    /// fail half way is refused before anything is sent.
    fn plan(&self, commit: Commit<AttributeValue>) -> Result<Plan, Error> {
        let layout = self.layout();
        let mut seen = HashSet::new();
        let mut events = Vec::new();
        let mut first = None;
        commit.check()?;
        for append in commit.appends {
            let key = layout.key(append.aggregate, &append.id);
            // DynamoDB refuses two operations on one item in a transaction.
            // `check` refuses one aggregate twice; in the legacy layout, ids
            // are unprefixed, so two aggregate types can share an item too.
            if !seen.insert(key.clone()) {
                return Err(invalid(format!(
                    "{key:?} appears twice in one commit; a commit appends to each aggregate once"
                )));
            }
            first.get_or_insert((append.aggregate, append.id.clone()));
            for event in append.events {
                let version = event.version;
                let item = item::event_item(layout, append.aggregate, &key, event);
                let size = item_size(&item);
                let (marker, _, _) = layout.initial_marker(append.aggregate);
                let index_units = if item.contains_key(marker) {
                    capacity::write(index_entry_size(&item, marker))
                } else {
                    0.0
                };
                events.push(EventPut {
                    item,
                    size,
                    index_units,
                    aggregate: append.aggregate,
                    id: append.id.clone(),
                    expected: append.expected,
                    version,
                });
            }
        }
        let command = match commit.command {
            None => None,
            Some(record) => Some(command_put(&record)?),
        };
        // A snapshot never makes a commit fail: those that do not fit are
        // left out, by the rule MemoryStore applies too.
        let fits: Vec<(usize, Option<usize>)> = events
            .iter()
            .map(|e| (e.size, item::snapshot_bytes(&e.item).map(|b| e.size - b)))
            .chain(command.iter().map(|c| (c.size, None)))
            .collect();
        for n in snapshots_to_leave_out(&fits) {
            if let Some(event) = events.get_mut(n) {
                event.item.remove(SNAPSHOT);
                event.item.remove(SNAPSHOT_SCHEMA);
                event.size = item_size(&event.item);
                warn_snapshot_left_out(event.aggregate, &event.id, event.version, event.size);
            }
        }
        for event in &events {
            check_write(event.aggregate, &event.id, &[event.size])?;
        }
        if let Some((aggregate, id)) = first {
            let sizes: Vec<usize> = events
                .iter()
                .map(|e| e.size)
                .chain(command.iter().map(|c| c.size))
                .collect();
            check_write(aggregate, &id, &sizes)?;
        }
        Ok(Plan {
            events,
            command,
            exact_conflict: commit.exact_conflict,
        })
    }

    /// A single event: one PutItem, conditional on its version being free.
    async fn put_one(&self, events: Vec<EventPut>, exact: bool) -> Result<Committed, Error> {
        let Some(EventPut {
            item,
            size,
            index_units,
            aggregate,
            id,
            expected,
            version,
        }) = events.into_iter().next()
        else {
            return Ok(Committed::Written);
        };
        let span = trace::request(self.table(), "PutItem", aggregate, &id);
        let attempts = Attempts::default();
        let sent = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#v)")
            .expression_attribute_names("#v", VERSION)
            .return_consumed_capacity(self.capacity_request())
            .customize()
            .interceptor(attempts.clone())
            .send()
            .instrument(span.clone())
            .await;
        match sent {
            Ok(output) => {
                let units = units_of(output.consumed_capacity.as_ref())
                    .unwrap_or_else(|| capacity::write(size) + index_units);
                self.stats().record_write(1, units);
                trace::done(&span, "written", 1, units);
                Ok(Committed::Written)
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // A failed condition is still billed as the write.
                let units = capacity::write(size);
                self.stats().record_failed_write(units);
                trace::done(&span, "conflict", 0, units);
                if attempts.unanswered() {
                    return Err(taken_after_unanswered("PutItem", self.table(), version)
                        .about(aggregate, &id)
                        .writing(version, version)
                        .with_source(err)
                        .into());
                }
                Err(self.conflict(aggregate, id, expected, exact).await)
            }
            Err(err) => {
                if !matches!(err, SdkError::ConstructionFailure(_)) {
                    self.stats().record_failed_write(0.0);
                }
                trace::done(&span, "error", 0, 0.0);
                Err(write_error("PutItem", self.table(), err, &attempts)
                    .about(aggregate, &id)
                    .writing(expected.saturating_add(1), version)
                    .into())
            }
        }
    }

    /// Several items: one TransactWriteItems, every event conditional on its
    /// version being free, and the command record on its key being free or
    /// expired.
    async fn transact(&self, plan: Plan) -> Result<Committed, Error> {
        let Plan {
            events,
            command,
            exact_conflict,
        } = plan;
        let count = events.len() + usize::from(command.is_some());
        let items = u64::try_from(count).unwrap_or(u64::MAX);
        // DynamoDB Local misreports multi-item transactions, so the cost is
        // always DynamoDB's formula: 2 WCU per KB of each item, plus the
        // standard write of each initial event's index entry when it lands.
        let units = capacity::transaction(
            events
                .iter()
                .map(|e| e.size)
                .chain(command.iter().map(|c| c.size)),
        );
        let index_units: f64 = events.iter().map(|e| e.index_units).sum();
        let (first_aggregate, first_id) = events
            .first()
            .map_or(("", ""), |e| (e.aggregate, e.id.as_str()));
        let span = trace::request(
            self.table(),
            "TransactWriteItems",
            first_aggregate,
            first_id,
        );

        let mut requests = Vec::with_capacity(count);
        let mut command_key = None;
        if let Some(CommandPut { key, item, .. }) = command {
            // With a commands table of its own, this Put is the one item of
            // the transaction in that table: DynamoDB applies a transaction
            // across tables of one account and region as one.
            let put = Put::builder()
                .table_name(self.commands_table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#k) OR #e < :now")
                .expression_attribute_names("#k", AGGREGATE_ID)
                .expression_attribute_names("#e", EXPIRES_AT)
                .expression_attribute_values(
                    ":now",
                    AttributeValue::N(es_core::store::now_secs().to_string()),
                )
                // The record comes back with the cancellation, saving a read.
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(|e| invalid(format!("building the command record's Put: {e}")))?;
            requests.push(TransactWriteItem::builder().put(put).build());
            command_key = Some(key);
        }
        let mut owners = Vec::with_capacity(events.len());
        for EventPut {
            item,
            aggregate,
            id,
            expected,
            ..
        } in events
        {
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#v)")
                .expression_attribute_names("#v", VERSION)
                .build()
                .map_err(|e| invalid(format!("building an event's Put: {e}")))?;
            requests.push(TransactWriteItem::builder().put(put).build());
            owners.push((aggregate, id, expected));
        }

        // The SDK gives the request a ClientRequestToken, kept across its
        // retries, so DynamoDB applies a retried transaction once; still,
        // an attempt that got no answer makes any later failure unsure.
        let attempts = Attempts::default();
        let sent = self
            .client()
            .transact_write_items()
            .set_transact_items(Some(requests))
            .customize()
            .interceptor(attempts.clone())
            .send()
            .instrument(span.clone())
            .await;
        let err = match sent {
            Ok(_) => {
                self.stats().record_write(items, units + index_units);
                trace::done(&span, "written", items, units + index_units);
                return Ok(Committed::Written);
            }
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            if !matches!(err, SdkError::ConstructionFailure(_)) {
                self.stats().record_failed_write(0.0);
            }
            trace::done(&span, "error", 0, 0.0);
            return Err(write_error("TransactWriteItems", self.table(), err, &attempts).into());
        };
        self.stats().record_failed_write(units);
        let reasons = cancelled.cancellation_reasons();
        let failed = |reason: Option<&CancellationReason>| {
            reason.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
        };
        // Reasons come in the order of the items: the command record first.
        let offset = usize::from(command_key.is_some());
        if let Some(key) = &command_key {
            if failed(reasons.first()) {
                trace::done(&span, "duplicate", 0, units);
                let returned = reasons.first().and_then(CancellationReason::item).cloned();
                return self.duplicate(key, returned).await;
            }
        }
        let stale = owners
            .into_iter()
            .enumerate()
            .find(|(n, _)| failed(reasons.get(n + offset)));
        if let Some((_, (aggregate, id, expected))) = stale {
            trace::done(&span, "conflict", 0, units);
            if attempts.unanswered() {
                return Err(taken_after_unanswered(
                    "TransactWriteItems",
                    self.table(),
                    expected.saturating_add(1),
                )
                .about(aggregate, &id)
                .with_source(err)
                .into());
            }
            return Err(self.conflict(aggregate, id, expected, exact_conflict).await);
        }
        trace::done(&span, "cancelled", 0, units);
        let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
        let transient = codes.iter().any(|c| TRANSIENT_REASONS.contains(c));
        let message = format!(
            "table {:?}: transaction cancelled, reasons {codes:?}",
            self.table()
        );
        let error = if attempts.unanswered() {
            StoreError::indeterminate("TransactWriteItems", message)
        } else if transient {
            StoreError::transient("TransactWriteItems", message)
        } else {
            StoreError::permanent("TransactWriteItems", message)
        };
        Err(error.with_source(err).into())
    }

    /// The record of a command that already ran, from the cancellation
    /// reason when DynamoDB returned it, else from one consistent GetItem.
    async fn duplicate(&self, key: &str, returned: Option<Item>) -> Result<Committed, Error> {
        let record = match returned {
            Some(item) => item::decode_command(key, item)?,
            None => self.command_record(key).await?.ok_or_else(|| {
                StoreError::transient(
                    "GetItem",
                    format!("the record of command {key:?} blocked the commit, then was gone (expired); retry"),
                )
            })?,
        };
        Ok(Committed::Duplicate(record))
    }

    /// The conflict of a stale append, with the version the store holds now
    /// when `exact`, else with the least it can be, saving a Query.
    async fn conflict(
        &self,
        aggregate: &'static str,
        id: String,
        expected: u64,
        exact: bool,
    ) -> Error {
        if !exact {
            return Error::Conflict {
                aggregate,
                id,
                expected,
                actual: expected.saturating_add(1),
            };
        }
        match self.latest_version(aggregate, &id).await {
            Ok(actual) => Error::Conflict {
                aggregate,
                id,
                expected,
                actual,
            },
            Err(e) => e,
        }
    }
}

fn command_put(record: &CommandRecord) -> Result<CommandPut, Error> {
    let item = item::command_item(record);
    Ok(CommandPut {
        key: record.key.clone(),
        size: item_size(&item),
        item,
    })
}

/// The failure of a write whose retry, by the SDK, found `version` taken
/// after an earlier attempt got no answer: that attempt may have taken it.
fn taken_after_unanswered(operation: &'static str, table: &str, version: u64) -> StoreError {
    StoreError::indeterminate(
        operation,
        format!(
            "table {table:?}: an attempt got no answer, and the SDK's retry found version \
             {version} taken, perhaps by that attempt"
        ),
    )
}

fn invalid(message: String) -> Error {
    StoreError::permanent("commit", message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(version: u64) -> es_core::store::StoredEvent<AttributeValue> {
        es_core::store::StoredEvent {
            version,
            name: "Restocked".into(),
            schema: 1,
            timestamp: "2026-11-22T05:07:54.123Z".into(),
            payload: None,
            metadata: None,
            snapshot: None,
        }
    }

    fn commit(expected: u64, versions: &[u64]) -> Commit<AttributeValue> {
        Commit {
            appends: vec![es_core::store::Append {
                aggregate: "Product",
                id: "sku-1".into(),
                expected,
                events: versions.iter().map(|&v| event(v)).collect(),
            }],
            command: None,
            exact_conflict: true,
        }
    }

    #[test]
    fn an_append_past_u64_max_is_a_permanent_error_naming_the_aggregate() {
        let store = DynamoStore::offline(crate::Layout::SingleTable);
        for (expected, versions) in [
            (u64::MAX, &[0][..]),
            (u64::MAX, &[1][..]),
            (u64::MAX - 1, &[u64::MAX, 0][..]),
        ] {
            let Err(err) = store.plan(commit(expected, versions)) else {
                panic!("expected {expected}: planned");
            };
            assert!(
                matches!(&err, Error::Store(e) if !e.is_retryable()),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains("Product \"sku-1\"") && text.contains("u64::MAX"),
                "{text}"
            );
        }
        // The last version there is can still be planned.
        let plan = store
            .plan(commit(u64::MAX - 1, &[u64::MAX]))
            .expect("version u64::MAX");
        assert_eq!(
            plan.events[0].item.get(VERSION),
            Some(&AttributeValue::N(u64::MAX.to_string()))
        );
    }

    #[test]
    fn idempotency_keys_are_checked_like_ids() {
        let store = DynamoStore::offline(crate::Layout::SingleTable);
        for key in [String::new(), "k".repeat(1025)] {
            let mut bad = commit(0, &[1]);
            bad.command = Some(CommandRecord {
                key: key.clone(),
                outcome: vec![("Product".into(), "sku-1".into(), 1)],
                expires_at: 1_800_000_000,
            });
            let Err(err) = store.plan(bad) else {
                panic!("a key of {} bytes: planned", key.len());
            };
            assert!(
                matches!(err, Error::InvalidKey { ref key, .. } if key.len() <= 64),
                "{err:?}"
            );
        }
    }
}
