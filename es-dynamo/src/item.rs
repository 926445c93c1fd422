//! Events and command records as DynamoDB items, and back.
//!
//! Decoding never trusts the table: a missing or mistyped attribute becomes
//! [`Error::Corrupt`] naming the item, never a panic. Items castore wrote (no
//! `schema`, no `snapshot`, maybe no `payload`) read like es's own.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use es_core::store::{below_first_version, CommandRecord, StoredEvent, StoredSnapshot};
use es_core::Error;

use crate::layout::attributes::*;
use crate::layout::{command_key, Layout, COMMAND_VERSION};

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The item of one event of `aggregate`, stored under `key`.
pub(crate) fn event_item(
    layout: Layout,
    aggregate: &str,
    key: &str,
    event: StoredEvent<AttributeValue>,
) -> Item {
    let mut item = Item::with_capacity(10);
    item.insert(AGGREGATE_ID.into(), AttributeValue::S(key.to_owned()));
    item.insert(VERSION.into(), AttributeValue::N(event.version.to_string()));
    item.insert(TYPE.into(), AttributeValue::S(event.name));
    item.insert(TIMESTAMP.into(), AttributeValue::S(event.timestamp));
    // Like castore, an event without fields has no payload at all.
    if let Some(payload) = event.payload.filter(|p| !is_empty(p)) {
        item.insert(PAYLOAD.into(), payload);
    }
    if let Some(metadata) = event.metadata.filter(|m| !is_empty(m)) {
        item.insert(METADATA.into(), metadata);
    }
    if event.version == 1 {
        let (name, _, value) = layout.initial_marker(aggregate);
        item.insert(name.into(), value);
    }
    if event.schema != 1 {
        item.insert(SCHEMA.into(), AttributeValue::N(event.schema.to_string()));
    }
    if let Some(snapshot) = event.snapshot {
        item.insert(SNAPSHOT.into(), snapshot.state);
        item.insert(
            SNAPSHOT_SCHEMA.into(),
            AttributeValue::N(snapshot.schema.to_string()),
        );
    }
    item
}

/// What the inline snapshot of an event item adds to its size, if it has one.
pub(crate) fn snapshot_bytes(item: &Item) -> Option<usize> {
    let state = item.get(SNAPSHOT)?;
    let schema = item.get(SNAPSHOT_SCHEMA).map_or(0, |schema| {
        SNAPSHOT_SCHEMA.len() + crate::size::value_size(schema)
    });
    Some(SNAPSHOT.len() + crate::size::value_size(state) + schema)
}

/// Whether a payload holds nothing: null, or an empty map.
fn is_empty(value: &AttributeValue) -> bool {
    match value {
        AttributeValue::Null(_) => true,
        AttributeValue::M(map) => map.is_empty(),
        _ => false,
    }
}

/// Decodes an event item of `whose` aggregate.
pub(crate) fn decode_event(
    whose: Whose<'_>,
    mut item: Item,
) -> Result<StoredEvent<AttributeValue>, Error> {
    let version = match item.remove(VERSION) {
        Some(AttributeValue::N(n)) => event_version(whose, &n)?,
        other => return Err(corrupt(whose, 0, describe(VERSION, "N", other.as_ref()))),
    };
    let bad = |reason: String| corrupt(whose, version, reason);
    let name = match item.remove(TYPE) {
        Some(AttributeValue::S(s)) => s,
        other => return Err(bad(describe(TYPE, "S", other.as_ref()))),
    };
    let timestamp = match item.remove(TIMESTAMP) {
        Some(AttributeValue::S(s)) => s,
        other => return Err(bad(describe(TIMESTAMP, "S", other.as_ref()))),
    };
    let schema = match item.remove(SCHEMA) {
        None | Some(AttributeValue::Null(_)) => 1,
        Some(AttributeValue::N(n)) => n
            .parse::<u32>()
            .map_err(|_| bad(format!("`schema` {n:?} is not a schema version")))?,
        Some(other) => return Err(bad(describe(SCHEMA, "N", Some(&other)))),
    };
    // Payload and metadata go to serde as they are: the event's own type says
    // what shape they must have, and a mismatch becomes `Corrupt` there.
    let payload = item.remove(PAYLOAD).filter(|p| !is_empty(p));
    let metadata = item
        .remove(METADATA)
        .filter(|m| !matches!(m, AttributeValue::Null(_)));
    let snapshot = snapshot_of(
        whose,
        version,
        item.remove(SNAPSHOT),
        item.remove(SNAPSHOT_SCHEMA),
    );
    Ok(StoredEvent {
        version,
        name,
        schema,
        timestamp,
        payload,
        metadata,
        snapshot,
    })
}

