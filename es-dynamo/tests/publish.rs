//! The publisher against real parts: events in DynamoDB Local, messages
//! through moto's SQS FIFO, SNS FIFO and EventBridge (`scripts/moto.sh`).
//!
//! `scripts/test.sh` starts both and sets `ES_DYNAMODB=1` and `ES_MOTO=1`,
//! which make a missing endpoint a failure; elsewhere these tests skip.
//! One part alone: `scripts/dynamodb-local.sh run -- scripts/moto.sh run --
//! cargo test -p es-dynamo --features publish --test publish`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use es::prelude::*;
use es_dynamo::publish::eventbridge::PutEvents;
use es_dynamo::publish::{
    self, Document, EventBridge, IntegrationEvent, Message, Publisher, SnsFifo, SqsFifo, Target,
};
use es_dynamo::{testing, DynamoStore};
use serde::{Deserialize, Serialize};

// ---- The domain and its contract --------------------------------------------

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited {
    pub amount: u32,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "Account")]
pub struct Account {
    pub balance: u64,
}

#[es::handlers]
impl Account {
    #[on(Deposited)]
    fn deposited(&mut self, e: &Deposited) {
        self.balance += u64::from(e.amount);
    }
}

/// The public contract, apart from `Deposited`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MoneyIn {
    pub account: String,
    pub cents: u32,
}

impl IntegrationEvent for MoneyIn {
    const NAME: &'static str = "MoneyIn";
    const VERSION: u32 = 1;
}

pub struct Contract;

#[es::projection(name = "AccountEvents")]
impl Contract {
    #[on(Deposited)]
    async fn deposited(&self, e: &Deposited, at: &Envelope) -> Result<(), es::Error> {
        publish::publish(
            at,
            &MoneyIn {
                account: at.id.clone(),
                cents: e.amount,
            },
        )
    }
}

// ---- moto -------------------------------------------------------------------

/// Whether moto's endpoints are set; a failure when `ES_MOTO=1` says they
/// must be. Also needs DynamoDB.
fn skip() -> bool {
    if testing::skip_without_dynamodb() {
        return true;
    }
    let set = std::env::var_os("AWS_ENDPOINT_URL_SQS").is_some_and(|v| !v.is_empty());
    if !set && std::env::var("ES_MOTO").is_ok_and(|v| v == "1") {
        panic!(
            "ES_MOTO=1 requires moto, but AWS_ENDPOINT_URL_SQS is not set: run scripts/test.sh, \
             or wrap the command in `scripts/moto.sh run --`"
        );
    }
    if !set {
        eprintln!("skipped: no moto endpoint (AWS_ENDPOINT_URL_SQS); scripts/moto.sh starts one");
    }
    !set
}

async fn config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

async fn fifo_queue(name: &str) -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&config().await);
    let out = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", testing::unique_table_name(name)))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create a FIFO queue");
    (sqs, out.queue_url().unwrap_or_default().to_owned())
}

async fn standard_queue(name: &str) -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&config().await);
    let out = sqs
        .create_queue()
        .queue_name(testing::unique_table_name(name))
        .send()
        .await
        .expect("create a queue");
    (sqs, out.queue_url().unwrap_or_default().to_owned())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    out.attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .expect("a queue ARN")
}

/// A received message: its group (FIFO) and body.
#[derive(Debug)]
struct Received {
    group: Option<String>,
    body: String,
}

/// Every message in the queue, in the order received, each deleted once
/// read (so a FIFO group's next ones come).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Received> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 3 {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .send()
            .await
            .expect("receive");
        let messages = got.messages();
        if messages.is_empty() {
            empty += 1;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        empty = 0;
        for m in messages {
            out.push(Received {
                group: m
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                    })
                    .cloned(),
                body: m.body().unwrap_or_default().to_owned(),
            });
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    out
}

fn document(body: &str) -> Document<MoneyIn> {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a document: {e}: {body}"))
}

/// Commits `per` deposits to each of `accounts`, interleaved.
async fn deposits(store: &DynamoStore, accounts: &[&str], per: u32) {
    for n in 1..=per {
        for id in accounts {
            Account::load(store, *id)
                .await
                .unwrap()
                .commit(Deposited { amount: n })
                .await
                .unwrap();
        }
    }
}

