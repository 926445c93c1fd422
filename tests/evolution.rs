//! Schema evolution: events stored years ago, in shapes and under names the
//! code has since changed, read through every path that reads events (a
//! load, the tail after a snapshot, `history()`, `load_as_of`, a projection
//! fed by the change feed, and stream records as Lambda and the Streams API
//! deliver them), on the memory store and on DynamoDB Local alike.
//!
//! The old items are written raw, as an older build wrote them, through
//! `EventStore::commit` with `StoredEvent`s of the old schema and name: the
//! current code never writes them, which is the point.
//!
//! `cargo test --test evolution`; the `dynamo::` tests need DynamoDB Local
//! (`scripts/dynamodb-local.sh run -- cargo test --test evolution`) and skip
//! without it.

use std::sync::Mutex;

use es::prelude::*;
use es::store::{Append, Commit, Direction, ReadRequest, StoredEvent, StoredSnapshot};
use es::EventSet as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

// ---- The domain, as the code stands today ----------------------------------

/// Schema 1 of `ItemReserved`, under its old name `ItemHeld`: `qty`.
#[derive(Deserialize)]
pub struct ItemReservedV1 {
    pub qty: u32,
}

/// Schema 2: `qty` became `quantity`.
#[derive(Deserialize)]
pub struct ItemReservedV2 {
    pub quantity: u32,
}

impl From<ItemReservedV1> for ItemReservedV2 {
    fn from(old: ItemReservedV1) -> Self {
        ItemReservedV2 { quantity: old.qty }
    }
}

/// Before schema 3 no cart was recorded.
const NO_CART: &str = "(before carts)";

impl From<ItemReservedV2> for ItemReserved {
    fn from(old: ItemReservedV2) -> Self {
        ItemReserved {
            quantity: old.quantity,
            cart: NO_CART.to_owned(),
        }
    }
}

/// Schema 3, the current one, renamed from `ItemHeld` (and, before that,
/// `Held`).
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(
    name = "ItemReserved",
    version = 3,
    aliases("ItemHeld", "Held"),
    upcast(v1 = ItemReservedV1, v2 = ItemReservedV2)
)]
pub struct ItemReserved {
    pub quantity: u32,
    pub cart: String,
}

/// Schema 2 of a restock; schema 1 stored the amount as a string under
/// `units`, which no typed shape of ours wants to keep around.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 2, upcast(with = restocked_from_v1))]
pub struct Restocked {
    pub amount: u32,
}

fn restocked_from_v1(payload: Value, schema: u32) -> Result<Restocked, String> {
    let units = payload
        .get("units")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("schema {schema} of Restocked has `units` as a string"))?;
    let amount = units
        .parse()
        .map_err(|e| format!("`units` {units:?} is not an amount: {e}"))?;
    Ok(Restocked { amount })
}

/// An event at schema 2 with no upcaster: its schema 1 items cannot be read.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 2)]
pub struct Audited {
    pub by: String,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(snapshot_every = 3)]
pub struct Stock {
    pub on_hand: u32,
    pub reserved: u32,
    pub carts: Vec<String>,
}

#[es::handlers]
impl Stock {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }

    #[on(ItemReserved)]
    fn reserved(&mut self, e: &ItemReserved) {
        self.reserved += e.quantity;
        self.carts.push(e.cart.clone());
    }

    #[on(Audited)]
    fn audited(&mut self, _: &Audited) {}
}

/// Every event it sees, as `id vN event`.
#[derive(Default)]
pub struct Seen(Mutex<Vec<String>>);

impl Seen {
    fn push(&self, at: &Envelope, event: String) {
        let line = format!("{} v{} {event}", at.id, at.version);
        self.0.lock().expect("lock").push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
}

#[es::projection]
impl Seen {
    #[on(ItemReserved)]
    async fn reserved(&self, e: &ItemReserved, at: &Envelope) {
        self.push(at, format!("{e:?}"));
    }