/// The inline snapshot of an item, if it has a usable one.
fn snapshot_of(
    whose: Whose<'_>,
    version: u64,
    state: Option<AttributeValue>,
    schema: Option<AttributeValue>,
) -> Option<StoredSnapshot<AttributeValue>> {
    let state = state.filter(|s| !matches!(s, AttributeValue::Null(_)))?;
    let schema = match &schema {
        Some(AttributeValue::N(n)) => n.parse::<u32>().ok(),
        _ => None,
    };
    match schema {
        Some(schema) => Some(StoredSnapshot { schema, state }),
        None => {
            // An unusable snapshot is skipped, never trusted: the load falls
            // back to older data, as for a snapshot of another schema.
            tracing::warn!(
                aggregate = whose.aggregate,
                id = whose.id,
                version,
                "ignoring a snapshot without a valid snapshotSchema"
            );
            None
        }
    }
}

/// Reads the version out of a key (a `LastEvaluatedKey`, or a projected item).
pub(crate) fn version_of(whose: Whose<'_>, item: &Item) -> Result<u64, Error> {
    match item.get(VERSION) {
        Some(AttributeValue::N(n)) => event_version(whose, n),
        other => Err(corrupt(whose, 0, describe(VERSION, "N", other))),
    }
}

/// The version of an event item of `whose` aggregate: a whole number from 1.
/// An item at 0 or below is corrupt, in the words es-core uses for version 0
/// (`below_first_version`): the sort key is a DynamoDB number, so anything
/// can be put there, and an item skipped for its version could hide a fact.
fn event_version(whose: Whose<'_>, n: &str) -> Result<u64, Error> {
    match n.parse::<u64>() {
        Ok(0) => Err(corrupt(whose, 0, below_first_version(0))),
        Ok(version) => Ok(version),
        // DynamoDB normalises numbers, so a negative one starts with `-`;
        // a lone `-`, or one before something else, is no number at all.
        Err(_) if n.strip_prefix('-').is_some_and(is_number) => {
            Err(corrupt(whose, 0, below_first_version(n)))
        }
        Err(_) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Err(corrupt(
            whose,
            0,
            format!("`version` {n} is above u64::MAX, the last version there is"),
        )),
        Err(_) => Err(corrupt(
            whose,
            0,
            format!("`version` {n:?} is not a whole number"),
        )),
    }
}

/// Whether `n` is a number as DynamoDB writes one: digits, maybe a
/// fraction, maybe an exponent.
fn is_number(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_digit())
        && n.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && n.parse::<f64>().is_ok()
}

/// The primary key of the item at `version` in partition `key`.
pub(crate) fn primary_key(key: &str, version: &str) -> Item {
    HashMap::from([
        (AGGREGATE_ID.to_owned(), AttributeValue::S(key.to_owned())),
        (VERSION.to_owned(), AttributeValue::N(version.to_owned())),
    ])
}

/// The item of a command record.
pub(crate) fn command_item(record: &CommandRecord) -> Item {
    let outcome = record
        .outcome
        .iter()
        .map(|(aggregate, id, version)| {
            AttributeValue::M(HashMap::from([
                ("aggregate".to_owned(), AttributeValue::S(aggregate.clone())),
                ("id".to_owned(), AttributeValue::S(id.clone())),
                ("version".to_owned(), AttributeValue::N(version.to_string())),
            ]))
        })
        .collect();
    let mut item = primary_key(&command_key(&record.key), COMMAND_VERSION);
    item.insert(OUTCOME.into(), AttributeValue::L(outcome));
    item.insert(
        EXPIRES_AT.into(),
        AttributeValue::N(record.expires_at.to_string()),
    );
    item
}

