//! The shopping example's story (`examples/shopping/story.rs`), run on both
//! stores. On DynamoDB Local the table is then scanned raw: every item must
//! have the layout docs/dynamodb.md documents, and every aggregate's versions
//! must run from 1 with no gaps.

#[path = "../examples/shopping/hot.rs"]
#[allow(dead_code)]
mod hot;
#[path = "../examples/shopping/read_side.rs"]
mod read_side;
#[path = "../examples/shopping/shop.rs"]
#[allow(dead_code)]
mod shop;
#[path = "../examples/shopping/story.rs"]
mod story;
#[path = "../examples/shopping/views.rs"]
mod views;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use es::prelude::*;
use shop::*;
use story::{run_suffix, Told};

type Item = std::collections::HashMap<String, AttributeValue>;

/// The aggregates the story leaves, with their last versions, for ids ending
/// in `run`.
fn expected_aggregates(run: &str) -> Vec<(&'static str, String, u64)> {
    vec![
        // Restocked, two clerks' restocks, Alice's checkout, Dave's restock,
        // the month's restock and 45 sales.
        ("Product", format!("sku-tea{run}"), 51),
        // Restocked, Alice's checkout (Bob and Carol were refused).
        ("Product", format!("sku-mug{run}"), 2),
        // Restocked, then 10 of 40 buyers.
        ("Product", format!("sku-lamp{run}"), 11),
        // Two lines, checked out.
        ("Cart", format!("cart-alice{run}"), 3),
        // Two lines, checkout refused.
        ("Cart", format!("cart-carol{run}"), 2),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_runs_in_memory() {
    let store = MemoryStore::new();
    let mut out = Vec::new();
    let (told, shown) = read_side::in_memory(&store, &mut out)
        .await
        .expect("the story");
    let out = String::from_utf8(out).expect("utf-8");

    for step in 1..=10 {
        let heading = format!("{step}. ");
        assert!(
            out.lines().any(|line| line.starts_with(&heading)),
            "step {step} missing in:\n{out}"
        );
    }
    for line in [
        "rejected: sold out: 2 left, 3 wanted. Nothing was written.",
        "clerk 2 got a conflict: expected version 1, but it is at 2",
        "checked out in 1 attempt(s); tea 10 on hand, mug 1 on hand",
        "tea still 10 on hand (version 4), cart still open: true",
        "sold 10 lamps",
        "read back versions 1..=11: no gaps, no duplicates",
        "delivery 1: version 5, written",
        "delivery 2: version 5, already applied, nothing written",
        "tea: 16 on hand at version 51",
        "Read back 5 aggregates",
        "10. The read side: a stock-and-carts view, kept from the store's change feed.",
        "sku-lamp: 0 on hand, 10 reserved",
        "sku-tea: 16 on hand, 47 reserved",
        "cart-alice: lines {\"sku-mug\": 1, \"sku-tea\": 2}, reserved {\"sku-mug\": 1, \"sku-tea\": 2}, checked out: true",
        "3 stock views and 57 cart views, each equal to its aggregates' state.",
        "Rebuilt from history into a fresh table: 5 aggregates, 69 events, the same view.",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }

    assert_eq!(
        told,
        Told {
            aggregates: expected_aggregates(""),
            command_keys: vec!["restock-dave".to_owned()],
        }
    );
    // Read back independently of the story's own check.
    for (name, id, last) in &told.aggregates {
        let versions = if *name == Product::NAME {
            versions_of::<Product>(&store, id).await
        } else {
            versions_of::<Cart>(&store, id).await
        };
        assert_eq!(versions, (1..=*last).collect::<Vec<_>>(), "{name} {id}");
    }
    let lamp = Product::get(&store, "sku-lamp").await.expect("load");
    assert_eq!((lamp.on_hand, lamp.reserved.len()), (0, 10));
    assert_eq!(
        shown.stock["sku-lamp"],
        views::Stock {
            on_hand: 0,
            reserved: 10
        }
    );
}

/// The versions in `id`'s history, read from the store without loading it.
async fn versions_of<A: Aggregate>(store: &MemoryStore, id: &str) -> Vec<u64> {
    Root::<A, _>::new(store, id)
        .history()
        .map_ok(|r| r.version)
        .try_collect()
        .await
        .expect("history")
}

#[test]
fn run_suffixes_differ_within_one_second_and_name_the_process() {
    let (a, b) = (run_suffix(), run_suffix());
    assert_ne!(a, b, "two runs in the same second must not share ids");
    let pid = format!("-p{}", std::process::id());
    assert!(a.ends_with(&pid), "{a}");
    // `-{secs}.{nanos:09}-p{pid}`: readable, and sorted by time within a process.
    let (secs, rest) = a[1..].split_once('.').expect("secs.nanos");
    let nanos = rest.strip_suffix(&pid).expect("the pid");
    assert!(secs.parse::<u64>().is_ok() && nanos.len() == 9 && nanos.parse::<u32>().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_leaves_the_documented_layout_on_dynamodb() {
    if es_dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let store = es_dynamo::testing::store_on_new_table("story").await;
    let views = es_dynamo::testing::views_on_new_table("story-views").await;
    let run = run_suffix();
    let mut out = Vec::new();
    // The story, with a stream runner keeping its read side as it runs.
    let (told, shown) = read_side::on_dynamodb(&store, views, &run, &mut out)
        .await
        .unwrap_or_else(|e| panic!("the story failed: {e}\n{}", String::from_utf8_lossy(&out)));
    assert_eq!(
        shown.stock[&format!("sku-tea{run}")],
        views::Stock {
            on_hand: 16,
            reserved: 47
        }
    );
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("10. The read side: a stock-and-carts view, kept by a stream runner while the story ran."),
        "{out}"
    );
    assert_eq!(told.aggregates, expected_aggregates(&run));
    let dave_key = format!("restock-dave{run}");
    assert_eq!(told.command_keys, std::slice::from_ref(&dave_key));

    let items = es_dynamo::testing::scan(&store).await;
    let mut versions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut commands = Vec::new();
    for item in &items {
        let key = string(item, "aggregateId");
        if let Some(command_key) = key.strip_prefix("$command#") {
            check_command_record(item, command_key);
            commands.push((command_key.to_owned(), item));
            continue;
        }
        let version = check_event(item);
        versions.entry(key).or_default().push(version);
    }

    // Exactly the story's aggregates, each with versions 1..=last, once each.
    let expected: BTreeMap<String, Vec<u64>> = told
        .aggregates
        .iter()
        .map(|(name, id, last)| (format!("{name}#{id}"), (1..=*last).collect()))
        .collect();
    for v in versions.values_mut() {
        v.sort_unstable();
    }
    assert_eq!(
        versions, expected,
        "every aggregate's versions run 1..=last with no gaps or duplicates"
    );
    // Dave's key, and the key of Alice's checkout call: a checkout keeps a
    // record of its own, so that a write that times out after landing is
    // known for this call's on the retry.
    let command_keys: Vec<&str> = commands.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(command_keys.len(), 2, "{command_keys:?}");
    assert!(
        command_keys.contains(&dave_key.as_str())
            && command_keys
                .iter()
                .any(|k| k.starts_with(&format!("checkout/cart-alice{run}/"))),
        "a command record for Dave's key, and one for Alice's checkout: {command_keys:?}"
    );
    let record = commands
        .iter()
        .find(|(key, _)| key.as_str() == dave_key)
        .map(|(_, record)| *record)
        .expect("Dave's record");
    assert_eq!(
        record["outcome"],
        AttributeValue::L(vec![AttributeValue::M(
            [
                ("aggregate", s("Product")),
                ("id", s(&format!("sku-tea{run}"))),
                ("version", AttributeValue::N("5".into())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        )]),
        "Dave's restock wrote tea version 5"
    );

    // Product snapshots every 50 versions: tea (51 versions) has exactly one,
    // at version 50, holding the state after it.
    let snapshotted: Vec<&Item> = items
        .iter()
        .filter(|i| i.contains_key("snapshot"))
        .collect();
    let at: Vec<(String, u64)> = snapshotted
        .iter()
        .map(|i| (string(i, "aggregateId"), number(i, "version")))
        .collect();
    assert_eq!(at, [(format!("Product#sku-tea{run}"), 50)]);
    let at_50 = snapshotted[0];
    let AttributeValue::M(state) = &at_50["snapshot"] else {
        panic!("snapshot is not a map: {:?}", at_50["snapshot"]);
    };
    let names: BTreeSet<&str> = state.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["on_hand", "reserved"]));
    // 5 + 3 + 4 - 2 + 1 + 50 - 44 walk-in sales up to version 50.
    assert_eq!(state["on_hand"], AttributeValue::N("17".into()));
    let AttributeValue::M(reserved) = &state["reserved"] else {
        panic!("reserved is not a map: {:?}", state["reserved"]);
    };
    assert_eq!(reserved.len(), 45, "Alice and 44 walk-ins");
    assert_eq!(at_50["snapshotSchema"], AttributeValue::N("1".into()));
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn string(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        other => panic!("{name} must be S, got {other:?} in {item:?}"),
    }
}

fn number(item: &Item, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} {value:?} is not a whole number")),
        other => panic!("{name} must be N, got {other:?} in {item:?}"),
    }
}

fn map_keys<'a>(item: &'a Item, name: &str) -> BTreeSet<&'a str> {
    match item.get(name) {
        Some(AttributeValue::M(map)) => map.keys().map(String::as_str).collect(),
        other => panic!("{name} must be M, got {other:?} in {item:?}"),
    }
}

