//! Stream records as events, by rule, with no store instance: what the
//! Lambda entry point and the stream runner hand to a projection.
//!
//! A record is an event when, and only when:
//!
//! 1. it is an `INSERT` (events are written once and never changed, so a
//!    `MODIFY` or `REMOVE` is never a new event: a TTL deletion of an
//!    idempotency record is a `REMOVE`);
//! 2. its key is not one of es's own records, whose keys start with `$`
//!    (idempotency records, checkpoints) and which sit at version 0;
//! 3. its key names an aggregate: `"{Name}#{id}"` in the single-table layout.
//!
//! Such a record of an aggregate the projection does not listen to is passed
//! over without decoding its image. One of a listened aggregate is decoded
//! as a load decodes its item, and a record that does not decode is an error
//! naming it, never a skip.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use es_core::projection::{Codec, RawEvent};
use es_core::Error;
use serde::de::DeserializeSeed;

use crate::item::{self, Whose};
use crate::layout::attributes::AGGREGATE_ID;
use crate::layout::Layout;

/// Decodes DynamoDB payloads (native maps), with no store: the [`Codec`] of
/// stream images.
#[derive(Clone, Copy, Debug, Default)]
pub struct DynamoCodec;

impl Codec for DynamoCodec {
    type Payload = AttributeValue;

    fn decode_payload<T, V>(
        &self,
        seed: T,
        payload: AttributeValue,
    ) -> Result<V, es_core::store::CodecError>
    where
        T: for<'de> DeserializeSeed<'de, Value = V>,
    {
        crate::payload::decode(seed, payload)
    }
}

impl Codec for crate::DynamoStore {
    type Payload = AttributeValue;

    fn decode_payload<T, V>(
        &self,
        seed: T,
        payload: AttributeValue,
    ) -> Result<V, es_core::store::CodecError>
    where
        T: for<'de> DeserializeSeed<'de, Value = V>,
    {
        crate::payload::decode(seed, payload)
    }
}

/// Where a record sits in the table, read from its keys alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// An event of an aggregate: its name, id and version.
    Event {
        /// The aggregate's name.
        aggregate: String,
        /// The aggregate's id.
        id: String,
        /// The event's version.
        version: u64,
    },
    /// Not a new event: a `MODIFY` or `REMOVE`, one of es's own records
    /// (`$command#..`, checkpoints), or a key that names no aggregate.
    Other(&'static str),
}

/// Reads what a record's image is, by the rules of this module: whether
/// `event_name` (`INSERT`, `MODIFY`, `REMOVE`) and the image's keys make it
/// an event. In [`Layout::TablePerAggregate`], keys carry no aggregate name:
/// `table_aggregate` is the aggregate the table holds.
///
/// # Errors
///
/// [`Error::Corrupt`] when an `INSERT` image has no usable `aggregateId` or
/// `version`: a `KEYS_ONLY` stream, or an item es and castore never write,
/// such as one at version 0 or below in an aggregate's partition.
pub fn kind_of(
    event_name: &str,
    image: &HashMap<String, AttributeValue>,
    layout: Layout,
    table_aggregate: Option<&str>,
) -> Result<RecordKind, Error> {
    if event_name != "INSERT" {
        return Ok(RecordKind::Other("not an INSERT"));
    }
    let key = match image.get(AGGREGATE_ID) {
        Some(AttributeValue::S(key)) => key,
        other => {
            return Err(item::corrupt(
                Whose::nobody(),
                0,
                match other {
                    None if image.is_empty() => {
                        "the record has no new image: the stream must carry NEW_IMAGE or NEW_AND_OLD_IMAGES"
                            .to_owned()
                    }
                    None => format!("a stream image: `{AGGREGATE_ID}` is missing"),
                    Some(v) => format!("a stream image: `{AGGREGATE_ID}` is {}, not S", item::type_name(v)),
                },
            ))
        }
    };
    // DynamoDB refuses an empty key value, so no table holds such an item;
    // an error naming the key "" would name nothing, so it says so instead.
    if key.is_empty() {
        return Err(item::corrupt(Whose::nobody(), 0, empty_key()));
    }
    if key.starts_with('$') {
        return Ok(RecordKind::Other("one of es's own records"));
    }
    let (aggregate, id) = match layout {
        Layout::SingleTable => match key.split_once('#') {
            Some((aggregate, id)) if !aggregate.is_empty() => (aggregate, id),
            _ => return Ok(RecordKind::Other("a key that names no aggregate")),
        },
        Layout::TablePerAggregate => match table_aggregate {
            Some(aggregate) => (aggregate, key.as_str()),
            None => return Ok(RecordKind::Other("a table of another aggregate")),
        },
    };
    // In an aggregate's partition, as in a load, an item at version 0 or
    // below is corrupt, not skipped: es's own records at version 0 have
    // `$` keys, passed over above.
    let version = item::version_of(Whose::new(aggregate, id), image)?;
    Ok(RecordKind::Event {
        aggregate: aggregate.to_owned(),
        id: id.to_owned(),
        version,
    })
}

/// Why an image with an empty `aggregateId` is refused.
pub(crate) fn empty_key() -> String {
    format!("a stream image: `{AGGREGATE_ID}` is an empty string, which DynamoDB refuses as a key: the image did not come from a table")
}

