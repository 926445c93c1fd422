//! A bounded fuzz run of every public decoder of items and stream images:
//! random DynamoDB attribute-value trees shaped near castore's items (the
//! right attribute names with wrong types, missing attributes, huge and
//! negative numbers, odd strings, deep nesting, empty sets) go through
//!
//! - `records::kind_of` and `records::raw_event`, then the load path's typed
//!   decode (`es_core::store::decode_event`, with `DynamoStore` as codec);
//! - `DynamoStore::decode_stream_image`, in both layouts;
//! - `records::from_streams_image` and `StreamRecord: TryFrom<Record>` of the
//!   Streams SDK;
//! - with feature `lambda`: the JSON a Lambda function receives, read as
//!   `aws_lambda_events` reads it, then `StreamRecord: From<EventRecord>`.
//!
//! The property: nothing panics, every error is an error value that names
//! the item and what was wrong with it, and what decodes is what the image
//! said. It runs in the normal suite with a fixed number of cases; a longer
//! run (see `docs/dynamodb.md`, "Fuzzing the decoders"):
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test -p es-dynamo --all-features --release --test fuzz
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodbstreams::types as streams;
use es_core::conformance::model::Product;
use es_core::Error;
use es_dynamo::records::{from_streams_image, kind_of, raw_event, RecordKind};
use es_dynamo::{DynamoStore, Layout};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

type Image = HashMap<String, Av>;

/// Cases per property in the normal suite: a few seconds in a debug build.
const DEFAULT_CASES: u32 = 400;

/// Numbers as DynamoDB carries them, as strings: well-formed ones, and the
/// ones a hand-written or foreign item might hold.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1..40u64).prop_map(|n| n.to_string()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|n| n.to_string()),
        1 => "[0-9]{20,60}",
        1 => "-[0-9]{1,40}",
        1 => prop::sample::select(vec![
            "0", "-0", "00", "01", "+1", " 1", "1 ", "1.0", "1.5", "-0.5", "1e3", "1E+2",
            "1e400", "-1e-400", "NaN", "inf", "", "-", ".", "0x10", "4294967296",
            "18446744073709551615", "18446744073709551616", "٣",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Strings with what tends to break parsers: separators, `$`, control
/// characters, non-ASCII, replacement characters, and length.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9#$:'\" _-]{0,12}",
        2 => any::<String>(),
        1 => "[\\x00-\\x1f\u{7f}\u{fffd}\u{feff}\u{202e}\u{d7ff}\u{e000}🚀é#]{0,8}",
        1 => "#{1,3}[a-z]{0,3}#{0,2}",
        1 => prop::collection::vec(Just('x'), 1000..3000)
            .prop_map(|v| v.into_iter().collect()),
    ]
}

/// Any attribute value, nested up to `depth` levels, sets empty or not.
fn value_at(depth: u32) -> BoxedStrategy<Av> {
    let leaf = prop_oneof![
        string().prop_map(Av::S),
        number().prop_map(Av::N),
        any::<bool>().prop_map(Av::Bool),
        // DynamoDB only ever sends `NULL: true`; a hand-made image may not.
        any::<bool>().prop_map(Av::Null),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|b| Av::B(Blob::new(b))),
        prop::collection::vec(string(), 0..4).prop_map(Av::Ss),
        prop::collection::vec(number(), 0..4).prop_map(Av::Ns),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..4), 0..3)
            .prop_map(|v| Av::Bs(v.into_iter().map(Blob::new).collect())),
    ];
    leaf.prop_recursive(depth, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Av::L),
            prop::collection::hash_map(field_name(), inner, 0..5).prop_map(Av::M),
        ]
    })
    .boxed()
}

fn value() -> BoxedStrategy<Av> {
    value_at(4)
}

/// A value nested far deeper than DynamoDB's 32 levels, in maps and lists.
fn deep() -> impl Strategy<Value = Av> {
    (1..64usize, any::<bool>(), value_at(1)).prop_map(|(levels, lists, mut v)| {
        for level in 0..levels {
            v = if lists || level % 3 == 0 {
                Av::L(vec![v])
            } else {
                Av::M(HashMap::from([("amount".to_owned(), v)]))
            };
        }
        v
    })
}

