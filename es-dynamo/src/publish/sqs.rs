//! An SQS FIFO queue as a publishing [`Target`].

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use es_core::{Error, StoreError};

use super::fifo::{self, BatchSend, Refused};
use super::{Counters, Message, Sent, Target};

/// The largest SQS message: 1 MiB, body and attributes; also the largest
/// batch.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// An SQS FIFO queue: each aggregate's messages in one message group (its
/// key), each event's deduplicated by its key and version.
///
/// Messages go out with `SendMessageBatch`, up to 10 per request, with two
/// string attributes, `type` (the integration event's name) and
/// `aggregate`. The queue must be FIFO (`.fifo`); content-based
/// deduplication is not needed, as every message has its id.
#[derive(Clone, Debug)]
pub struct SqsFifo {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    retry: es_core::Retry,
    counters: std::sync::Arc<Counters>,
}

impl SqsFifo {
    /// The queue at `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsFifo {
            client,
            queue_url: queue_url.into(),
            retry: super::default_retry(),
            counters: Default::default(),
        }
    }

    /// The queue at `queue_url`, with a client from the AWS config chain
    /// (environment, profile, instance role; `AWS_ENDPOINT_URL_SQS`).
    pub async fn from_env(queue_url: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(aws_sdk_sqs::Client::new(&config), queue_url)
    }

    /// Retries refused entries with `retry` (5 attempts by default).
    pub fn with_retry(mut self, retry: es_core::Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, Error> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| StoreError::permanent("publish", format!("SQS attribute: {e}")).into())
}

impl BatchSend for SqsFifo {
    const SERVICE: &'static str = "SQS";
    const BYTES: usize = MAX_MESSAGE_BYTES;

    fn size(message: &Message) -> usize {
        // Attributes count by name, type and value.
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
            let entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(&message.body)
                .message_group_id(message.group_id())
                .message_deduplication_id(message.deduplication_id())
                .message_attributes("type", attribute(message.name)?)
                .message_attributes("aggregate", attribute(message.aggregate)?)
                .build()
                .map_err(|e| message.failure("publish", false, format!("SQS entry: {e}")))?;
            entries.push(entry);
        }
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                let e = aws_sdk_sqs::error::DisplayErrorContext(e);
                batch
                    .first()
                    .map(|m| m.failure("publish", true, format!("SQS SendMessageBatch: {e}")))
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

impl Target for SqsFifo {
    async fn send(&self, messages: &[Message]) -> Result<(), Error> {
        fifo::send(self, &self.counters, &self.retry, messages).await
    }

    fn sent(&self) -> Sent {
        self.counters.get()
    }
}