/// Checks one event item against docs/dynamodb.md and returns its version.
fn check_event(item: &Item) -> u64 {
    let key = string(item, "aggregateId");
    let (name, id) = key
        .split_once('#')
        .unwrap_or_else(|| panic!("aggregateId {key:?} is not Name#id"));
    assert!(!id.is_empty(), "{key:?}: empty id");
    let version = number(item, "version");
    assert!(version >= 1, "{key:?}: event versions start at 1");

    // The event's type, and its fields as a native map: only events with
    // fields have a payload.
    let kind = string(item, "type");
    let fields: Option<&[&str]> = match (name, kind.as_str()) {
        ("Product", "ProductRestocked") => Some(&["amount"]),
        ("Product", "ProductReserved" | "ProductReleased") => Some(&["cart_id", "quantity"]),
        ("Cart", "ItemAdded") => Some(&["quantity", "sku"]),
        ("Cart", "ItemRemoved") => Some(&["sku"]),
        ("Cart", "CartCheckedOut") => Some(&["address", "customer", "email"]),
        other => panic!("{key:?} v{version}: unexpected aggregate and event {other:?}"),
    };
    match fields {
        Some(fields) => assert_eq!(
            map_keys(item, "payload"),
            fields.iter().copied().collect(),
            "{key:?} v{version}: the payload is the event's fields"
        ),
        None => assert!(
            !item.contains_key("payload"),
            "{key:?} v{version}: an event without fields has no payload"
        ),
    }

    let timestamp = string(item, "timestamp");
    assert!(
        es_dynamo::testing::is_timestamp(&timestamp),
        "{key:?} v{version}: {timestamp:?}"
    );

    // eventStoreId, the index key, on version 1 only, holding the name.
    if version == 1 {
        assert_eq!(string(item, "eventStoreId"), name, "{key:?} v1");
    } else {
        assert!(
            !item.contains_key("eventStoreId"),
            "{key:?} v{version}: eventStoreId after version 1"
        );
    }

    // metadata: a non-empty map when present; the named entries are strings.
    if let Some(metadata) = item.get("metadata") {
        let AttributeValue::M(metadata) = metadata else {
            panic!("{key:?} v{version}: metadata must be M, got {metadata:?}");
        };
        assert!(
            !metadata.is_empty(),
            "{key:?} v{version}: empty metadata is not stored"
        );
        for named in ["correlationId", "causationId", "commandId"] {
            if let Some(value) = metadata.get(named) {
                assert!(
                    matches!(value, AttributeValue::S(_)),
                    "{key:?} v{version}: {named}"
                );
            }
        }
    }

    // The story's events are all at schema 1, which is not stored.
    assert!(
        !item.contains_key("schema"),
        "{key:?} v{version}: schema is stored only when it is not 1"
    );

    // A snapshot every SNAPSHOT_EVERY versions (Product: 50; Cart: never),
    // with its schema beside it.
    let every = match name {
        "Product" => <Product as Aggregate>::SNAPSHOT_EVERY,
        _ => <Cart as Aggregate>::SNAPSHOT_EVERY,
    };
    let due = every > 0 && version.is_multiple_of(every);
    assert_eq!(
        item.contains_key("snapshot"),
        due,
        "{key:?} v{version}: snapshots every {every} versions"
    );
    if due {
        map_keys(item, "snapshot");
        assert!(number(item, "snapshotSchema") >= 1);
    } else {
        assert!(!item.contains_key("snapshotSchema"), "{key:?} v{version}");
    }

    let allowed: BTreeSet<&str> = [
        "aggregateId",
        "version",
        "type",
        "timestamp",
        "payload",
        "metadata",
        "eventStoreId",
        "schema",
        "snapshot",
        "snapshotSchema",
    ]
    .into();
    let names: BTreeSet<&str> = item.keys().map(String::as_str).collect();
    assert!(
        names.is_subset(&allowed),
        "{key:?} v{version}: undocumented attributes {:?}",
        names.difference(&allowed).collect::<Vec<_>>()
    );
    version
}

/// Checks one command record against docs/dynamodb.md.
fn check_command_record(item: &Item, command_key: &str) {
    let names: BTreeSet<&str> = item.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["aggregateId", "version", "outcome", "expiresAt"]),
        "command record {command_key:?}"
    );
    assert_eq!(number(item, "version"), 0, "below every event version");
    assert!(
        number(item, "expiresAt") > es::store::now_secs(),
        "a fresh record expires in the future"
    );
    let Some(AttributeValue::L(outcome)) = item.get("outcome") else {
        panic!("outcome must be L, got {:?}", item.get("outcome"));
    };
    assert!(!outcome.is_empty());
    for entry in outcome {
        let AttributeValue::M(entry) = entry else {
            panic!("outcome entries must be M, got {entry:?}");
        };
        let entry: Item = entry.clone().into_iter().collect();
        assert_eq!(
            entry.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            BTreeSet::from(["aggregate", "id", "version"])
        );
        string(&entry, "aggregate");
        string(&entry, "id");
        assert!(number(&entry, "version") >= 1);
    }
}
