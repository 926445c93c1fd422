//! Shared by the DynamoDB Local tests: raw access to the table, and
//! hand-written aggregates for what the conformance model does not cover.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use es_core::store::{Append, StoredEvent};
use es_core::{Aggregate, Event, EventSet, EventStore, HandledBy, IntoEvents};
use es_dynamo::DynamoStore;
use serde::{Deserialize, Serialize};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn m<const K: usize>(entries: [(&str, AttributeValue); K]) -> AttributeValue {
    AttributeValue::M(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

pub fn item<const K: usize>(entries: [(&str, AttributeValue); K]) -> Item {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// The store's table, as DescribeTable reports it.
pub async fn describe(store: &DynamoStore) -> aws_sdk_dynamodb::types::TableDescription {
    store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .expect("DescribeTable")
        .table
        .expect("a table")
}

/// The item at `version` of partition `key`, by a consistent GetItem.
pub async fn get(store: &DynamoStore, key: &str, version: u64) -> Option<Item> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("aggregateId", s(key))
        .key("version", n(version))
        .consistent_read(true)
        .send()
        .await
        .expect("get_item")
        .item
}

/// Writes an item as it is, the way another tool (castore) would.
pub async fn put(store: &DynamoStore, item: Item) {
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .expect("put_item");
}

/// An append of `events` at the versions after `expected`, encoded the way
/// es-core encodes them, for calling `EventStore::commit` directly.
pub fn append<E: Event>(
    store: &DynamoStore,
    aggregate: &'static str,
    id: &str,
    expected: u64,
    events: &[E],
) -> Append<AttributeValue> {
    let timestamp = es_core::store::now();
    Append {
        aggregate,
        id: id.to_owned(),
        expected,
        events: (expected + 1..)
            .zip(events)
            .map(|(version, event)| StoredEvent {
                version,
                name: E::NAME.to_owned(),
                schema: E::VERSION,
                timestamp: timestamp.clone(),
                payload: Some(store.encode(event).expect("encode")),
                metadata: None,
                snapshot: None,
            })
            .collect(),
    }
}

/// The attribute names of an item, sorted.
pub fn names(item: &Item) -> Vec<&str> {
    let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// A meter whose readings have payload schema 2 and which snapshots every 2
/// versions: it exercises `schema` and `snapshot` attributes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meter {
    pub total: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub value: i64,
}

impl Event for Reading {
    const NAME: &'static str = "Reading";
    const VERSION: u32 = 2;
}

#[derive(Clone, Debug)]
pub struct MeterEvent(pub Reading);

impl From<Reading> for MeterEvent {
    fn from(e: Reading) -> Self {
        MeterEvent(e)
    }
}

impl HandledBy<Meter> for Reading {
    fn into_event(self) -> MeterEvent {
        MeterEvent(self)
    }
}

impl IntoEvents<Meter> for Reading {
    fn into_events(self) -> Vec<MeterEvent> {
        vec![MeterEvent(self)]
    }
}

impl EventSet for MeterEvent {
    const NAMES: &'static [&'static str] = &["Reading"];
    fn name(&self) -> &'static str {
        Reading::NAME
    }
    fn schema(&self) -> u32 {
        Reading::VERSION
    }
    fn serialize_payload<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
    fn deserialize_payload<'de, D: serde::Deserializer<'de>>(
        name: &str,
        d: D,
    ) -> Result<Option<Self>, D::Error> {
        if name == Reading::NAME {
            return Reading::deserialize(d).map(|e| Some(MeterEvent(e)));
        }
        Ok(None)
    }
}

impl Aggregate for Meter {
    const NAME: &'static str = "Meter";
    const SNAPSHOT_EVERY: u64 = 2;
    type Event = MeterEvent;
    type Error = std::convert::Infallible;

    fn apply(&mut self, event: &MeterEvent) -> Result<(), Self::Error> {
        self.total += event.0.value;
        Ok(())
    }

    fn serialize_state<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }

    fn deserialize_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::deserialize(d)
    }
}

/// Aggregates with names es refuses, with the conformance model's events.
macro_rules! badly_named {
    ($($ty:ident = $name:literal),*) => {
        $(
            #[derive(Clone, Debug, Default)]
            pub struct $ty;

            impl Aggregate for $ty {
                const NAME: &'static str = $name;
                type Event = es_core::conformance::model::ProductEvent;
                type Error = std::convert::Infallible;

                fn apply(&mut self, _: &Self::Event) -> Result<(), Self::Error> {
                    Ok(())
                }
            }

            // What the tests commit to it.
            impl HandledBy<$ty> for es_core::conformance::model::Restocked {
                fn into_event(self) -> es_core::conformance::model::ProductEvent {
                    self.into()
                }
            }
        )*
    };
}

badly_named!(HashInName = "Bad#Name", DollarName = "$Reserved");

/// A running total that snapshots every 100 versions, as es's performance
/// target for long histories does (docs/BENCHMARKS.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub total: u64,
    pub applied: u64,
}

impl HandledBy<Tally> for es_core::conformance::model::Added {
    fn into_event(self) -> es_core::conformance::model::CounterEvent {
        self.into()
    }
}

impl Aggregate for Tally {
    const NAME: &'static str = "Tally";
    const SNAPSHOT_EVERY: u64 = 100;
    type Event = es_core::conformance::model::CounterEvent;
    type Error = std::convert::Infallible;

    fn apply(&mut self, event: &Self::Event) -> Result<(), Self::Error> {
        let es_core::conformance::model::CounterEvent::Added(e) = event;
        self.total += e.n;
        self.applied += 1;
        Ok(())
    }

    fn serialize_state<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }

    fn deserialize_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::deserialize(d)
    }
}
