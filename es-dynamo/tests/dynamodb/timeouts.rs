//! Timeouts: a stalled DynamoDB fails a request within the store's deadline,
//! as a retryable store error, a write's as an indeterminate one, and the
//! client's own timeouts are kept. Only `indeterminate_write_is_reported`
//! needs DynamoDB Local: it freezes one of its own.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use es_core::conformance::model::*;
use es_core::{AggregateExt, Error, EventStore};
use es_dynamo::DynamoStore;

use crate::outage::OwnDynamo;

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

/// A DynamoDB Local stopped with SIGSTOP, as a stalled DynamoDB: its port
/// takes connections and requests, and nothing answers. A read times out as
/// a retryable error; a write that went out and timed out is indeterminate,
/// names what it tried to write, and `execute` does not send it again.
#[tokio::test]
async fn indeterminate_write_is_reported() {
    if es_dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let server = OwnDynamo::start(false);
    let store = server.store(&es_dynamo::testing::unique_table_name("stopped"));
    store.create_table().await.expect("create the table");
    let journal = Journal::load(&store, "j").await.expect("load");
    let stalling = store.clone().with_timeouts(
        Some(Duration::from_millis(1500)),
        Some(Duration::from_millis(500)),
    );

    server.signal("STOP");
    // The outer timeouts only keep a broken store from hanging the test.
    let outer = Duration::from_secs(60);
    let read = tokio::time::timeout(outer, Journal::load(&stalling, "j"))
        .await
        .expect("the load gives up by itself")
        .expect_err("nothing answers");
    assert!(
        read.is_retryable() && !read.is_indeterminate(),
        "a read's timeout is retryable, never indeterminate: {read}"
    );
    assert!(
        matches!(&read, Error::Store(e) if e.operation() == "Query"),
        "{read}"
    );

    let before = store.stats().snapshot();
    let written = tokio::time::timeout(
        outer,
        Journal::command(&stalling, "j").on(journal).execute(|_| {
            Ok::<_, std::convert::Infallible>([Wrote {
                text: "once".into(),
                keep: true,
            }])
        }),
    )
    .await
    .expect("the command gives up by itself");
    let err = written.expect_err("nothing answers");
    assert!(
        err.is_indeterminate() && err.is_retryable(),
        "a write that went out and got no answer: {err}"
    );
    let Error::Store(e) = &err else {
        panic!("expected a store error, got {err:?}");
    };
    assert_eq!(e.operation(), "PutItem", "{e}");
    assert_eq!(
        (e.aggregate(), e.id(), e.versions()),
        (Some("Journal"), Some("j"), Some((1, 1))),
        "it names the aggregate, id and version: {e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("timed out") && text.contains("may or may not have landed"),
        "it says why, and that the outcome is unknown: {text}"
    );
    let writes = store.stats().snapshot() - before;
    assert_eq!(writes.writes, 1, "execute sent the write once, no retry");

    server.signal("CONT");
    // Resumed, the server may still apply the request it had taken in:
    // the journal holds the write whole or not at all, never twice.
    let journal = Journal::load(&store, "j")
        .await
        .expect("load after resuming");
    assert!(journal.version() <= 1, "at most the one write: {journal:?}");
    assert_eq!(journal.lines.len() as u64, journal.version(), "{journal:?}");
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

#[tokio::test]
async fn views_and_streams_clients_time_out_too() {
    let addr = stalled_listener();
    let views = es_dynamo::DynamoViews::new(Client::from_conf(config(addr, None)), "stalled");
    assert_eq!(
        (views.operation_timeout(), views.attempt_timeout()),
        (
            Some(DynamoStore::DEFAULT_OPERATION_TIMEOUT),
            Some(DynamoStore::DEFAULT_ATTEMPT_TIMEOUT)
        ),
        "the views' client gets the store's defaults"
    );
    let views = views.with_timeouts(
        Some(Duration::from_millis(1500)),
        Some(Duration::from_millis(400)),
    );
    assert_eq!(views.attempt_timeout(), Some(Duration::from_millis(400)));
    let stock: es_core::Views<u32, _> = es_core::Views::new(views, "stock");
    let err = tokio::time::timeout(Duration::from_secs(60), stock.get("sku-1"))
        .await
        .expect("the read gives up by itself")
        .expect_err("nothing answers");
    assert!(
        err.is_retryable() && !err.is_indeterminate(),
        "a view read's timeout is retryable: {err}"
    );
    assert!(
        matches!(&err, Error::Store(e) if e.operation() == "GetItem"),
        "{err}"
    );

    // The Streams client: es's defaults, unless set.
    let from_env = es_dynamo::runner::streams_client_from_env().await;
    let timeouts = from_env.config().timeout_config().cloned();
    assert_eq!(
        timeouts.map(|t| (t.operation_timeout(), t.operation_attempt_timeout())),
        Some((
            Some(DynamoStore::DEFAULT_OPERATION_TIMEOUT),
            Some(DynamoStore::DEFAULT_ATTEMPT_TIMEOUT)
        )),
        "the Streams client gets the store's defaults"
    );
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
                "stalled", "stalled", None, None, "test",
            ))
            .endpoint_url(format!("http://{addr}"))
            .build(),
    );
    let streams = es_dynamo::runner::streams_client_with_timeouts(
        &streams,
        Some(Duration::from_millis(1500)),
        Some(Duration::from_millis(400)),
    );
    let listed = tokio::time::timeout(Duration::from_secs(60), streams.list_streams().send())
        .await
        .expect("ListStreams gives up by itself");
    assert!(
        matches!(
            listed,
            Err(aws_sdk_dynamodbstreams::error::SdkError::TimeoutError(_))
        ),
        "a stalled Streams endpoint times out: {listed:?}"
    );
}

