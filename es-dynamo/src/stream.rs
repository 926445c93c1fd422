//! Decoding one stream image into a typed event of one aggregate: the lower
//! level of projections.
//!
//! Most projections need none of this: an `#[es::projection]` run by
//! `es_dynamo::lambda` (feature `lambda`), [`StreamRunner`](crate::StreamRunner)
//! or `es::rebuild` decodes records by the rules of [`records`](crate::records),
//! in order per aggregate, and its [`Views`](es_core::Views) skip redeliveries.
//! What follows is for code that handles records itself.
//!
//! `create_table` turns the stream on with `NEW_IMAGE`, and every event es or
//! castore commits arrives there as one `INSERT` record whose new image is the
//! event's item. [`DynamoStore::decode_stream_image`] turns such an image into
//! a typed event of one aggregate, checked exactly as a load checks it, and
//! passes over other aggregate types and the command records of idempotent
//! commands. Give it the new images of `INSERT` records only: a `MODIFY`
//! image would decode as the event it is an image of, and a `REMOVE` has
//! none ([`records::kind_of`](crate::records::kind_of) says which records
//! are events).
//!
//! On AWS Lambda, the event source mapping reads the shards, keeps each
//! aggregate's events in version order (a partition key's records stay in
//! one shard, in order), and retries a failed batch, so a projection there is
//! a handler over the batch's records. Lambda delivers at least once: a
//! projection that must not apply an event twice keeps, per aggregate, the
//! last version it applied, and skips what is not newer.
//!
//! ```no_run
//! use std::collections::HashMap;
//!
//! use aws_sdk_dynamodb::types::AttributeValue;
//! use es::dynamo::{DynamoStore, StreamEvent};
//! use es::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug)]
//! pub struct Restocked { pub amount: u32 }
//!
//! #[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
//! pub struct Product { pub on_hand: u32 }
//!
//! #[es::handlers]
//! impl Product {
//!     #[on(Restocked)]
//!     fn restocked(&mut self, e: &Restocked) {
//!         self.on_hand += e.amount;
//!     }
//! }
//!
//! /// A read model: units restocked per product, applied once per version.
//! #[derive(Default)]
//! struct Restocks {
//!     units: HashMap<String, u64>,
//!     applied: HashMap<String, u64>,
//! }
//!
//! impl Restocks {
//!     fn apply(&mut self, change: &StreamEvent<ProductEvent>) {
//!         let applied = self.applied.entry(change.id.clone()).or_default();
//!         if change.recorded.version <= *applied {
//!             return; // a redelivery
//!         }
//!         *applied = change.recorded.version;
//!         match &change.recorded.event {
//!             ProductEvent::Restocked(e) => {
//!                 *self.units.entry(change.id.clone()).or_default() += u64::from(e.amount);
//!             }
//!         }
//!     }
//! }
//!
//! /// The new images of a batch's `INSERT` records, in order. With the
//! /// `aws_lambda_events` crate, `record.change.new_image.into()` gives one.
//! async fn on_batch(
//!     store: &DynamoStore,
//!     images: Vec<HashMap<String, AttributeValue>>,
//!     restocks: &mut Restocks,
//! ) -> Result<(), es::Error> {
//!     for image in images {
//!         if let Some(change) = store.decode_stream_image::<Product>(image).await? {
//!             restocks.apply(&change);
//!         }
//!     }
//!     Ok(())
//! }
//! ```

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use es_core::{Aggregate, Error, Recorded};

use crate::item::{self, Whose};
use crate::layout::attributes::{AGGREGATE_ID, VERSION};
use crate::layout::{COMMAND_KEY_PREFIX, COMMAND_VERSION};
use crate::DynamoStore;

/// One event of an aggregate, read from the table's stream.
///
/// Its fields are public so that a projection's unit tests can build one,
/// for example from a [`MemoryStore`](es_core::MemoryStore) aggregate's
/// [`history`](es_core::Root::history).
#[derive(Clone, Debug)]
pub struct StreamEvent<E> {
    /// The aggregate's id, without the `Name#` prefix of the single-table
    /// layout.
    pub id: String,
    /// The event, with its version, timestamp and metadata.
    pub recorded: Recorded<E>,
}