    #[on(Restocked)]
    async fn restocked(&self, e: &Restocked, at: &Envelope) {
        self.push(at, format!("{e:?}"));
    }
}

// ---- Old items, written as an older build wrote them -----------------------

/// One item as stored: its name, schema and payload.
struct Old {
    name: &'static str,
    schema: u32,
    payload: Value,
}

fn old(name: &'static str, schema: u32, payload: Value) -> Old {
    Old {
        name,
        schema,
        payload,
    }
}

fn timestamp(version: u64) -> String {
    format!("2026-12-02T07:00:{version:02}.000Z")
}

/// Appends `items` to `Stock` `id` as they are, from version 1, with a
/// snapshot of `snapshot.1` at version `snapshot.0`.
async fn write_old<S: EventStore>(
    store: &S,
    id: &str,
    items: Vec<Old>,
    snapshot: Option<(u64, &Stock)>,
) {
    let events = items
        .into_iter()
        .zip(1u64..)
        .map(|(item, version)| StoredEvent {
            version,
            name: item.name.to_owned(),
            schema: item.schema,
            timestamp: timestamp(version),
            payload: Some(store.encode(&item.payload).expect("encodes")),
            metadata: None,
            snapshot: snapshot
                .filter(|(at, _)| *at == version)
                .map(|(_, state)| StoredSnapshot {
                    schema: Stock::SNAPSHOT_SCHEMA,
                    state: store.encode(state).expect("encodes"),
                }),
        })
        .collect();
    store
        .commit(Commit {
            appends: vec![Append {
                aggregate: Stock::NAME,
                id: id.to_owned(),
                expected: 0,
                events,
            }],
            command: None,
            exact_conflict: true,
        })
        .await
        .expect("the old items are written");
}

/// The stored items of `Stock` `id`, raw, oldest first.
async fn raw<S: EventStore>(store: &S, id: &str) -> Vec<StoredEvent<S::Payload>> {
    let page = store
        .read(ReadRequest {
            aggregate: Stock::NAME,
            id,
            after: 0,
            until: None,
            direction: Direction::Forward,
            limit: None,
            cursor: None,
        })
        .await
        .expect("reads");
    assert!(page.next.is_none(), "one page holds these few items");
    page.items
}

fn reserved(quantity: u32, cart: &str) -> StockEvent {
    ItemReserved {
        quantity,
        cart: cart.to_owned(),
    }
    .into()
}

fn restocked(amount: u32) -> StockEvent {
    Restocked { amount }.into()
}

/// The state a replay of `events` gives, through the aggregate's own
/// handlers.
fn replay(events: &[StockEvent]) -> Stock {
    let mut state = Stock::default();
    for event in events {
        state.apply(event).expect("applies");
    }
    state
}

fn debug(events: &[StockEvent]) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

/// A history of every old shape: schema 1 under the old name, schema 2,
/// the current schema, and the `with` function's schema 1, with a snapshot
/// at version 3 in the current state shape (snapshots have their own
/// schema, and were written by the build of their day from its state).
fn old_history() -> (Vec<Old>, Vec<StockEvent>) {
    let items = vec![
        old("Restocked", 1, json!({ "units": "10" })),
        old("ItemHeld", 1, json!({ "qty": 2 })),
        old("ItemReserved", 2, json!({ "quantity": 3 })),
        old("ItemReserved", 3, json!({ "quantity": 1, "cart": "c-9" })),
        old("ItemReserved", 1, json!({ "qty": 4 })),
    ];
    let upcast = vec![
        restocked(10),
        reserved(2, NO_CART),
        reserved(3, NO_CART),
        reserved(1, "c-9"),
        reserved(4, NO_CART),
    ];
    (items, upcast)
}

/// Upcasting on a plain load, on the tail after a snapshot, in `history()`
/// and `load_as_of`, and what a new commit writes, on any store. Returns the
/// events as upcast, for the projection checks.
async fn loads_upcast<S: EventStore>(store: &S, id: &str) -> Vec<StockEvent> {
    let (items, expected) = old_history();
    let snapshot = replay(&expected[..3]);
    write_old(store, id, items, Some((3, &snapshot))).await;
    let whole = replay(&expected);

    // A plain load: every event from version 1, no snapshot.
    let mut plain = Root::<Stock, S>::new(store, id);
    assert_eq!(plain.hydrate().await.expect("hydrates"), 5);
    assert_eq!(plain.state(), &whole);
    assert_eq!(
        whole.carts,
        [NO_CART, NO_CART, "c-9", NO_CART],
        "V1 and V2 go through the chain"
    );
    assert_eq!((whole.on_hand, whole.reserved), (10, 10));

    // A load from the snapshot at 3 reads versions 5, 4 and 3 only: the
    // tail after the snapshot, schema 3 and schema 1, is upcast.
    let before = store.stats().snapshot();
    let loaded = Stock::load(store, id).await.expect("loads");
    let read = store.stats().snapshot() - before;
    assert_eq!(read.items_read, 3, "the snapshot at 3 and the two after it");
    assert_eq!((loaded.version(), loaded.state()), (5, &whole));

    // history(), every event as the current type.
    let history: Vec<_> = loaded.history().try_collect().await.expect("history");
    let events: Vec<StockEvent> = history.iter().map(|r| r.event.clone()).collect();
    assert_eq!(debug(&events), debug(&expected));
    let versions: Vec<u64> = history.iter().map(|r| r.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);

    // As of version 2: below the snapshot, a replay of old shapes.
    let then = Stock::load_at(store, id, 2).await.expect("as of 2");
    assert_eq!(then.state(), &replay(&expected[..2]));

    // A new commit writes the current name and schema; the old items stay.
    let mut root = loaded;
    root.commit(ItemReserved {
        quantity: 5,
        cart: "c-10".into(),
    })
    .await
    .expect("commits");
    let stored = raw(store, id).await;
    let shapes: Vec<(&str, u32)> = stored.iter().map(|e| (e.name.as_str(), e.schema)).collect();
    assert_eq!(
        shapes,
        [
            ("Restocked", 1),
            ("ItemHeld", 1),
            ("ItemReserved", 2),
            ("ItemReserved", 3),
            ("ItemReserved", 1),
            ("ItemReserved", 3),
        ]
    );
    let mut all = expected;
    all.push(reserved(5, "c-10"));
    assert_eq!(
        Stock::load(store, id).await.expect("loads").state(),
        &replay(&all)
    );
    all
}

/// What `Seen` should have seen of `events` of `id`, oldest first.
fn seen(id: &str, events: &[StockEvent]) -> Vec<String> {
    events
        .iter()
        .zip(1..)
        .map(|(event, version)| {
            let inner = match event {
                StockEvent::ItemReserved(e) => format!("{e:?}"),
                StockEvent::Restocked(e) => format!("{e:?}"),
                StockEvent::Audited(e) => format!("{e:?}"),
            };
            format!("{id} v{version} {inner}")
        })
        .collect()
}

/// A DynamoDB Streams record as Lambda delivers it, in the JSON shape AWS
/// documents, for an item of `Stock` `id`.
fn lambda_record(id: &str, version: u64, item: &Old) -> Value {
    let payload: serde_json::Map<String, Value> = item
        .payload
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| {
            let attribute = match v {
                Value::String(s) => json!({ "S": s }),
                Value::Number(n) => json!({ "N": n.to_string() }),
                other => panic!("not used here: {other}"),
            };
            (k.clone(), attribute)
        })
        .collect();
    let key = format!("Stock#{id}");
    json!({
        "eventID": format!("{id}-{version}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1796187600 + version,
            "Keys": { "aggregateId": { "S": key }, "version": { "N": version.to_string() } },
            "NewImage": {
                "aggregateId": { "S": key },
                "version": { "N": version.to_string() },
                "type": { "S": item.name },
                "schema": { "N": item.schema.to_string() },
                "timestamp": { "S": timestamp(version) },
                "payload": { "M": payload },
                "eventStoreId": { "S": "Stock" }
            },
            "SequenceNumber": format!("{:024}", version),
            "SizeBytes": 200,
            "StreamViewType": "NEW_IMAGE"
        },
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/shop-events/stream/2026-12-01T00:00:00.000"
    })
}