/// The other side of an indeterminate write: a write whose every attempt
/// was refused before anything was sent failed for sure. It is retryable,
/// and `execute`, knowing nothing was written, decides again and retries.
#[tokio::test]
async fn a_refused_write_is_not_indeterminate() {
    // A port nothing listens on any more: every connection is refused.
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.local_addr().expect("the listener's address")
    };
    let store = DynamoStore::new(Client::from_conf(config(addr, None)), "refused");
    // A new aggregate's handle, so that the first request is the write.
    let root = es_core::Root::<Journal, _>::new(&store, "j");
    let err = Journal::command(&store, "j")
        .on(root)
        .retry(es_core::Retry::attempts(2))
        .execute(|_| {
            Ok::<_, std::convert::Infallible>([Wrote {
                text: "refused".into(),
                keep: false,
            }])
        })
        .await
        .expect_err("nothing listens");
    assert!(
        err.is_retryable() && !err.is_indeterminate(),
        "a refused connection sent nothing: {err}"
    );
    let Error::Store(e) = &err else {
        panic!("expected a store error, got {err:?}");
    };
    assert_eq!(
        (e.operation(), e.versions()),
        ("PutItem", Some((1, 1))),
        "the write's error, not the catch-up read's: {e}"
    );
    assert!(e.to_string().contains("catching up failed"), "{e}");
}

/// A proxy to `upstream` that passes every request on and loses the answers
/// on its first connection: the request reaches DynamoDB, which applies it,
/// and the client waits for an answer that never comes. Later connections
/// pass both ways.
fn answer_losing_proxy(upstream: SocketAddr) -> SocketAddr {
    use std::io::copy;
    use std::net::{Shutdown, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("the proxy's address");
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(upstream) else {
                break;
            };
            let (mut client_in, mut server_out) = (
                client.try_clone().expect("clone the client socket"),
                server.try_clone().expect("clone the server socket"),
            );
            std::thread::spawn(move || {
                let _ = copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(Shutdown::Write);
            });
            let (mut server_in, mut client_out) = (server, client);
            std::thread::spawn(move || {
                if n == 0 {
                    // Read and dropped; `client_out` stays open, silent.
                    let _ = copy(&mut server_in, &mut std::io::sink());
                } else {
                    let _ = copy(&mut server_in, &mut client_out);
                }
                let _ = client_out.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}

/// A store on `table` of the suite's DynamoDB Local, reached through an
/// [`answer_losing_proxy`], with an attempt timeout short enough that the
/// SDK retries the lost attempt.
fn store_losing_its_first_answer(table: &str) -> DynamoStore {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("the suite's endpoint");
    let upstream: SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("the suite's endpoint is http://host:port");
    let proxy = answer_losing_proxy(upstream);
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        ))
        // DynamoDB Local keeps a database per access key id: the suite's.
        .credentials_provider(Credentials::new(
            std::env::var("AWS_ACCESS_KEY_ID").expect("the suite's access key id"),
            "unused",
            None,
            None,
            "test",
        ))
        .endpoint_url(format!("http://{proxy}"))
        .build();
    DynamoStore::new(Client::from_conf(config), table)
        .with_timeouts(Some(Duration::from_secs(8)), Some(Duration::from_secs(1)))
}

/// The write lands on DynamoDB Local and its answer is lost; the SDK's own
/// retry then finds the version taken, by that very write. That is not a
/// conflict (`execute` would decide again and apply the command twice) but
/// an indeterminate outcome. With an idempotency key the same loss is
/// harmless: the command applies once and succeeds.
#[tokio::test]
async fn a_lost_answer_is_indeterminate_and_never_applied_twice() {
    if es_dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let store = es_dynamo::testing::store_on_new_table("lost-answer").await;
    let write = |text: &'static str| {
        move |_: &Journal| {
            Ok::<_, std::convert::Infallible>([Wrote {
                text: text.into(),
                keep: true,
            }])
        }
    };

    // Without a key: one PutItem, retried by the SDK.
    let lossy = store_losing_its_first_answer(store.table());
    let root = Journal::load(&store, "plain").await.expect("load");
    let err = Journal::command(&lossy, "plain")
        .on(root)
        .execute(write("once"))
        .await
        .expect_err("the answer was lost");
    assert!(err.is_indeterminate(), "not a conflict: {err}");
    let Error::Store(e) = &err else {
        panic!("expected a store error, got {err:?}");
    };
    assert_eq!(
        (e.operation(), e.aggregate(), e.id(), e.versions()),
        ("PutItem", Some("Journal"), Some("plain"), Some((1, 1))),
        "{e}"
    );
    let plain = Journal::load(&store, "plain").await.expect("load");
    assert_eq!(
        (plain.version(), plain.lines.clone()),
        (1, vec!["once".to_owned()]),
        "the write landed, once"
    );

    // With a key: one TransactWriteItems, which the SDK retries under the
    // same ClientRequestToken; the command record covers the rest.
    let lossy = store_losing_its_first_answer(store.table());
    let root = Journal::load(&store, "keyed").await.expect("load");
    let done = Journal::command(&lossy, "keyed")
        .on(root)
        .idempotency_key("lost-answer-1")
        .execute(write("once"))
        .await
        .expect("with a key, a lost answer is harmless");
    assert_eq!(done.version, 1);
    let keyed = Journal::load(&store, "keyed").await.expect("load");
    assert_eq!(
        (keyed.version(), keyed.lines.clone()),
        (1, vec!["once".to_owned()]),
        "the command applied once"
    );
}