impl DynamoStore {
    /// Decodes the new image of a stream record of this store's table into
    /// an event of `A`, or `None` when the item is not one: an event of
    /// another aggregate type (in the single-table layout), or a command
    /// record.
    ///
    /// Give it the `NewImage` of `INSERT` records. The stream must carry new
    /// images (`NEW_IMAGE` or `NEW_AND_OLD_IMAGES`); a `KEYS_ONLY` image has
    /// no event in it and is refused as [`Error::Corrupt`].
    ///
    /// # Errors
    ///
    /// What a load of the same item would fail with, naming the aggregate,
    /// id and version: [`Error::Corrupt`] for a missing or mistyped
    /// attribute, a payload that does not decode or a schema newer than this
    /// build's, and [`Error::UnknownEvent`] for an event name `A` has no
    /// handler for.
    pub async fn decode_stream_image<A: Aggregate>(
        &self,
        image: HashMap<String, AttributeValue>,
    ) -> Result<Option<StreamEvent<A::Event>>, Error<A::Error>> {
        let key = match image.get(AGGREGATE_ID) {
            Some(AttributeValue::S(key)) => key.clone(),
            other => {
                return Err(item::corrupt(
                    Whose::nobody(),
                    0,
                    match other {
                        None => format!("a stream image: `{AGGREGATE_ID}` is missing"),
                        Some(v) => format!(
                            "a stream image: `{AGGREGATE_ID}` is {}, not S",
                            item::type_name(v)
                        ),
                    },
                )
                .widen())
            }
        };
        if key.is_empty() {
            return Err(item::corrupt(Whose::nobody(), 0, crate::records::empty_key()).widen());
        }
        // Command records sit at version 0 under `$command#` keys. In the
        // single-table layout such a key names no aggregate anyway; in the
        // table-per-aggregate one it may be an aggregate's id too, whose
        // events are from version 1. Any other item at version 0 or below
        // is corrupt, as in a load.
        if key.starts_with(COMMAND_KEY_PREFIX)
            && matches!(image.get(VERSION), Some(AttributeValue::N(n)) if n == COMMAND_VERSION)
        {
            return Ok(None);
        }
        let Some(id) = self.layout().id_of(A::NAME, &key) else {
            return Ok(None);
        };
        let stored = item::decode_event(Whose::new(A::NAME, id), image).map_err(Error::widen)?;
        // Personal fields are opened, or read as their placeholders.
        let mut stored = [stored];
        es_core::store::open_stored::<A, _>(self, id, &mut stored)
            .await
            .map_err(Error::widen)?;
        let [stored] = stored;
        let recorded = es_core::store::decode_event::<A, _>(self, id, stored)?;
        Ok(Some(StreamEvent {
            id: id.to_owned(),
            recorded,
        }))
    }
}

#[cfg(test)]
mod tests {
    //! Whatever a stream hands over, decoding answers with a value or an
    //! error, never a panic: images are external data.

    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue as Av;
    use es_core::conformance::model::Product;
    use proptest::prelude::*;

    use crate::{DynamoStore, Layout};