/// Projects `items` of `Stock` `id`, as a Lambda event, into a new `Seen`.
async fn through_lambda(id: &str, items: &[Old]) -> Vec<String> {
    let records: Vec<Value> = items
        .iter()
        .zip(1..)
        .map(|(item, version)| lambda_record(id, version, item))
        .collect();
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(json!({ "Records": records })).expect("the AWS event shape");
    // The records start at version 1: the projector has no gap to read,
    // so its store is never asked.
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
        .build();
    let offline =
        es_dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "events");
    let projector = Projector::new(offline, MemoryViews::new(), Seen::default());
    let report = es_dynamo::lambda::project(&projector, event).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.applied, items.len());
    projector.projection().lines()
}

/// Old items that cannot be read fail in words that name the item: a schema
/// newer than the build's, a schema no upcaster covers, an old shape whose
/// field does not fit (by its path, as current shapes' errors do), and an
/// upcast function's own error.
async fn unreadable_old_items<S: EventStore>(store: &S, prefix: &str) {
    let cases = [
        (
            old("ItemReserved", 4, json!({ "quantity": 1, "cart": "c" })),
            vec![
                "version 1",
                "ItemReserved",
                "schema 4",
                "newer than this build's 3",
            ],
        ),
        (
            old("ItemReserved", 0, json!({ "quantity": 1, "cart": "c" })),
            vec![
                "version 1",
                "payload of ItemReserved",
                "schema 0 is no schema",
            ],
        ),
        (
            old("Audited", 1, json!({ "by": "ops" })),
            vec![
                "version 1",
                "schema 1 is older than this build's 2",
                "Audited has no upcaster from schema 1",
                "upcast(v1 = AuditedV1)",
            ],
        ),
        (
            old("ItemHeld", 1, json!({ "qty": "two" })),
            vec![
                "version 1",
                "payload of ItemHeld",
                "field `qty`",
                "invalid type",
            ],
        ),
        (
            old("ItemReserved", 2, json!({ "quantity": -1 })),
            vec!["version 1", "field `quantity`", "invalid value"],
        ),
        (
            old("Restocked", 1, json!({ "units": "ten" })),
            vec![
                "version 1",
                "payload of Restocked",
                "`units` \"ten\" is not an amount",
            ],
        ),
    ];
    for (n, (item, words)) in cases.into_iter().enumerate() {
        let id = format!("{prefix}-{n}");
        write_old(store, &id, vec![item], None).await;
        let err = Stock::load(store, &id).await.expect_err("cannot be read");
        assert!(
            matches!(&err, es::Error::Corrupt { aggregate, id: corrupt_id, version: 1, .. } if aggregate == "Stock" && *corrupt_id == id),
            "{err:?}"
        );
        let text = err.to_string();
        for word in words {
            assert!(text.contains(word), "{word:?} in {text}");
        }
        // The projection path fails in the same words.
        let events = raw(store, &id).await;
        let stored = events.into_iter().next().expect("one item");
        let err = es::store::decode_event::<Stock, S>(store, &id, stored).expect_err("same");
        assert_eq!(err.to_string(), text);
    }
}