async fn events(
    store: &DynamoStore,
    id: &str,
) -> Vec<es::store::StoredEvent<aws_sdk_dynamodb::types::AttributeValue>> {
    let page = store
        .read(es::store::ReadRequest {
            aggregate: "Account",
            id,
            after: 0,
            until: None,
            direction: es::store::Direction::Forward,
            limit: None,
            cursor: None,
        })
        .await
        .unwrap();
    page.items
}

/// Checks that each group's documents run 1, 2, 3… in order, once each.
fn assert_in_order_once(received: &[Received], accounts: &[&str], per: u64) {
    let mut by_group: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in received {
        let doc = document(&r.body);
        let group = r
            .group
            .clone()
            .unwrap_or_else(|| format!("Account#{}", doc.aggregate_id));
        assert_eq!(group, format!("Account#{}", doc.aggregate_id));
        assert_eq!(
            doc.id,
            format!("Account#{}#{}", doc.aggregate_id, doc.aggregate_version)
        );
        assert_eq!(u64::from(doc.data.cents), doc.aggregate_version);
        by_group
            .entry(group)
            .or_default()
            .push(doc.aggregate_version);
    }
    assert_eq!(by_group.len(), accounts.len(), "{by_group:?}");
    for versions in by_group.values() {
        assert_eq!(*versions, (1..=per).collect::<Vec<_>>());
    }
}

// ---- SQS FIFO -----------------------------------------------------------------

#[tokio::test]
async fn publisher_delivers_each_event_once_in_order_per_aggregate() {
    if skip() {
        return;
    }
    let store = testing::store_on_new_table("pub-sqs").await;
    let views = testing::views_on_new_table("pub-sqs-views").await;
    let (sqs, url) = fifo_queue("pub-sqs").await;
    let accounts = ["a-1", "a-2", "a-3"];
    deposits(&store, &accounts, 12).await;

    let target = SqsFifo::new(sqs.clone(), url.clone());
    let projector = Projector::new(
        store.clone(),
        views.clone(),
        Publisher::new(Contract, target),
    );
    // Deliveries as a stream makes them: a batch, the same batch again, an
    // overlapping one, and one with a gap before it.
    for id in accounts {
        let all = events(&store, id).await;
        projector
            .project("Account", id, all[..5].to_vec())
            .await
            .unwrap();
        let again = projector
            .project("Account", id, all[..5].to_vec())
            .await
            .unwrap();
        assert_eq!((again.applied, again.duplicates), (0, 5));
        projector
            .project("Account", id, all[3..8].to_vec())
            .await
            .unwrap();
        let gap = projector
            .project("Account", id, all[10..].to_vec())
            .await
            .unwrap();
        assert_eq!((gap.filled, gap.position), (2, 12));
    }
    let sent = projector.projection().target().sent();
    assert_eq!(sent.messages, 36, "a redelivered event is not sent again");
    // 5 + 3 + 4 per account, in batches of up to 10: 3 requests each.
    assert_eq!(sent.requests, 9);

    // A second publisher whose positions were lost (a view table of its
    // own) sends everything again: the queue drops it as duplicates.
    let lost = testing::views_on_new_table("pub-sqs-lost").await;
    let again = Projector::new(
        store.clone(),
        lost,
        Publisher::new(Contract, SqsFifo::new(sqs.clone(), url.clone())),
    );
    for id in accounts {
        again.catch_up("Account", id).await.unwrap();
    }
    assert_eq!(again.projection().target().sent().messages, 36);

    let received = drain(&sqs, &url).await;
    assert_eq!(received.len(), 36, "each event once");
    assert_in_order_once(&received, &accounts, 12);
}

// ---- SNS FIFO -----------------------------------------------------------------