/// Field names of the model's events and state, and of castore's items.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "amount", "cart_id", "quantity", "text", "on_hand", "notes", "discontinued",
            "correlationId", "causationId", "commandId", "aggregateId", "version",
        ])
        .prop_map(str::to_owned),
        1 => string(),
    ]
}

/// An attribute: usually of the right shape, sometimes missing, sometimes
/// any value at all, sometimes nested absurdly deep.
fn attribute(right: impl Strategy<Value = Av> + 'static) -> impl Strategy<Value = Option<Av>> {
    // Rare enough that about half the images have every attribute right
    // and get as far as the payload's decoding.
    prop_oneof![
        60 => right.prop_map(Some),
        2 => Just(None),
        2 => value().prop_map(Some),
        1 => deep().prop_map(Some),
    ]
}

fn key() -> impl Strategy<Value = Av> {
    prop_oneof![
        6 => prop::sample::select(vec!["sku-1", "sku-2", "a#b", "🚀 #:'\"", ""])
            .prop_map(|id| format!("Product#{id}")),
        1 => Just("Counter#c-1".to_owned()),
        1 => prop::sample::select(vec!["$command#k", "$checkpoint#p", "#", "#x", "Product", ""])
            .prop_map(str::to_owned),
        1 => string().prop_map(|id| format!("Product#{id}")),
        1 => string(),
        // Bare ids, as the table-per-aggregate layout stores them.
        1 => prop::sample::select(vec!["sku-1", "$command#k"]).prop_map(str::to_owned),
    ]
    .prop_map(Av::S)
}

/// The payload of an event named `name`, shaped as the model expects, with
/// the odd field of the wrong type or size.
fn payload_of(name: &str) -> BoxedStrategy<Option<Av>> {
    let field = |name: &'static str, right: BoxedStrategy<Av>| {
        prop_oneof![
            8 => right.prop_map(move |v| Some((name.to_owned(), v))),
            1 => Just(None),
            1 => value().prop_map(move |v| Some((name.to_owned(), v))),
        ]
    };
    let small = || {
        prop_oneof![
            8 => (0..1000u32).prop_map(|n| Av::N(n.to_string())),
            2 => number().prop_map(Av::N),
        ]
        .boxed()
    };
    let text = || string().prop_map(Av::S).boxed();
    let fields: BoxedStrategy<Vec<Option<(String, Av)>>> = match name {
        "Restocked" => field("amount", small()).prop_map(|f| vec![f]).boxed(),
        "Reserved" => (field("cart_id", text()), field("quantity", small()))
            .prop_map(|(a, b)| vec![a, b])
            .boxed(),
        "Noted" => field("text", text()).prop_map(|f| vec![f]).boxed(),
        _ => Just(Vec::new()).boxed(),
    };
    prop_oneof![
        8 => fields.prop_map(|fields| {
            let map: HashMap<String, Av> = fields.into_iter().flatten().collect();
            (!map.is_empty()).then_some(Av::M(map))
        }),
        1 => Just(Some(Av::Null(true))),
        2 => value().prop_map(Some),
    ]
    .boxed()
}