/// Decodes a command record item of idempotency key `key`.
pub(crate) fn decode_command(key: &str, mut item: Item) -> Result<CommandRecord, Error> {
    // Command records sit under `$command#{key}`: errors name them so.
    let whose = Whose {
        aggregate: "$command",
        id: key,
    };
    let bad = |reason: String| corrupt(whose, 0, reason);
    let expires_at = match item.remove(EXPIRES_AT) {
        Some(AttributeValue::N(n)) => n
            .parse::<u64>()
            .map_err(|_| bad(format!("`expiresAt` {n:?} is not a time")))?,
        other => return Err(bad(describe(EXPIRES_AT, "N", other.as_ref()))),
    };
    let entries = match item.remove(OUTCOME) {
        Some(AttributeValue::L(entries)) => entries,
        other => return Err(bad(describe(OUTCOME, "L", other.as_ref()))),
    };
    let mut outcome = Vec::with_capacity(entries.len());
    for entry in entries {
        let AttributeValue::M(mut entry) = entry else {
            return Err(bad("an `outcome` entry is not a map".into()));
        };
        let (
            Some(AttributeValue::S(aggregate)),
            Some(AttributeValue::S(id)),
            Some(AttributeValue::N(version)),
        ) = (
            entry.remove("aggregate"),
            entry.remove("id"),
            entry.remove("version"),
        )
        else {
            return Err(bad(
                "an `outcome` entry lacks `aggregate` (S), `id` (S) or `version` (N)".into(),
            ));
        };
        let version = version.parse().map_err(|_| {
            bad(format!(
                "`outcome` version {version:?} is not a whole number"
            ))
        })?;
        outcome.push((aggregate, id, version));
    }
    Ok(CommandRecord {
        key: key.to_owned(),
        outcome,
        expires_at,
    })
}

/// The aggregate (or view kind) and id an item belongs to, as errors name
/// them; either is empty when the item does not say.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Whose<'a> {
    pub(crate) aggregate: &'a str,
    pub(crate) id: &'a str,
}

impl<'a> Whose<'a> {
    pub(crate) fn new(aggregate: &'a str, id: &'a str) -> Self {
        Whose { aggregate, id }
    }

    /// An item that names no aggregate or id, such as a stream image
    /// without a key.
    pub(crate) fn nobody() -> Self {
        Whose::new("", "")
    }
}

pub(crate) fn corrupt(whose: Whose<'_>, version: u64, reason: String) -> Error {
    Error::Corrupt {
        aggregate: whose.aggregate.to_owned().into(),
        id: whose.id.to_owned(),
        version,
        reason,
    }
}

fn describe(name: &str, expected: &str, found: Option<&AttributeValue>) -> String {
    match found {
        None => format!("`{name}` is missing"),
        Some(value) => format!("`{name}` is {}, not {expected}", type_name(value)),
    }
}