mod memory {
    use super::*;

    #[tokio::test]
    async fn upcasters_apply_on_load_snapshot_tail_and_stream() {
        let store = MemoryStore::new();
        let events = loads_upcast(&store, "sku-1").await;

        // A projection fed by the change feed reads the old items upcast.
        let view = Projector::new(store.clone(), MemoryViews::new(), Seen::default());
        let mut position = 0;
        let read = store
            .catch_up(&view, &mut position)
            .await
            .expect("projects");
        assert_eq!(read, 6);
        assert_eq!(view.projection().lines(), seen("sku-1", &events));

        // Stream records of the same old items, as Lambda delivers them.
        let (items, upcast) = old_history();
        assert_eq!(
            through_lambda("sku-1", &items).await,
            seen("sku-1", &upcast)
        );
    }

    #[tokio::test]
    async fn renamed_event_loads_by_alias() {
        let store = MemoryStore::new();
        let events = renamed(&store, "sku-7").await;

        let view = Projector::new(store.clone(), MemoryViews::new(), Seen::default());
        let mut position = 0;
        store
            .catch_up(&view, &mut position)
            .await
            .expect("projects");
        assert_eq!(view.projection().lines(), seen("sku-7", &events));

        let (items, upcast) = by_old_names();
        assert_eq!(
            through_lambda("sku-7", &items).await,
            seen("sku-7", &upcast)
        );
    }

