//! Store failures say which operation on which table failed, and for which
//! aggregate and id, whether a retry could help, and keep the SDK error as
//! their source.

use std::error::Error as _;

use es_core::conformance::model::*;
use es_core::{AggregateExt, Error, Root};
use es_dynamo::testing::{skip_without_dynamodb, store_on_new_table, unique_table_name};
use es_dynamo::DynamoStore;

#[tokio::test]
async fn a_missing_table_is_a_permanent_error_naming_it() {
    if skip_without_dynamodb() {
        return;
    }
    let existing = store_on_new_table("errors").await;
    let missing = unique_table_name("missing");
    let store = DynamoStore::new(existing.client().clone(), missing.clone());

    let err = Product::load(&store, "sku").await.expect_err("no table");
    let Error::Store(e) = &err else {
        panic!("expected Error::Store, got {err:?}")
    };
    assert_eq!(e.operation(), "Query");
    assert!(
        !e.is_retryable(),
        "a missing table does not appear by retrying"
    );
    assert!(e.to_string().contains(&missing), "{e}");
    assert!(e.to_string().contains("ResourceNotFoundException"), "{e}");
    assert_eq!((e.aggregate(), e.id()), (Some("Product"), Some("sku")));
    assert!(
        e.to_string().starts_with("Query on Product \"sku\" failed"),
        "{e}"
    );
    assert!(e.source().is_some(), "the SDK error is kept");

    let err = Root::<Product, _>::new(&store, "sku")
        .commit(Restocked { amount: 1 })
        .await
        .expect_err("no table");
    assert!(
        matches!(&err, Error::Store(e) if e.operation() == "PutItem" && !e.is_retryable()
            && e.aggregate() == Some("Product") && e.id() == Some("sku")),
        "got {err:?}"
    );
    let err = Root::<Product, _>::new(&store, "sku")
        .commit_all([Restocked { amount: 1 }, Restocked { amount: 1 }])
        .await
        .expect_err("no table");
    assert!(
        matches!(&err, Error::Store(e) if e.operation() == "TransactWriteItems" && !e.is_retryable()),
        "got {err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient() {
    // Nothing listens on port 1 of the loopback address.
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:1")
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "events");
    let err = Product::load(&store, "sku").await.expect_err("unreachable");
    assert!(
        matches!(&err, Error::Store(e) if e.is_retryable() && e.operation() == "Query"
            && e.id() == Some("sku")),
        "got {err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn create_table_enables_ttl_on_expires_at() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("errors-ttl").await;
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .expect("describe_time_to_live");
    let description = ttl.time_to_live_description().expect("a TTL description");
    assert_eq!(description.attribute_name(), Some("expiresAt"));
    assert!(
        store.create_table().await.is_err(),
        "create_table refuses an existing table"
    );
    store.ensure_table().await.expect("ensure_table accepts it");
}

/// Two processes starting at once on a table that does not exist: one
/// creates it, the other finds it being created, and both wait (with the
/// SDK's waiter) until it is ACTIVE, then use it.
#[tokio::test]
async fn ensure_table_from_two_stores_at_once() {
    if skip_without_dynamodb() {
        return;
    }
    let existing = store_on_new_table("errors-ensure").await;
    let table = unique_table_name("ensure-race");
    let first = DynamoStore::new(existing.client().clone(), table.clone());
    let second = DynamoStore::new(existing.client().clone(), table.clone());
    let (a, b) = tokio::join!(first.ensure_table(), second.ensure_table());
    a.expect("the first ensure_table");
    b.expect("the second ensure_table");

    let mut product = Root::<Product, _>::new(&first, "sku");
    product
        .commit(Restocked { amount: 2 })
        .await
        .expect("commit");
    let loaded = Product::load(&second, "sku").await.expect("load");
    assert_eq!(loaded.version(), 1);
    let items = es_dynamo::testing::scan(&second).await;
    assert_eq!(items.len(), 1, "one event item: {items:?}");
}
