//! Timeouts: a stalled DynamoDB fails a request within the store's deadline,
//! as a retryable store error, and the client's own timeouts are kept. None
//! of these tests need DynamoDB Local.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use es_core::conformance::model::*;
use es_core::{AggregateExt, Error};
use es_dynamo::DynamoStore;

/// A config for a DynamoDB at `addr`, with static credentials so that
/// nothing is looked up, and `timeouts` when given.
fn config(addr: SocketAddr, timeouts: Option<TimeoutConfig>) -> aws_sdk_dynamodb::Config {
    let mut builder = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("stalled", "stalled", None, None, "test"))
        .endpoint_url(format!("http://{addr}"));
    builder.set_timeout_config(timeouts);
    builder.build()
}

/// A loopback listener that accepts every connection and never answers,
/// as a DynamoDB whose process is stopped: connections open, requests go
/// out, and no response ever comes back.
fn stalled_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("the listener's address");
    std::thread::spawn(move || {
        // Held, not dropped: a closed socket would fail the request at once
        // instead of stalling it.
        let mut held = Vec::new();
        for connection in listener.incoming() {
            match connection {
                Ok(stream) => held.push(stream),
                Err(_) => break,
            }
        }
    });
    addr
}

#[tokio::test]
async fn stalled_store_times_out() {
    let addr = stalled_listener();
    let store = DynamoStore::new(Client::from_conf(config(addr, None)), "stalled");
    assert_eq!(
        (store.operation_timeout(), store.attempt_timeout()),
        (
            Some(DynamoStore::DEFAULT_OPERATION_TIMEOUT),
            Some(DynamoStore::DEFAULT_ATTEMPT_TIMEOUT)
        ),
        "a client without timeouts gets es's defaults"
    );
    let store = store.with_timeouts(
        Some(Duration::from_millis(1500)),
        Some(Duration::from_millis(400)),
    );
    assert_eq!(
        (store.operation_timeout(), store.attempt_timeout()),
        (
            Some(Duration::from_millis(1500)),
            Some(Duration::from_millis(400))
        )
    );

    // The outer timeout only keeps a broken store from hanging the test;
    // the store must give up well before it.
    let loaded = tokio::time::timeout(Duration::from_secs(60), Product::load(&store, "sku-1"))
        .await
        .expect("the load gives up by itself, within the store's timeout");
    let err = loaded.expect_err("nothing answers");
    assert!(err.is_retryable(), "a timeout is retryable: {err}");
    match &err {
        Error::Store(e) => {
            assert_eq!(e.operation(), "Query", "it names the operation: {e}");
            assert_eq!(
                (e.aggregate(), e.id()),
                (Some("Product"), Some("sku-1")),
                "{e}"
            );
            assert!(e.to_string().contains("timed out"), "it says why: {e}");
        }
        other => panic!("expected a store error, got {other:?}"),
    }
}

#[tokio::test]
async fn client_timeouts_are_kept() {
    // Nothing is sent: the address only has to parse.
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    let set = TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(2))
        .build();
    let store = DynamoStore::new(Client::from_conf(config(addr, Some(set))), "t");
    assert_eq!(
        (store.operation_timeout(), store.attempt_timeout()),
        (
            Some(Duration::from_secs(2)),
            Some(DynamoStore::DEFAULT_ATTEMPT_TIMEOUT)
        ),
        "a timeout the client sets is kept; one it leaves unset takes es's default"
    );

    let store = DynamoStore::new(
        Client::from_conf(config(addr, Some(TimeoutConfig::disabled()))),
        "t",
    );
    assert_eq!(
        (store.operation_timeout(), store.attempt_timeout()),
        (None, None),
        "timeouts the client disables stay disabled"
    );

    let store = store.with_timeouts(None, Some(Duration::from_secs(1)));
    assert_eq!(
        (store.operation_timeout(), store.attempt_timeout()),
        (None, Some(Duration::from_secs(1)))
    );
}