#[tokio::test]
async fn sns_fifo_keeps_each_aggregate_in_order() {
    if skip() {
        return;
    }
    let store = testing::store_on_new_table("pub-sns").await;
    let views = testing::views_on_new_table("pub-sns-views").await;
    let sns = aws_sdk_sns::Client::new(&config().await);
    let topic = sns
        .create_topic()
        .name(format!("{}.fifo", testing::unique_table_name("pub-sns")))
        .attributes("FifoTopic", "true")
        .send()
        .await
        .expect("create a FIFO topic");
    let topic_arn = topic.topic_arn().unwrap_or_default().to_owned();
    let (sqs, url) = fifo_queue("pub-sns-sub").await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn(&sqs, &url).await)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe the queue");

    let accounts = ["s-1", "s-2", "s-3", "s-4"];
    deposits(&store, &accounts, 15).await;
    let projector = Projector::new(
        store.clone(),
        views,
        Publisher::new(Contract, SnsFifo::new(sns.clone(), topic_arn.clone())),
    );
    // Each account in two runs, all at once.
    let runs = accounts.iter().map(|id| {
        let (store, projector) = (store.clone(), &projector);
        async move {
            let all = events(&store, id).await;
            projector
                .project("Account", id, all[..7].to_vec())
                .await
                .unwrap();
            projector
                .project("Account", id, all[7..].to_vec())
                .await
                .unwrap();
        }
    });
    futures::future::join_all(runs).await;
    let sent = projector.projection().target().sent();
    assert_eq!(sent.messages, 60);
    // 7 then 8 per account: one PublishBatch each.
    assert_eq!(sent.requests, 8);

    let received = drain(&sqs, &url).await;
    assert_eq!(received.len(), 60);
    assert_in_order_once(&received, &accounts, 15);
}

// ---- EventBridge ----------------------------------------------------------------

/// A sender around the EventBridge client that fails chosen entries: the
/// versions in `fail` fail on their first `times` attempts with
/// `InternalFailure`, without reaching EventBridge; every other entry goes
/// to moto. It records each request's versions.
#[derive(Clone)]
struct Flaky {
    client: aws_sdk_eventbridge::Client,
    fail: Arc<Mutex<BTreeMap<u64, u32>>>,
    calls: Arc<Mutex<Vec<Vec<u64>>>>,
}

fn version_of(entry: &PutEventsRequestEntry) -> u64 {
    document(entry.detail().unwrap_or_default()).aggregate_version
}

impl PutEvents for Flaky {
    async fn put_events(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> Result<PutEventsOutput, es::Error> {
        self.calls
            .lock()
            .unwrap()
            .push(entries.iter().map(version_of).collect());
        let mut refused = Vec::new();
        let mut forwarded = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let version = version_of(&entry);
            let mut fail = self.fail.lock().unwrap();
            match fail.get_mut(&version) {
                Some(times) if *times > 0 => {
                    *times -= 1;
                    refused.push(i);
                }
                _ => forwarded.push((i, entry)),
            }
        }
        let (places, entries): (Vec<usize>, Vec<_>) = forwarded.into_iter().unzip();
        let real = if entries.is_empty() {
            Vec::new()
        } else {
            let out = PutEvents::put_events(&self.client, entries).await?;
            out.entries().to_vec()
        };
        let total = places.len() + refused.len();
        let mut results = vec![None; total];
        for (place, result) in places.into_iter().zip(real) {
            results[place] = Some(result);
        }
        for place in &refused {
            results[*place] = Some(
                PutEventsResultEntry::builder()
                    .error_code("InternalFailure")
                    .error_message("injected by the test")
                    .build(),
            );
        }
        let failed = results
            .iter()
            .filter(|r| r.as_ref().is_none_or(|r| r.error_code().is_some()))
            .count();
        let mut out = PutEventsOutput::builder().failed_entry_count(failed as i32);
        for result in results.into_iter().flatten() {
            out = out.entries(result);
        }
        Ok(out.build())
    }
}

/// A bus with a rule that sends every event of `source` to a new queue.
async fn bus_to_queue(name: &str, source: &str) -> (String, aws_sdk_sqs::Client, String) {
    let events = aws_sdk_eventbridge::Client::new(&config().await);
    let bus = testing::unique_table_name(name);
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create a bus");
    let (sqs, url) = standard_queue(name).await;
    events
        .put_rule()
        .name("all")
        .event_bus_name(&bus)
        .event_pattern(format!(r#"{{"source": ["{source}"]}}"#))
        .send()
        .await
        .expect("put a rule");
    events
        .put_targets()
        .rule("all")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn(&sqs, &url).await)
                .build()
                .expect("a target"),
        )
        .send()
        .await
        .expect("put the target");
    (bus, sqs, url)
}