/// An image near an event item of the model's `Product`: every attribute
/// castore or es writes, each one right, missing, or wrong.
fn image() -> impl Strategy<Value = Image> {
    let name = prop_oneof![
        8 => prop::sample::select(vec!["Restocked", "Reserved", "Noted", "Discontinued"]),
        1 => prop::sample::select(vec!["Teleported", "", "restocked", "Restocked "]),
    ];
    let event =
        name.prop_flat_map(|name| (attribute(Just(Av::S(name.to_owned()))), payload_of(name)));
    let version = prop_oneof![
        6 => (1..20u64).prop_map(|v| v.to_string()),
        3 => number(),
    ]
    .prop_map(Av::N);
    let timestamp = prop_oneof![
        4 => Just("2026-11-23T10:00:00.000Z".to_owned()),
        1 => string(),
    ]
    .prop_map(Av::S);
    let metadata = (field_name(), value()).prop_map(|(k, v)| Av::M(HashMap::from([(k, v)])));
    let schema = prop_oneof![4 => Just("1".to_owned()), 2 => number()].prop_map(Av::N);
    let snapshot = (
        (0..100u32).prop_map(|n| Av::N(n.to_string())),
        any::<bool>().prop_map(Av::Bool),
    )
        .prop_map(|(on_hand, discontinued)| {
            Av::M(HashMap::from([
                ("on_hand".to_owned(), on_hand),
                ("notes".to_owned(), Av::N("0".to_owned())),
                ("discontinued".to_owned(), discontinued),
            ]))
        });
    let extra = prop::collection::hash_map(
        prop_oneof![
            3 => prop::sample::select(vec![
                "eventStoreId", "isInitialEvent", "outcome", "expiresAt", "snapshotSchema",
            ])
            .prop_map(str::to_owned),
            1 => string(),
        ],
        value(),
        0..3,
    );
    (
        (
            attribute(key()),
            attribute(version),
            event,
            attribute(timestamp),
        ),
        (
            attribute(metadata),
            attribute(schema),
            prop_oneof![3 => Just(None), 2 => attribute(snapshot)],
            attribute(prop_oneof![
                Just(Av::N("1".to_owned())),
                number().prop_map(Av::N)
            ]),
            extra,
        ),
    )
        .prop_map(
            |(
                (key, version, (name, payload), timestamp),
                (metadata, schema, snapshot, snapshot_schema, extra),
            )| {
                let mut image: Image = extra;
                for (attribute, value) in [
                    ("aggregateId", key),
                    ("version", version),
                    ("type", name),
                    ("timestamp", timestamp),
                    ("payload", payload),
                    ("metadata", metadata),
                    ("schema", schema),
                    ("snapshot", snapshot),
                    ("snapshotSchema", snapshot_schema),
                ] {
                    match value {
                        Some(value) => image.insert(attribute.to_owned(), value),
                        None => image.remove(attribute),
                    };
                }
                image
            },
        )
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => Just("INSERT".to_owned()),
        1 => prop::sample::select(vec!["MODIFY", "REMOVE", "insert", ""]).prop_map(str::to_owned),
        1 => string(),
    ]
}

/// Whether an error says what was wrong and where: a corrupt item names its
/// key (or that it came from a stream image) and a reason; an event of an
/// unknown name names it; anything else says something.
fn names_what_was_wrong<E: std::error::Error>(err: &Error<E>) -> Result<(), TestCaseError> {
    let text = err.to_string();
    match err {
        Error::Corrupt {
            aggregate,
            id,
            reason,
            ..
        } => {
            prop_assert!(
                !aggregate.is_empty() || !id.is_empty() || reason.starts_with("a stream image"),
                "a corrupt item that names neither its aggregate nor id: {text}"
            );
            prop_assert!(reason.len() >= 10, "a reason that says little: {text}");
        }
        Error::UnknownEvent { .. } => {
            prop_assert!(text.contains("Product"), "{text}");
        }
        _ => prop_assert!(!text.is_empty()),
    }
    Ok(())
}