/// The DynamoDB type descriptor of a value.
pub(crate) fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::L(_) => "L",
        AttributeValue::M(_) => "M",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "an unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(version: u64, payload: Option<AttributeValue>) -> StoredEvent<AttributeValue> {
        StoredEvent {
            version,
            name: "Restocked".into(),
            schema: 1,
            timestamp: "2026-11-22T05:07:54.123Z".into(),
            payload,
            metadata: None,
            snapshot: None,
        }
    }

    #[test]
    fn the_first_event_carries_the_index_key_of_its_layout() {
        let item = event_item(Layout::SingleTable, "Product", "Product#1", event(1, None));
        assert_eq!(
            item.get(EVENT_STORE_ID),
            Some(&AttributeValue::S("Product".into()))
        );
        assert!(!item.contains_key(IS_INITIAL_EVENT));
        let item = event_item(Layout::TablePerAggregate, "Product", "1", event(1, None));
        assert_eq!(
            item.get(IS_INITIAL_EVENT),
            Some(&AttributeValue::N("1".into()))
        );
        assert!(!item.contains_key(EVENT_STORE_ID));
        let item = event_item(Layout::SingleTable, "Product", "Product#1", event(2, None));
        assert!(!item.contains_key(EVENT_STORE_ID));
    }

    #[test]
    fn null_and_empty_payloads_are_omitted() {
        for payload in [
            AttributeValue::Null(true),
            AttributeValue::M(HashMap::new()),
        ] {
            let item = event_item(Layout::SingleTable, "P", "P#1", event(2, Some(payload)));
            assert!(!item.contains_key(PAYLOAD));
        }
    }

    #[test]
    fn events_round_trip() {
        let payload = AttributeValue::M(HashMap::from([(
            "amount".into(),
            AttributeValue::N("3".into()),
        )]));
        let mut original = event(4, Some(payload));
        original.schema = 2;
        original.snapshot = Some(StoredSnapshot {
            schema: 3,
            state: AttributeValue::M(HashMap::from([("n".into(), AttributeValue::N("1".into()))])),
        });
        let item = event_item(Layout::SingleTable, "P", "P#1", original.clone());
        assert_eq!(
            decode_event(Whose::new("P", "1"), item).expect("decodes"),
            original
        );
    }

    #[test]
    fn mistyped_attributes_are_corrupt() {
        let mut item = event_item(Layout::SingleTable, "P", "P#1", event(2, None));
        item.insert(VERSION.into(), AttributeValue::S("2".into()));
        let err = decode_event(Whose::new("P", "1"), item).expect_err("version as S");
        assert!(
            matches!(&err, Error::Corrupt { aggregate, id, version: 0, reason } if aggregate == "P" && id == "1" && reason.contains("`version` is S")),
            "{err:?}"
        );
        let mut item = event_item(Layout::SingleTable, "P", "P#1", event(2, None));
        item.remove(TYPE);
        let err = decode_event(Whose::new("P", "1"), item).expect_err("no type");
        assert!(
            matches!(&err, Error::Corrupt { version: 2, reason, .. } if reason.contains("`type` is missing")),
            "{err:?}"
        );
    }

    #[test]
    fn versions_below_one_are_corrupt() {
        for version in ["0", "-1", "-0.5"] {
            let mut item = event_item(Layout::SingleTable, "P", "P#1", event(2, None));
            item.insert(VERSION.into(), AttributeValue::N(version.into()));
            let err = decode_event(Whose::new("P", "1"), item).expect_err(version);
            let expected = below_first_version(version);
            assert!(
                matches!(&err, Error::Corrupt { aggregate, id, version: 0, reason } if aggregate == "P" && id == "1" && *reason == expected),
                "{err:?}"
            );
        }
    }

    /// Found by `tests/fuzz.rs`: `-` alone was reported as below 1, and a
    /// whole number past `u64::MAX` as not whole.
    #[test]
    fn versions_that_are_no_numbers_or_too_large_say_so() {
        for (version, expected) in [
            ("-", "`version` \"-\" is not a whole number"),
            ("-x", "`version` \"-x\" is not a whole number"),
            ("--1", "`version` \"--1\" is not a whole number"),
            (
                "18446744073709551616",
                "`version` 18446744073709551616 is above u64::MAX, the last version there is",
            ),
            ("1.5", "`version` \"1.5\" is not a whole number"),
        ] {
            let mut item = event_item(Layout::SingleTable, "P", "P#1", event(2, None));
            item.insert(VERSION.into(), AttributeValue::N(version.into()));
            let err = decode_event(Whose::new("P", "1"), item).expect_err(version);
            assert!(
                matches!(&err, Error::Corrupt { reason, .. } if reason == expected),
                "{version}: {err:?}"
            );
        }
    }

    #[test]
    fn a_snapshot_without_its_schema_is_ignored() {
        let mut item = event_item(Layout::SingleTable, "P", "P#1", event(4, None));
        item.insert(SNAPSHOT.into(), AttributeValue::M(HashMap::new()));
        assert_eq!(
            decode_event(Whose::new("P", "1"), item)
                .expect("decodes")
                .snapshot,
            None
        );
    }

    #[test]
    fn command_records_round_trip() {
        let record = CommandRecord {
            key: "order-1".into(),
            outcome: vec![("Product".into(), "sku#1".into(), 7)],
            expires_at: 1_800_000_000,
        };
        let item = command_item(&record);
        assert_eq!(
            item.get(AGGREGATE_ID),
            Some(&AttributeValue::S("$command#order-1".into()))
        );
        assert_eq!(item.get(VERSION), Some(&AttributeValue::N("0".into())));
        assert_eq!(decode_command("order-1", item).expect("decodes"), record);
    }
}
