//! `DynamoStore::with_commands_table`: command records in a table of their
//! own, written in one transaction with the events, so that the events table
//! holds nothing but events.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use es_core::conformance::model::*;
use es_core::store::{CommandRecord, Commit, Committed};
use es_core::{AggregateExt, Error, EventStore};
use es_dynamo::testing::{
    scan, scan_table, skip_without_dynamodb, store_with_commands_table_on_new_tables,
    unique_table_name,
};
use es_dynamo::DynamoStore;

use crate::common::*;

/// Whether an item is an event as es and castore write them: a key of the
/// form `Name#id`, a version from 1, a type and a timestamp.
fn is_event(item: &Item) -> bool {
    let key_names_an_aggregate = matches!(
        item.get("aggregateId"),
        Some(aws_sdk_dynamodb::types::AttributeValue::S(k))
            if !k.starts_with('$') && k.split_once('#').is_some_and(|(name, _)| !name.is_empty())
    );
    let version_from_one = matches!(
        item.get("version"),
        Some(aws_sdk_dynamodb::types::AttributeValue::N(v))
            if v.parse::<u64>().is_ok_and(|v| v >= 1)
    );
    key_names_an_aggregate
        && version_from_one
        && item.contains_key("type")
        && item.contains_key("timestamp")
}

#[tokio::test]
async fn a_duplicate_command_writes_nothing_and_answers_with_its_first_run() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_with_commands_table_on_new_tables("cmdtable-dup").await;
    assert_ne!(store.commands_table(), store.table());
    let mut product = Product::load(&store, "sku-1").await.expect("load");
    product
        .commit(Restocked { amount: 2 })
        .await
        .expect("restock");

    let first = Product::command(&store, "sku-1")
        .idempotency_key("order-1")
        .execute(|p| p.reserve("cart-1", 1))
        .await
        .expect("first run");
    assert_eq!((first.version, first.duplicate), (2, false));

    let before = store.stats().snapshot();
    let repeat = Product::command(&store, "sku-1")
        .idempotency_key("order-1")
        .execute(|p| p.reserve("cart-1", 1))
        .await
        .expect("repeat");
    let cost = store.stats().snapshot() - before;
    assert_eq!((repeat.version, repeat.duplicate), (2, true));
    assert_eq!(cost.items_written, 0, "the repeat wrote nothing: {cost:?}");

    // The events table: the two events, and nothing of es's own.
    let events = scan(&store).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(is_event), "{events:?}");
    assert!(
        !events
            .iter()
            .any(|i| matches!(&i["aggregateId"], aws_sdk_dynamodb::types::AttributeValue::S(k) if k.starts_with('$'))),
        "no `$` item in the events table: {events:?}"
    );

    // The commands table: the record, with its TTL attribute.
    let records = scan_table(&store, store.commands_table()).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(
        names(record),
        ["aggregateId", "expiresAt", "outcome", "version"]
    );
    assert_eq!(record["aggregateId"], s("$command#order-1"));
    assert_eq!(record["version"], n(0));
    let now = es_core::store::now_secs();
    let expires_at = match &record["expiresAt"] {
        aws_sdk_dynamodb::types::AttributeValue::N(n) => n.parse::<u64>().expect("a number"),
        other => panic!("expiresAt is {other:?}"),
    };
    assert!(expires_at > now, "expiresAt {expires_at} is after {now}");
    assert_eq!(
        record["outcome"],
        aws_sdk_dynamodb::types::AttributeValue::L(vec![m([
            ("aggregate", s("Product")),
            ("id", s("sku-1")),
            ("version", n(2))
        ])])
    );
    assert_eq!(
        store.command("order-1").await.expect("command"),
        Some(CommandRecord {
            key: "order-1".into(),
            outcome: vec![("Product".into(), "sku-1".into(), 2)],
            expires_at,
        })
    );

    // The same events table without the option does not see the record.
    let plain = DynamoStore::new(store.client().clone(), store.table());
    assert_eq!(plain.command("order-1").await.expect("command"), None);
}

