//! An SNS FIFO topic as a publishing [`Target`].

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use es_core::{Error, StoreError};

use super::fifo::{self, BatchSend, Refused};
use super::{Counters, Message, Sent, Target};

/// The largest SNS message: 256 KiB, body and attributes; also the largest
/// batch.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// An SNS FIFO topic: each aggregate's messages in one message group (its
/// key), each event's deduplicated by its key and version. Its
/// subscribers are SQS FIFO queues (and, with raw message delivery, they
/// receive the document itself).
///
/// Messages go out with `PublishBatch`, up to 10 per request, with two
/// string attributes, `type` and `aggregate`, for subscription filter
/// policies.
#[derive(Clone, Debug)]
pub struct SnsFifo {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    retry: es_core::Retry,
    counters: std::sync::Arc<Counters>,
}

impl SnsFifo {
    /// The topic `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsFifo {
            client,
            topic_arn: topic_arn.into(),
            retry: super::default_retry(),
            counters: Default::default(),
        }
    }

    /// The topic `topic_arn`, with a client from the AWS config chain
    /// (`AWS_ENDPOINT_URL_SNS`).
    pub async fn from_env(topic_arn: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(aws_sdk_sns::Client::new(&config), topic_arn)
    }

    /// Retries refused entries with `retry` (5 attempts by default).
    pub fn with_retry(mut self, retry: es_core::Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The topic's ARN.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, Error> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| StoreError::permanent("publish", format!("SNS attribute: {e}")).into())
}

impl BatchSend for SnsFifo {
    const SERVICE: &'static str = "SNS";
    const BYTES: usize = MAX_MESSAGE_BYTES;

    fn size(message: &Message) -> usize {
        message.body.len()
            + "type".len()
            + "aggregate".len()
            + 2 * "String".len()
            + message.name.len()
            + message.aggregate.len()
    }

    async fn send_batch(&self, batch: &[Message]) -> Result<Vec<Refused>, Error> {
        let mut entries = Vec::with_capacity(batch.len());
        for (index, message) in batch.iter().enumerate() {
            let entry = PublishBatchRequestEntry::builder()
                .id(index.to_string())
                .message(&message.body)
                .message_group_id(message.group_id())
                .message_deduplication_id(message.deduplication_id())
                .message_attributes("type", attribute(message.name)?)
                .message_attributes("aggregate", attribute(message.aggregate)?)
                .build()
                .map_err(|e| message.failure("publish", false, format!("SNS entry: {e}")))?;
            entries.push(entry);
        }
        let output = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                let e = aws_sdk_sns::error::DisplayErrorContext(e);
                batch
                    .first()
                    .map(|m| m.failure("publish", true, format!("SNS PublishBatch: {e}")))
                    .unwrap_or_else(|| StoreError::transient("publish", e.to_string()).into())
            })?;
        Ok(output
            .failed()
            .iter()
            .map(|f| Refused {
                index: f.id().parse().unwrap_or(0),
                code: format!("{}: {}", f.code(), f.message().unwrap_or("")),
                sender_fault: f.sender_fault(),
            })
            .collect())
    }
}

impl Target for SnsFifo {
    async fn send(&self, messages: &[Message]) -> Result<(), Error> {
        fifo::send(self, &self.counters, &self.retry, messages).await
    }

    fn sent(&self) -> Sent {
        self.counters.get()
    }
}