/// How many cases reached each outcome, so that a generator gone wrong
/// (one that never makes a decodable image, say) fails the run rather than
/// passing it vacuously.
#[derive(Default)]
struct Outcomes {
    decoded: AtomicU64,
    refused: AtomicU64,
    passed_over: AtomicU64,
    /// One error per kind of reason, for `--nocapture` to show what the
    /// refusals said.
    reasons: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl Outcomes {
    fn count(&self, outcome: &AtomicU64) {
        outcome.fetch_add(1, Ordering::Relaxed);
    }

    fn refuse<E: std::error::Error>(&self, err: &Error<E>) -> Result<(), TestCaseError> {
        self.count(&self.refused);
        names_what_was_wrong(err)?;
        let text = err.to_string();
        // The reason's words, without the numbers and quoted values.
        let reason = match err {
            Error::Corrupt { reason, .. } => reason.clone(),
            Error::UnknownEvent { .. } => "an unknown event".to_owned(),
            other => other.to_string(),
        };
        let kind = reason
            .split(' ')
            .filter(|w| !w.contains(|c: char| c.is_ascii_digit() || c == '"'))
            .take(8)
            .collect::<Vec<_>>()
            .join(" ");
        if let Ok(mut reasons) = self.reasons.lock() {
            reasons.entry(kind).or_insert(text);
        }
        Ok(())
    }

    /// At least one case in 20 in each outcome.
    fn check(&self, cases: u32, what: &str) {
        let each = [
            ("decoded", &self.decoded),
            ("refused", &self.refused),
            ("passed over", &self.passed_over),
        ];
        let counts: Vec<String> = each
            .iter()
            .map(|(name, n)| format!("{} {name}", n.load(Ordering::Relaxed)))
            .collect();
        eprintln!("{what}: {} of {cases} images", counts.join(", "));
        if let Ok(reasons) = self.reasons.lock() {
            for text in reasons.values() {
                eprintln!("  refused: {}", text.chars().take(200).collect::<String>());
            }
        }
        for (name, outcome) in each {
            let n = outcome.load(Ordering::Relaxed);
            assert!(
                n * 20 >= u64::from(cases),
                "{what}: only {n} of {cases} images were {name}; the generator has drifted"
            );
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        // A failing image is shrunk, and printed; a panic is reported as a
        // failure. Regressions are kept as named tests in this file.
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}");
    }
}

/// A store that never sends a request: decoding needs none.
fn offline(layout: Layout) -> DynamoStore {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .build();
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "events").with_layout(layout)
}