    #[tokio::test]
    async fn unreadable_old_items_name_the_item_and_what_is_missing() {
        unreadable_old_items(&MemoryStore::new(), "bad").await;
    }
}

/// Items under each name `ItemReserved` was stored under.
fn by_old_names() -> (Vec<Old>, Vec<StockEvent>) {
    let items = vec![
        old("Held", 1, json!({ "qty": 1 })),
        old("ItemHeld", 2, json!({ "quantity": 2 })),
        old("ItemHeld", 3, json!({ "quantity": 3, "cart": "c-1" })),
    ];
    let upcast = vec![
        reserved(1, NO_CART),
        reserved(2, NO_CART),
        reserved(3, "c-1"),
    ];
    (items, upcast)
}

/// Items stored under the old names load and read in `history()` as the
/// renamed event; a new commit writes the new name. Returns the events.
async fn renamed<S: EventStore>(store: &S, id: &str) -> Vec<StockEvent> {
    let (items, mut expected) = by_old_names();
    write_old(store, id, items, None).await;
    let mut root = Stock::load(store, id).await.expect("loads");
    assert_eq!(root.state(), &replay(&expected));
    let history: Vec<_> = root.history().try_collect().await.expect("history");
    let names: Vec<&str> = history.iter().map(|r| r.event.name()).collect();
    assert_eq!(names, ["ItemReserved"; 3]);

    root.commit(ItemReserved {
        quantity: 4,
        cart: "c-2".into(),
    })
    .await
    .expect("commits");
    expected.push(reserved(4, "c-2"));
    let stored: Vec<String> = raw(store, id).await.into_iter().map(|e| e.name).collect();
    assert_eq!(stored, ["Held", "ItemHeld", "ItemHeld", "ItemReserved"]);
    assert_eq!(
        Stock::load(store, id).await.expect("loads").state(),
        &replay(&expected)
    );

    // The event enum's own serde reads the old name too.
    let tagged: StockEvent = serde_json::from_value(
        json!({ "type": "Held", "payload": { "quantity": 6, "cart": "c" } }),
    )
    .expect("decodes");
    assert_eq!(debug(&[tagged]), debug(&[reserved(6, "c")]));
    expected
}

mod dynamo {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;
    use es_dynamo::batch::{project_batch, StreamRecord};
    use es_dynamo::testing::{scan, skip_without_dynamodb, store_on_new_table};
    use es_dynamo::DynamoStore;

    use super::*;

    /// The table's items of `Stock` `id`, oldest first, as INSERT records of
    /// its stream: a `NEW_IMAGE` is the item as written.
    async fn stream_records(store: &DynamoStore, id: &str) -> Vec<StreamRecord> {
        let key = AttributeValue::S(format!("Stock#{id}"));
        let mut items: Vec<HashMap<String, AttributeValue>> = scan(store)
            .await
            .into_iter()
            .filter(|item| item.get("aggregateId") == Some(&key))
            .collect();
        let version = |item: &HashMap<String, AttributeValue>| match item.get("version") {
            Some(AttributeValue::N(n)) => n.parse::<u64>().expect("a version"),
            other => panic!("no version: {other:?}"),
        };
        items.sort_by_key(version);
        items
            .into_iter()
            .map(|item| StreamRecord {
                sequence_number: Some(format!("{:024}", version(&item))),
                event_name: "INSERT".to_owned(),
                new_image: item,
            })
            .collect()
    }