#[tokio::test]
async fn events_and_their_record_land_together_or_not_at_all() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_with_commands_table_on_new_tables("cmdtable-atomic").await;
    let mut product = Product::load(&store, "sku-1").await.expect("load");
    product
        .commit(Restocked { amount: 1 })
        .await
        .expect("restock");
    let record = CommandRecord {
        key: "order-2".into(),
        outcome: vec![("Product".into(), "sku-1".into(), 1)],
        expires_at: es_core::store::now_secs() + 3600,
    };
    // An append at a stale version: the event's condition fails, so the
    // record in the other table must not land either.
    let err = store
        .commit(Commit {
            appends: vec![append(
                &store,
                "Product",
                "sku-1",
                0,
                &[Restocked { amount: 9 }],
            )],
            command: Some(record.clone()),
            exact_conflict: true,
        })
        .await
        .expect_err("a stale append");
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(scan_table(&store, store.commands_table()).await, Vec::new());
    assert_eq!(store.command("order-2").await.expect("command"), None);

    // A live record blocks the events, which then land nowhere.
    let written = store
        .commit(Commit {
            appends: vec![append(
                &store,
                "Product",
                "sku-1",
                1,
                &[Restocked { amount: 9 }],
            )],
            command: Some(record.clone()),
            exact_conflict: true,
        })
        .await
        .expect("commit");
    assert_eq!(written, Committed::Written);
    let again = store
        .commit(Commit {
            appends: vec![append(
                &store,
                "Product",
                "sku-1",
                2,
                &[Restocked { amount: 9 }],
            )],
            command: Some(CommandRecord {
                outcome: vec![("Product".into(), "sku-1".into(), 3)],
                ..record.clone()
            }),
            exact_conflict: true,
        })
        .await
        .expect("a duplicate");
    assert_eq!(again, Committed::Duplicate(record));
    let versions: Vec<_> = scan(&store)
        .await
        .iter()
        .map(|i| i["version"].clone())
        .collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
}

#[tokio::test]
async fn the_commands_table_has_the_key_and_ttl_and_nothing_else() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_with_commands_table_on_new_tables("cmdtable-shape").await;
    let table = store
        .client()
        .describe_table()
        .table_name(store.commands_table())
        .send()
        .await
        .expect("DescribeTable")
        .table
        .expect("a table");
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(
        keys,
        [
            ("aggregateId", &KeyType::Hash),
            ("version", &KeyType::Range)
        ]
    );
    assert!(table.global_secondary_indexes().is_empty(), "{table:?}");
    assert!(
        !table
            .stream_specification()
            .is_some_and(|s| s.stream_enabled()),
        "no stream: {table:?}"
    );
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.commands_table())
        .send()
        .await
        .expect("DescribeTimeToLive");
    let description = ttl.time_to_live_description().expect("a TTL description");
    assert_eq!(description.attribute_name(), Some("expiresAt"));
    // The events table is as it always is.
    let events = describe(&store).await;
    assert_eq!(events.global_secondary_indexes().len(), 1);

    assert!(
        store.create_table().await.is_err(),
        "create_table refuses existing tables"
    );
    store
        .ensure_table()
        .await
        .expect("ensure_table accepts them");
}

#[tokio::test]
async fn ensure_table_creates_the_commands_table_and_refuses_one_of_another_shape() {
    if skip_without_dynamodb() {
        return;
    }
    let events = unique_table_name("cmdtable-ensure");
    let commands = format!("{events}-commands");
    let store = DynamoStore::from_env(events.clone())
        .await
        .with_commands_table(commands.clone());
    store
        .ensure_table()
        .await
        .expect("ensure_table creates both");
    store.ensure_table().await.expect("and accepts them after");
    let mut product = Product::load(&store, "sku-1").await.expect("load");
    product
        .commit(Restocked { amount: 1 })
        .await
        .expect("restock");
    assert_eq!(scan_table(&store, &commands).await, Vec::new());

    // A table keyed otherwise is named, with what is wrong with it.
    let other = unique_table_name("cmdtable-wrong");
    store
        .client()
        .create_table()
        .table_name(&other)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("CreateTable");
    let wrong = DynamoStore::new(store.client().clone(), events).with_commands_table(&other);
    let err = wrong.ensure_table().await.expect_err("a table keyed on pk");
    let text = err.to_string();
    assert!(
        text.contains(&format!("commands table {other:?}")) && text.contains("aggregateId (HASH)"),
        "{text}"
    );
}

#[test]
fn naming_the_events_table_keeps_records_in_it() {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "events");
    assert_eq!(store.commands_table(), "events");
    assert!(!store.has_commands_table());
    let same = store.clone().with_commands_table("events");
    assert!(!same.has_commands_table());
    let other = store.with_commands_table("events-commands");
    assert_eq!(
        (other.table(), other.commands_table()),
        ("events", "events-commands")
    );
    assert!(other.has_commands_table());
    // The option survives a change of timeouts, and the reverse.
    let timed = other.with_timeouts(None, None);
    assert_eq!(timed.commands_table(), "events-commands");
}

/// The conformance checks that involve command records, on a store whose
/// records are in a table of their own: each on new tables of its own.
mod conformance {
    use es_core::conformance::*;
    use es_dynamo::testing::{available, store_with_commands_table_on_new_tables};

    macro_rules! on_commands_table {
        ($($check:ident),* $(,)?) => {
            $(
                #[test]
                fn $check() {
                    if !available().should_run() {
                        skipped(stringify!($check), "no DynamoDB endpoint");
                        return;
                    }
                    block_on(async {
                        let store = store_with_commands_table_on_new_tables("conf-cmd").await;
                        es_core::conformance::$check(&store).await;
                    });
                }
            )*
        };
    }

    on_commands_table!(
        command_records_make_commits_idempotent,
        repeated_commands_report_their_first_run,
        invalid_input_is_refused_everywhere,
        limits_are_checked_before_writing,
    );
}
