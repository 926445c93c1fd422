//! Reading the table's DynamoDB Stream, for projections.
//!
//! `create_table` turns the stream on with `NEW_IMAGE`, and every event es or
//! castore commits arrives there as one `INSERT` record whose new image is the
//! event's item. [`DynamoStore::decode_stream_image`] turns such an image into
//! a typed event of one aggregate, checked exactly as a load checks it, and
//! passes over everything else in the table: other aggregate types, and the
//! command records of idempotent commands.
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
//! fn on_batch(
//!     store: &DynamoStore,
//!     images: Vec<HashMap<String, AttributeValue>>,
//!     restocks: &mut Restocks,
//! ) -> Result<(), es::Error> {
//!     for image in images {
//!         if let Some(change) = store.decode_stream_image::<Product>(image)? {
//!             restocks.apply(&change);
//!         }
//!     }
//!     Ok(())
//! }
//! ```

use aws_sdk_dynamodb::types::AttributeValue;
use es_core::{Aggregate, Error, Recorded};

use crate::item::{self, Item};
use crate::layout::attributes::{AGGREGATE_ID, VERSION};
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
    pub fn decode_stream_image<A: Aggregate>(
        &self,
        image: Item,
    ) -> Result<Option<StreamEvent<A::Event>>, Error<A::Error>> {
        let key = match image.get(AGGREGATE_ID) {
            Some(AttributeValue::S(key)) => key.clone(),
            other => {
                return Err(item::corrupt(
                    "(a stream image)",
                    0,
                    match other {
                        None => format!("`{AGGREGATE_ID}` is missing"),
                        Some(v) => format!("`{AGGREGATE_ID}` is {}, not S", item::type_name(v)),
                    },
                )
                .widen())
            }
        };
        // Command records sit at version 0, below every event, in both
        // layouts; in the single-table layout their key also names no
        // aggregate.
        if matches!(image.get(VERSION), Some(AttributeValue::N(n)) if n == "0") {
            return Ok(None);
        }
        let Some(id) = self.layout().id_of(A::NAME, &key) else {
            return Ok(None);
        };
        let stored = item::decode_event(&key, image).map_err(Error::widen)?;
        let recorded = es_core::store::decode_event::<A, _>(self, id, stored)?;
        Ok(Some(StreamEvent {
            id: id.to_owned(),
            recorded,
        }))
    }
}