/// `raw_event`, then the load path's typed decode, checked against the
/// image and against `kind_of`.
fn check_records(
    event_name: &str,
    image: Image,
    layout: Layout,
    outcomes: &Outcomes,
) -> Result<(), TestCaseError> {
    let listened: &[&'static str] = &["Product"];
    let kind = kind_of(event_name, &image, layout, Some("Product"));
    let key = image.get("aggregateId").cloned();
    match raw_event(event_name, image, layout, listened) {
        Ok(None) => {
            outcomes.count(&outcomes.passed_over);
            // Only what is no event of Product is passed over.
            if let Ok(RecordKind::Event { aggregate, .. }) = &kind {
                prop_assert_ne!(aggregate.as_str(), "Product");
            }
        }
        Ok(Some(raw)) => {
            let Ok(RecordKind::Event {
                aggregate,
                id,
                version,
            }) = kind
            else {
                return Err(TestCaseError::fail(format!(
                    "raw_event decoded what kind_of calls {kind:?}"
                )));
            };
            prop_assert_eq!((&raw.aggregate, &raw.id), (&aggregate, &id));
            prop_assert_eq!(raw.event.version, version);
            prop_assert!(version >= 1);
            let expected_key = match layout {
                Layout::SingleTable => format!("Product#{id}"),
                _ => id.clone(),
            };
            prop_assert_eq!(key, Some(Av::S(expected_key)));
            let store = offline(layout);
            match es_core::store::decode_event::<Product, _>(&store, &raw.id, raw.event) {
                Ok(recorded) => {
                    outcomes.count(&outcomes.decoded);
                    prop_assert_eq!(recorded.version, version);
                }
                Err(err) => outcomes.refuse(&err)?,
            }
        }
        Err(err) => {
            outcomes.refuse(&err)?;
            prop_assert!(kind.is_err() || event_name == "INSERT", "{err}");
        }
    }
    Ok(())
}

#[test]
fn records_decode_any_image_or_say_what_is_wrong() {
    let outcomes = Outcomes::default();
    run(
        (event_name(), image(), any::<bool>()),
        |(name, image, legacy)| {
            let layout = if legacy {
                Layout::TablePerAggregate
            } else {
                Layout::SingleTable
            };
            check_records(&name, image, layout, &outcomes)
        },
    );
    outcomes.check(cases(), "raw_event");
}

#[test]
fn decode_stream_image_decodes_any_image_or_says_what_is_wrong() {
    let single = offline(Layout::SingleTable);
    let legacy = offline(Layout::TablePerAggregate);
    let outcomes = Outcomes::default();
    run(image(), |image| {
        for store in [&single, &legacy] {
            let key = image.get("aggregateId").cloned();
            match futures::executor::block_on(store.decode_stream_image::<Product>(image.clone())) {
                Ok(Some(event)) => {
                    outcomes.count(&outcomes.decoded);
                    prop_assert!(event.recorded.version >= 1);
                    let expected = match store.layout() {
                        Layout::SingleTable => format!("Product#{}", event.id),
                        _ => event.id.clone(),
                    };
                    prop_assert_eq!(key, Some(Av::S(expected)));
                }
                Ok(None) => outcomes.count(&outcomes.passed_over),
                Err(err) => outcomes.refuse(&err)?,
            }
        }
        Ok(())
    });
    outcomes.check(2 * cases(), "decode_stream_image");
}

/// The same value as the Streams SDK's type.
fn to_streams(value: Av) -> streams::AttributeValue {
    use streams::AttributeValue as S;
    match value {
        Av::S(s) => S::S(s),
        Av::N(n) => S::N(n),
        Av::B(b) => S::B(b),
        Av::Bool(b) => S::Bool(b),
        Av::Null(n) => S::Null(n),
        Av::Ss(v) => S::Ss(v),
        Av::Ns(v) => S::Ns(v),
        Av::Bs(v) => S::Bs(v),
        Av::L(v) => S::L(v.into_iter().map(to_streams).collect()),
        Av::M(m) => S::M(m.into_iter().map(|(k, v)| (k, to_streams(v))).collect()),
        other => panic!("the generator made {other:?}"),
    }
}

#[test]
fn streams_records_convert_and_decode_or_say_what_is_wrong() {
    let outcomes = Outcomes::default();
    let parts = (
        event_name(),
        image(),
        prop::option::weighted(0.9, Just(())),
        prop::option::weighted(0.9, "[0-9]{1,24}"),
    );
    run(parts, |(name, image, has_change, sequence)| {
        let converted: Image = from_streams_image(
            image
                .clone()
                .into_iter()
                .map(|(k, v)| (k, to_streams(v)))
                .collect(),
        )
        .map_err(|e| TestCaseError::fail(format!("a known value refused: {e}")))?;
        prop_assert_eq!(&converted, &image, "the conversion keeps every value");

        let change = has_change.map(|()| {
            streams::StreamRecord::builder()
                .set_sequence_number(sequence.clone())
                .set_new_image(Some(
                    image.into_iter().map(|(k, v)| (k, to_streams(v))).collect(),
                ))
                .build()
        });
        let record = streams::Record::builder()
            .event_name(streams::OperationType::from(name.as_str()))
            .event_id("e-1")
            .set_dynamodb(change)
            .build();
        match es_dynamo::batch::StreamRecord::try_from(record) {
            Ok(record) => {
                prop_assert!(has_change.is_some());
                prop_assert_eq!(&record.sequence_number, &sequence);
                check_records(
                    &record.event_name,
                    record.new_image,
                    Layout::SingleTable,
                    &outcomes,
                )?;
            }
            Err(err) => {
                prop_assert!(has_change.is_none(), "{err}");
                prop_assert!(err.to_string().contains("no `dynamodb` part"), "{err}");
            }
        }
        Ok(())
    });
    outcomes.check(cases(), "StreamRecord from the Streams SDK");
}

/// What a Lambda function receives: DynamoDB JSON, as `aws_lambda_events`
/// reads it, with the JSON itself sometimes wrong (a number where DynamoDB
/// puts a string, an unknown or missing type descriptor, two descriptors).
#[cfg(feature = "lambda")]
mod lambda {
    use super::*;
    use serde_json::{json, Value};

    fn to_json(value: &Av) -> Value {
        let blob = |b: &Blob| Value::String(base64(b.as_ref()));
        match value {
            Av::S(s) => json!({ "S": s }),
            Av::N(n) => json!({ "N": n }),
            Av::B(b) => json!({ "B": blob(b) }),
            Av::Bool(b) => json!({ "BOOL": b }),
            Av::Null(n) => json!({ "NULL": n }),
            Av::Ss(v) => json!({ "SS": v }),
            Av::Ns(v) => json!({ "NS": v }),
            Av::Bs(v) => json!({ "BS": v.iter().map(blob).collect::<Vec<_>>() }),
            Av::L(v) => json!({ "L": v.iter().map(to_json).collect::<Vec<_>>() }),
            Av::M(m) => {
                json!({ "M": m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<serde_json::Map<_, _>>() })
            }
            other => panic!("the generator made {other:?}"),
        }
    }

    /// Binary as Lambda's JSON carries it: standard base64, padded.
    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// A JSON value where DynamoDB JSON has an attribute value, wrong.
    fn wrong_json() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(|n| json!({ "N": n })),
            Just(json!({ "S": null })),
            Just(json!({})),
            Just(json!({ "S": "a", "N": "1" })),
            Just(json!({ "X": "1" })),
            Just(json!("Product#sku-1")),
            Just(json!([{"S": "x"}])),
            Just(json!({ "SS": "not a list" })),
            Just(json!({ "M": [] })),
            Just(json!({ "L": {"S": "x"} })),
            Just(json!({ "BOOL": "true" })),
        ]
    }

    fn event_json() -> impl Strategy<Value = (Value, bool)> {
        (
            event_name(),
            image(),
            prop::option::weighted(0.1, (field_name_of_image(), wrong_json())),
        )
            .prop_map(|(name, image, wrong)| {
                let mut new_image: serde_json::Map<String, Value> = image
                    .iter()
                    .map(|(k, v)| (k.clone(), to_json(v)))
                    .collect();
                let well_formed = wrong.is_none();
                if let Some((attribute, value)) = wrong {
                    new_image.insert(attribute, value);
                }
                let event = json!({ "Records": [{
                    "eventID": "e-1",
                    "eventName": name,
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "us-east-1",
                    "dynamodb": {
                        "ApproximateCreationDateTime": 1796190000,
                        "Keys": {},
                        "NewImage": new_image,
                        "SequenceNumber": "100",
                        "SizeBytes": 100,
                        "StreamViewType": "NEW_IMAGE",
                    },
                    "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-12-02T00:00:00.000",
                }]});
                (event, well_formed)
            })
    }

    fn field_name_of_image() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "aggregateId",
            "version",
            "type",
            "timestamp",
            "payload",
            "metadata",
        ])
        .prop_map(str::to_owned)
    }

    #[test]
    fn lambda_events_decode_or_say_what_is_wrong() {
        let outcomes = Outcomes::default();
        let parsed = AtomicU64::new(0);
        run(event_json(), |(json, well_formed)| {
            let event: aws_lambda_events::event::dynamodb::Event =
                match serde_json::from_value(json) {
                    Ok(event) => event,
                    Err(err) => {
                        // The Lambda runtime refuses such an event before es
                        // sees it; what es makes of the ones it does see is
                        // what matters. Well-formed DynamoDB JSON always parses.
                        prop_assert!(!well_formed, "well-formed JSON refused: {err}");
                        return Ok(());
                    }
                };
            parsed.fetch_add(1, Ordering::Relaxed);
            for record in event.records {
                let record = es_dynamo::batch::StreamRecord::from(record);
                prop_assert_eq!(record.sequence_number.as_deref(), Some("100"));
                check_records(
                    &record.event_name,
                    record.new_image,
                    Layout::SingleTable,
                    &outcomes,
                )?;
            }
            Ok(())
        });
        let parsed = parsed.load(Ordering::Relaxed);
        assert!(
            parsed * 10 >= u64::from(cases()) * 7,
            "only {parsed} of {} events parsed",
            cases()
        );
        outcomes.check(cases(), "StreamRecord from a Lambda event");
    }
}