#[tokio::test]
async fn eventbridge_partial_failure_retries_only_failed_entries() {
    if skip() {
        return;
    }
    let store = testing::store_on_new_table("pub-eb").await;
    let views = testing::views_on_new_table("pub-eb-views").await;
    let (bus, sqs, url) = bus_to_queue("pub-eb", "test.accounts").await;
    deposits(&store, &["e-1"], 12).await;

    let flaky = Flaky {
        client: aws_sdk_eventbridge::Client::new(&config().await),
        fail: Arc::new(Mutex::new(BTreeMap::from([(3, 1), (7, 2)]))),
        calls: Arc::default(),
    };
    let target = EventBridge::new(flaky.clone(), bus.clone(), "test.accounts");
    let projector = Projector::new(
        store.clone(),
        views.clone(),
        Publisher::new(Contract, target),
    );
    let done = projector.catch_up("Account", "e-1").await.unwrap();
    assert_eq!(done.position, 12);
    // Chunks of 10 and 2; in the first, 3 and 7 fail, then 7 alone.
    assert_eq!(
        *flaky.calls.lock().unwrap(),
        vec![
            (1..=10).collect::<Vec<_>>(),
            vec![3, 7],
            vec![7],
            vec![11, 12]
        ]
    );
    assert_eq!(projector.projection().target().sent().messages, 12);
    let received = drain(&sqs, &url).await;
    let mut versions: Vec<u64> = received
        .iter()
        .map(|r| {
            let event: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(event["source"], "test.accounts");
            assert_eq!(event["detail-type"], "MoneyIn");
            let doc: Document<MoneyIn> = serde_json::from_value(event["detail"].clone()).unwrap();
            doc.aggregate_version
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=12).collect::<Vec<_>>(), "each event once");

    // An entry that keeps failing fails the run: nothing is committed, and
    // the error names the aggregate, id and version.
    deposits(&store, &["e-1"], 3).await; // versions 13 to 15
    flaky.fail.lock().unwrap().insert(14, 100);
    flaky.calls.lock().unwrap().clear();
    let halted = projector.catch_up("Account", "e-1").await.unwrap_err();
    assert_eq!(halted.done.position, 12);
    let message = halted.to_string();
    assert!(message.contains("Account \"e-1\" version 14"), "{message}");
    assert!(message.contains("InternalFailure"), "{message}");
    assert_eq!(projector.position("Account", "e-1").await.unwrap(), 12);
    // Five attempts: all three, then 14 alone four times.
    assert_eq!(flaky.calls.lock().unwrap().len(), 5);

    // Healed, the retry sends the run again: 13 and 15 reach the bus twice,
    // and a consumer keeps one of each by the document's id.
    flaky.fail.lock().unwrap().clear();
    projector.catch_up("Account", "e-1").await.unwrap();
    assert_eq!(projector.position("Account", "e-1").await.unwrap(), 15);
    let received = drain(&sqs, &url).await;
    let ids: Vec<String> = received
        .iter()
        .map(|r| {
            let event: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            event["detail"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 3);
}

#[tokio::test]
async fn eventbridge_refused_entry_fails_at_once() {
    if skip() {
        return;
    }
    // A permanent refusal is not retried: one request.
    struct Refuse;
    impl PutEvents for Refuse {
        async fn put_events(
            &self,
            entries: Vec<PutEventsRequestEntry>,
        ) -> Result<PutEventsOutput, es::Error> {
            let mut out = PutEventsOutput::builder().failed_entry_count(entries.len() as i32);
            for _ in entries {
                out = out.entries(
                    PutEventsResultEntry::builder()
                        .error_code("MalformedDetail")
                        .error_message("injected")
                        .build(),
                );
            }
            Ok(out.build())
        }
    }
    let store = testing::store_on_new_table("pub-eb-refused").await;
    let views = testing::views_on_new_table("pub-eb-refused").await;
    deposits(&store, &["r-1"], 2).await;
    let projector = Projector::new(
        store,
        views,
        Publisher::new(Contract, EventBridge::new(Refuse, "bus", "test")),
    );
    let halted = projector.catch_up("Account", "r-1").await.unwrap_err();
    assert!(halted.to_string().contains("MalformedDetail"), "{halted}");
    assert_eq!(projector.projection().target().sent().requests, 1);
    assert_eq!(halted.done.position, 0);
}

// ---- Without a driver -------------------------------------------------------------

#[tokio::test]
async fn publishing_outside_a_driver_is_an_error() {
    let at = Envelope::new(
        "Account",
        "x",
        1,
        "2026-01-01T00:00:00.000Z",
        Default::default(),
    );
    let error = publish::publish(
        &at,
        &MoneyIn {
            account: "x".into(),
            cents: 1,
        },
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("Account \"x\" version 1"),
        "{error}"
    );
}

#[tokio::test]
async fn a_projection_that_stages_messages_it_does_not_take_fails() {
    // The mapping run without a Publisher: its messages must not vanish.
    let store = MemoryStore::new();
    Account::load(&store, "m")
        .await
        .unwrap()
        .commit(Deposited { amount: 1 })
        .await
        .unwrap();
    let projector = Projector::new(store, MemoryViews::new(), Contract);
    let halted = projector.catch_up("Account", "m").await.unwrap_err();
    assert!(halted.to_string().contains("does not take"), "{halted}");
    assert_eq!(halted.done.position, 0);
}

#[tokio::test]
async fn memory_target_keeps_what_it_is_sent() {
    let store = MemoryStore::new();
    for amount in 1..=3 {
        Account::load(&store, "m")
            .await
            .unwrap()
            .commit(Deposited { amount })
            .await
            .unwrap();
    }
    let target = publish::MemoryTarget::new();
    let projector = Projector::new(
        store,
        MemoryViews::new(),
        Publisher::new(Contract, target.clone()),
    );
    projector.catch_up("Account", "m").await.unwrap();
    let messages: Vec<Message> = target.messages();
    assert_eq!(
        messages.iter().map(|m| m.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(messages[0].group_id(), "Account#m");
    assert_eq!(messages[2].deduplication_id(), "Account#m#3");
    assert_eq!(target.sent().requests, 1);
}

// ---- Through a Lambda batch ---------------------------------------------------------

#[tokio::test]
async fn lambda_batch_publishes_and_reports_the_failed_run() {
    if skip() {
        return;
    }
    use es_dynamo::batch::{project_batch, StreamRecord};
    let store = testing::store_on_new_table("pub-batch").await;
    let views = testing::views_on_new_table("pub-batch-views").await;
    let (bus, sqs, url) = bus_to_queue("pub-batch", "test.batch").await;
    deposits(&store, &["b-1", "b-2"], 3).await;
    // The stream's records, as Lambda hands them over: the items' images,
    // in commit order per aggregate.
    let mut items = testing::scan(&store).await;
    items.sort_by_key(|item| {
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        (
            version,
            item.get("aggregateId").and_then(|v| v.as_s().ok()).cloned(),
        )
    });
    let records: Vec<StreamRecord> = items
        .into_iter()
        .enumerate()
        .map(|(n, image)| StreamRecord {
            sequence_number: Some(format!("{:020}", n + 1)),
            event_name: "INSERT".into(),
            new_image: image,
        })
        .collect();
    assert_eq!(records.len(), 6);

    let flaky = Flaky {
        client: aws_sdk_eventbridge::Client::new(&config().await),
        fail: Arc::new(Mutex::new(BTreeMap::new())),
        calls: Arc::default(),
    };
    let target = EventBridge::new(flaky.clone(), bus, "test.batch").with_retry(es::Retry {
        max_attempts: 2,
        ..es::Retry::default()
    });
    let projector = Projector::new(store.clone(), views, Publisher::new(Contract, target));
    // Every version 2 keeps failing: each account's run fails whole.
    flaky.fail.lock().unwrap().insert(2, u32::MAX);
    let report = project_batch(&projector, records.clone()).await;
    // Both accounts' version 2 failed: each run reports its first record.
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    for failure in &report.failures {
        let (aggregate, _, version) = failure.event.clone().expect("named");
        assert_eq!((aggregate.as_str(), version), ("Account", 1));
        assert!(failure.to_string().contains("version 2"), "{failure}");
    }
    assert_eq!(projector.position("Account", "b-1").await.unwrap(), 0);

    // Healed, Lambda's retry of the same records publishes both runs.
    flaky.fail.lock().unwrap().clear();
    let report = project_batch(&projector, records.clone()).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.applied, 6);
    // A redelivery of the batch sends nothing.
    let before = projector.projection().target().sent();
    let report = project_batch(&projector, records).await;
    assert_eq!((report.applied, report.skipped), (0, 6));
    assert_eq!(projector.projection().target().sent(), before);

    // Versions 1 and 3 went out with the failed attempt and again: the
    // subscriber deduplicates by id.
    let received = drain(&sqs, &url).await;
    let ids: HashSet<String> = received
        .iter()
        .map(|r| {
            let event: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            event["detail"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(received.len(), 10, "4 resent, as the docs say");
}
