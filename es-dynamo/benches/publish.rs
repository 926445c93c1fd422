//! What publishing integration events costs, per target: events in DynamoDB
//! Local, the publisher's positions in a view table there, messages to moto's
//! SQS FIFO queue, SNS FIFO topic and EventBridge bus. Prints a Markdown
//! table. moto's speed is not AWS's: the requests per event are what carry
//! over, the rates only compare the targets with each other here.
//!
//! ```text
//! scripts/dynamodb-local.sh run -- scripts/moto.sh run -- \
//!     cargo bench -p es-dynamo --features publish --bench publish
//! ```
//!
//! Two shapes of traffic, each through `Projector::catch_up` per aggregate,
//! 16 aggregates at once (as a Lambda batch projects them):
//!
//! 1. **single events**: 200 aggregates with one event each, as a steady
//!    stream of single-event commits reaches the publisher: one run, one
//!    message, one request per event;
//! 2. **runs of 50**: 8 aggregates with 50 events each, as a busy aggregate's
//!    records arrive together: batches of 10.
//!
//! Beside them, the same with a target in memory: what the positions in
//! DynamoDB Local cost alone.

use std::time::Instant;

use es::prelude::*;
use es_dynamo::publish::{
    self, EventBridge, IntegrationEvent, MemoryTarget, Publisher, SnsFifo, SqsFifo, Target,
};
use es_dynamo::{testing, DynamoStore};
use futures::stream;
use serde::{Deserialize, Serialize};

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

#[derive(Serialize)]
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

/// The events of one shape: `aggregates` accounts, `each` events apiece.
async fn history(prefix: &str, aggregates: usize, each: u32) -> (DynamoStore, Vec<String>) {
    let store = testing::store_on_new_table(prefix).await;
    let ids: Vec<String> = (0..aggregates).map(|n| format!("acc-{n:04}")).collect();
    stream::iter(ids.clone())
        .for_each_concurrent(16, |id| {
            let store = store.clone();
            async move {
                let mut account = Account::load(&store, id).await.expect("load");
                for amount in 1..=each {
                    account.commit(Deposited { amount }).await.expect("commit");
                }
            }
        })
        .await;
    (store, ids)
}

struct Row {
    target: &'static str,
    shape: &'static str,
    events: u64,
    seconds: f64,
    requests: u64,
}

async fn run<T: Target>(
    target: T,
    name: &'static str,
    shape: &'static str,
    store: &DynamoStore,
    ids: &[String],
) -> Row {
    let views = testing::views_on_new_table("bench-publish-views").await;
    let projector = Projector::new(store.clone(), views, Publisher::new(Contract, target));
    let started = Instant::now();
    let outcomes: Vec<u64> = stream::iter(ids.iter())
        .map(|id| {
            let projector = &projector;
            async move {
                projector
                    .catch_up("Account", id)
                    .await
                    .expect("published")
                    .applied
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let sent = projector.projection().target().sent();
    let events: u64 = outcomes.iter().sum();
    assert_eq!(sent.messages, events, "{name}: every event sent once");
    Row {
        target: name,
        shape,
        events,
        seconds,
        requests: sent.requests,
    }
}

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none()
        || std::env::var_os("AWS_ENDPOINT_URL_SQS").is_none()
    {
        eprintln!(
            "publish bench: needs DynamoDB Local and moto; run it under \
             scripts/dynamodb-local.sh run -- scripts/moto.sh run --"
        );
        return;
    }
    let config = aws_config::load_from_env().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let mut rows = Vec::new();
    for (shape, aggregates, each) in [("single events", 200, 1), ("runs of 50", 8, 50)] {
        // A history per target: each publisher starts from position 0.
        for target in ["memory", "SQS FIFO", "SNS FIFO", "EventBridge"] {
            let (store, ids) = history("bench-publish", aggregates, each).await;
            // A queue, topic or bus of its own, empty.
            let row = match target {
                "memory" => run(MemoryTarget::new(), target, shape, &store, &ids).await,
                "SQS FIFO" => {
                    let queue = sqs
                        .create_queue()
                        .queue_name(format!("{}.fifo", testing::unique_table_name("bench")))
                        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
                        .send()
                        .await
                        .expect("queue");
                    let url = queue.queue_url().unwrap_or_default().to_owned();
                    run(SqsFifo::new(sqs.clone(), url), target, shape, &store, &ids).await
                }
                "SNS FIFO" => {
                    let topic = sns
                        .create_topic()
                        .name(format!("{}.fifo", testing::unique_table_name("bench")))
                        .attributes("FifoTopic", "true")
                        .send()
                        .await
                        .expect("topic");
                    let arn = topic.topic_arn().unwrap_or_default().to_owned();
                    run(SnsFifo::new(sns.clone(), arn), target, shape, &store, &ids).await
                }
                _ => {
                    let bus = testing::unique_table_name("bench");
                    events
                        .create_event_bus()
                        .name(&bus)
                        .send()
                        .await
                        .expect("bus");
                    let t = EventBridge::new(events.clone(), bus, "bench");
                    run(t, target, shape, &store, &ids).await
                }
            };
            rows.push(row);
        }
    }

    println!("## Publishing integration events, on DynamoDB Local and moto\n");
    println!(
        "| target | traffic | events | seconds | events/s | target requests | requests per event |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {} | {:.2} |",
            r.target,
            r.shape,
            r.events,
            r.seconds,
            r.events as f64 / r.seconds,
            r.requests,
            r.requests as f64 / r.events as f64
        );
    }
}