    /// Decodes each record of `id` as a stream consumer of the aggregate
    /// does, and projects them all as the stream runner and Lambda do.
    async fn through_stream(store: &DynamoStore, id: &str, expected: &[StockEvent]) {
        let records = stream_records(store, id).await;
        assert_eq!(records.len(), expected.len());
        let mut decoded = Vec::new();
        for record in &records {
            let event = store
                .decode_stream_image::<Stock>(record.new_image.clone())
                .await
                .expect("decodes")
                .expect("an event of Stock");
            assert_eq!(event.id, id);
            decoded.push(event.recorded.event);
        }
        assert_eq!(debug(&decoded), debug(expected));

        let view = Projector::new(store.clone(), MemoryViews::new(), Seen::default());
        let report = project_batch(&view, records).await;
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(report.applied, expected.len());
        assert_eq!(view.projection().lines(), seen(id, expected));
    }

    #[tokio::test]
    async fn upcasters_apply_on_load_snapshot_tail_and_stream() {
        if skip_without_dynamodb() {
            return;
        }
        let store = store_on_new_table("evolution").await;
        let events = loads_upcast(&store, "sku-1").await;
        through_stream(&store, "sku-1", &events).await;
    }

    #[tokio::test]
    async fn renamed_event_loads_by_alias() {
        if skip_without_dynamodb() {
            return;
        }
        let store = store_on_new_table("evolution-alias").await;
        let events = renamed(&store, "sku-7").await;
        through_stream(&store, "sku-7", &events).await;
    }

    #[tokio::test]
    async fn unreadable_old_items_name_the_item_and_what_is_missing() {
        if skip_without_dynamodb() {
            return;
        }
        let store = store_on_new_table("evolution-bad").await;
        unreadable_old_items(&store, "bad").await;
    }
}

/// Upcasters and aliases through a crate that re-exports es, as the
/// macros' `crate = ..` allows.
mod through_a_reexport {
    use super::framework_events::*;
    use es::store::{Append, Commit, StoredEvent};
    use es::{AggregateExt as _, EventStore as _, MemoryStore};
    use serde_json::json;

    #[tokio::test]
    async fn upcasters_and_aliases_work_through_the_path_given_with_crate() {
        let store = MemoryStore::new();
        let item = StoredEvent {
            version: 1,
            name: "Opened".to_owned(),
            schema: 1,
            timestamp: super::timestamp(1),
            payload: Some(json!({ "who": "ops" })),
            metadata: None,
            snapshot: None,
        };
        store
            .commit(Commit {
                appends: vec![Append {
                    aggregate: "Gate",
                    id: "g-1".to_owned(),
                    expected: 0,
                    events: vec![item],
                }],
                command: None,
                exact_conflict: true,
            })
            .await
            .expect("written");
        let gate = Gate::load(&store, "g-1").await.expect("loads");
        assert_eq!(gate.opened_by, ["ops"]);
    }
}

/// An aggregate whose macros reach es through `framework::runtime`.
mod framework_events {
    pub mod framework {
        pub use ::es as runtime;
    }

    use framework::runtime;
    use serde::{Deserialize, Serialize};

    #[derive(Deserialize)]
    pub struct GateOpenedV1 {
        pub who: String,
    }

    #[derive(runtime::Event, Serialize, Deserialize, Clone, Debug)]
    #[event(
        crate = framework::runtime,
        version = 2,
        aliases("Opened"),
        upcast(v1 = GateOpenedV1)
    )]
    pub struct GateOpened {
        pub by: String,
    }

    impl From<GateOpenedV1> for GateOpened {
        fn from(old: GateOpenedV1) -> Self {
            GateOpened { by: old.who }
        }
    }

    #[derive(runtime::Aggregate, Clone, Debug, Default)]
    #[aggregate(crate = framework::runtime)]
    pub struct Gate {
        pub opened_by: Vec<String>,
    }

    #[runtime::handlers(crate = framework::runtime)]
    impl Gate {
        #[framework::runtime::on(GateOpened)]
        fn opened(&mut self, e: &GateOpened) {
            self.opened_by.push(e.by.clone());
        }
    }
}