    /// Any DynamoDB value, nested a few levels deep.
    fn value() -> impl Strategy<Value = Av> {
        let leaf = prop_oneof![
            any::<String>().prop_map(Av::S),
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                Just("1e400".to_owned()),
                Just("-0.5".to_owned()),
                Just("99999999999999999999999".to_owned()),
                Just("".to_owned()),
            ]
            .prop_map(Av::N),
            any::<bool>().prop_map(Av::Bool),
            Just(Av::Null(true)),
            proptest::collection::vec(any::<u8>(), 0..8)
                .prop_map(|b| Av::B(aws_sdk_dynamodb::primitives::Blob::new(b))),
            proptest::collection::vec("[a-z]{0,3}", 1..3).prop_map(Av::Ss),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Av::L),
                proptest::collection::hash_map(
                    prop_oneof![
                        Just("amount".to_owned()),
                        Just("cart_id".to_owned()),
                        Just("quantity".to_owned()),
                        Just("text".to_owned()),
                        Just("correlationId".to_owned()),
                        "[a-z]{1,4}",
                    ],
                    inner,
                    0..4
                )
                .prop_map(Av::M),
            ]
        })
    }

    /// An attribute that is usually well-formed, sometimes missing, and
    /// sometimes any value at all.
    fn attribute(valid: impl Strategy<Value = Av> + 'static) -> impl Strategy<Value = Option<Av>> {
        prop_oneof![
            12 => valid.prop_map(Some),
            1 => Just(None),
            2 => value().prop_map(Some),
        ]
    }

    fn image() -> impl Strategy<Value = HashMap<String, Av>> {
        let key = prop_oneof![
            Just("Product#sku-1"),
            Just("Product#sku-2"),
            Just("Product#🚀 #:'"),
            Just("Product#"),
            Just("Counter#c-1"),
            Just("$command#k"),
            Just("sku-1"),
        ]
        .prop_map(|k| Av::S(k.to_owned()));
        let version = prop_oneof![
            Just("0"),
            Just("1"),
            Just("2"),
            Just("18446744073709551615")
        ]
        .prop_map(|v| Av::N(v.to_owned()));
        // Usually a name with a payload of its event's shape, so that many
        // images decode and the property also checks what they decode to.
        let payload = |entries: Vec<(&str, Av)>| {
            Some(Av::M(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            ))
        };
        let event = prop_oneof![
            (0..100u32).prop_map(move |n| {
                ("Restocked", payload(vec![("amount", Av::N(n.to_string()))]))
            }),
            ("[a-z]{0,4}", 0..100u32).prop_map(move |(cart, n)| {
                let fields = vec![("cart_id", Av::S(cart)), ("quantity", Av::N(n.to_string()))];
                ("Reserved", payload(fields))
            }),
            Just(("Discontinued", None)),
            Just(("Teleported", None)),
        ]
        .prop_map(|(name, payload)| (Some(Av::S(name.to_owned())), payload));
        let metadata =
            "[a-z]{0,4}".prop_map(|c| Av::M([("correlationId".to_owned(), Av::S(c))].into()));
        let timestamp = Just(Av::S("2026-11-23T10:00:00.000Z".to_owned()));
        let schema = prop_oneof![4 => Just("1"), 1 => Just("2"), 1 => Just("x")]
            .prop_map(|s| Av::N(s.to_owned()));
        (
            attribute(key),
            attribute(version),
            prop_oneof![
                6 => event,
                1 => (attribute(value()), attribute(value())),
            ],
            attribute(timestamp),
            attribute(metadata),
            attribute(schema),
            // A snapshot is rare: most events carry none.
            prop_oneof![2 => Just(None), 1 => value().prop_map(Some)],
            attribute(value()),
        )
            .prop_map(
                |(
                    key,
                    version,
                    (name, payload),
                    timestamp,
                    metadata,
                    schema,
                    snapshot,
                    snapshot_schema,
                )| {
                    let attributes = [
                        ("aggregateId", key),
                        ("version", version),
                        ("type", name),
                        ("timestamp", timestamp),
                        ("payload", payload),
                        ("metadata", metadata),
                        ("schema", schema),
                        ("snapshot", snapshot),
                        ("snapshotSchema", snapshot_schema),
                    ];
                    attributes
                        .into_iter()
                        .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
                        .collect()
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn any_image_decodes_or_fails_without_panicking(image in image()) {
            let block_on = futures::executor::block_on;
            let (single_store, legacy_store) = (
                DynamoStore::offline(Layout::SingleTable),
                DynamoStore::offline(Layout::TablePerAggregate),
            );
            let single = block_on(single_store.decode_stream_image::<Product>(image.clone()));
            if let Ok(Some(event)) = &single {
                prop_assert_eq!(&image["aggregateId"], &Av::S(format!("Product#{}", event.id)));
                prop_assert!(event.recorded.version >= 1);
            }
            let legacy = block_on(legacy_store.decode_stream_image::<Product>(image));
            if let Ok(Some(event)) = &legacy {
                prop_assert!(event.recorded.version >= 1);
            }
        }
    }
}