/// The event in a record, for a projection listening to `listened`, or
/// `None` when the record is not one of theirs (see [`kind_of`]).
///
/// # Errors
///
/// [`Error::Corrupt`], naming the key and version, for an image of a
/// listened aggregate that is not a well-formed event item.
pub fn raw_event(
    event_name: &str,
    image: HashMap<String, AttributeValue>,
    layout: Layout,
    listened: &[&'static str],
) -> Result<Option<RawEvent<AttributeValue>>, Error> {
    // A table of one aggregate holds the events of the projection's only
    // aggregate, or of none it listens to.
    let table_aggregate = match listened {
        [only] => Some(*only),
        _ => None,
    };
    let RecordKind::Event { aggregate, id, .. } =
        kind_of(event_name, &image, layout, table_aggregate)?
    else {
        return Ok(None);
    };
    if !listened.contains(&aggregate.as_str()) {
        return Ok(None);
    }
    let event = item::decode_event(Whose::new(&aggregate, &id), image)?;
    Ok(Some(RawEvent::new(aggregate, id, event)))
}

/// A stream record's image as the DynamoDB SDK's attribute values. The
/// Streams SDK has a type of its own for the same values.
///
/// # Errors
///
/// A value of a type this SDK does not know, named by its attribute.
pub fn from_streams_image(
    image: HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Result<HashMap<String, AttributeValue>, Error> {
    image
        .into_iter()
        .map(|(name, value)| {
            convert(value).map(|v| (name.clone(), v)).map_err(|what| {
                item::corrupt(
                    Whose::nobody(),
                    0,
                    format!("a stream image: `{name}`: {what}"),
                )
            })
        })
        .collect()
}

fn convert(
    value: aws_sdk_dynamodbstreams::types::AttributeValue,
) -> Result<AttributeValue, String> {
    use aws_sdk_dynamodbstreams::types::AttributeValue as S;
    Ok(match value {
        S::S(s) => AttributeValue::S(s),
        S::N(n) => AttributeValue::N(n),
        S::B(b) => AttributeValue::B(b),
        S::Bool(b) => AttributeValue::Bool(b),
        S::Null(n) => AttributeValue::Null(n),
        S::Ss(v) => AttributeValue::Ss(v),
        S::Ns(v) => AttributeValue::Ns(v),
        S::Bs(v) => AttributeValue::Bs(v),
        S::L(v) => AttributeValue::L(v.into_iter().map(convert).collect::<Result<_, _>>()?),
        S::M(m) => AttributeValue::M(
            m.into_iter()
                .map(|(k, v)| convert(v).map(|v| (k, v)))
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err("a value of a type this SDK does not know".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::attributes::VERSION;

    fn image(key: &str, version: &str) -> HashMap<String, AttributeValue> {
        [
            (AGGREGATE_ID.to_owned(), AttributeValue::S(key.to_owned())),
            (VERSION.to_owned(), AttributeValue::N(version.to_owned())),
        ]
        .into()
    }

    #[test]
    fn only_inserts_of_aggregate_keys_are_events() {
        let single = Layout::SingleTable;
        assert_eq!(
            kind_of("INSERT", &image("Product#a#b", "3"), single, None).unwrap(),
            RecordKind::Event {
                aggregate: "Product".into(),
                id: "a#b".into(),
                version: 3
            }
        );
        for name in ["MODIFY", "REMOVE"] {
            assert!(matches!(
                kind_of(name, &image("Product#a", "3"), single, None),
                Ok(RecordKind::Other(_))
            ));
        }
        for (key, version) in [
            ("$command#k", "0"),
            ("$checkpoint#x", "0"),
            ("k", "0"),
            ("nohash", "1"),
            ("#x", "1"),
        ] {
            assert!(
                matches!(
                    kind_of("INSERT", &image(key, version), single, None),
                    Ok(RecordKind::Other(_))
                ),
                "{key}"
            );
        }
        // In an aggregate's partition, version 0 or below is corrupt.
        for version in ["0", "-3"] {
            assert!(
                matches!(
                    kind_of("INSERT", &image("Product#a", version), single, None),
                    Err(Error::Corrupt { version: 0, .. })
                ),
                "{version}"
            );
        }
        assert_eq!(
            kind_of(
                "INSERT",
                &image("sku-1", "2"),
                Layout::TablePerAggregate,
                Some("Product")
            )
            .unwrap(),
            RecordKind::Event {
                aggregate: "Product".into(),
                id: "sku-1".into(),
                version: 2
            }
        );
    }

    #[test]
    fn an_empty_key_is_an_error_in_both_layouts() {
        for (layout, table) in [
            (Layout::SingleTable, None),
            (Layout::TablePerAggregate, Some("Product")),
        ] {
            let err = kind_of("INSERT", &image("", "1"), layout, table).unwrap_err();
            assert!(
                matches!(&err, Error::Corrupt { aggregate, id, reason, .. } if aggregate.is_empty() && id.is_empty() && reason.starts_with("a stream image")),
                "{err:?}"
            );
            assert!(err.to_string().contains("empty"), "{err}");
        }
    }

    #[test]
    fn an_insert_without_keys_is_an_error_naming_what_is_missing() {
        let err = kind_of("INSERT", &HashMap::new(), Layout::SingleTable, None).unwrap_err();
        assert!(err.to_string().contains("NEW_IMAGE"), "{err}");
        let err = kind_of(
            "INSERT",
            &image("Product#a", "x"),
            Layout::SingleTable,
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("\"x\" is not a whole number"),
            "{err}"
        );
    }
}
