//! An EventBridge event bus as a publishing [`Target`].
//!
//! `PutEvents` answers 200 even when some of its entries failed: the
//! answer's `FailedEntryCount` and each entry's `ErrorCode` say which. The
//! target checks both, sends only the failed entries again, and reports a
//! run whose entries still fail as failed, so that the projector does not
//! move its position past them.

use std::future::Future;

use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::primitives::{DateTime, DateTimeFormat};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use es_core::{Error, StoreError};

use super::{chunks, Counters, Message, Sent, Target};

/// The largest `PutEvents` entry: 1 MB (`Time` counts 14 bytes, `Source`,
/// `DetailType` and `Detail` their UTF-8 bytes); also the largest request.
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// The most entries in one `PutEvents`.
pub const MAX_ENTRIES: usize = 10;

/// Error codes of entries that no retry can make pass.
const PERMANENT: [&str; 5] = [
    "MalformedDetail",
    "InvalidArgument",
    "ValidationException",
    "AccessDenied",
    "NotAuthorized",
];

/// What sends a `PutEvents` request: the EventBridge client, or a wrapper
/// around it (tests inject failed entries that way).
pub trait PutEvents: Send + Sync {
    /// Sends one `PutEvents` request of these entries.
    ///
    /// # Errors
    ///
    /// When the request as a whole failed (after the SDK's own retries).
    fn put_events(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> impl Future<Output = Result<PutEventsOutput, Error>> + Send;
}

impl PutEvents for aws_sdk_eventbridge::Client {
    async fn put_events(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> Result<PutEventsOutput, Error> {
        self.put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                StoreError::transient(
                    "publish",
                    format!(
                        "EventBridge PutEvents: {}",
                        aws_sdk_eventbridge::error::DisplayErrorContext(e)
                    ),
                )
                .into()
            })
    }
}

/// An EventBridge bus: each message an event of `source`, its
/// `detail-type` the integration event's name, its `detail` the document,
/// its `time` the stored event's; sent with `PutEvents`, 10 at a time.
///
/// EventBridge neither orders nor deduplicates: a rule's targets may get
/// an aggregate's events out of order, and an event twice. Consumers order
/// and deduplicate by the document's `aggregateVersion` and `id`
/// (`docs/publishing.md`).
#[derive(Clone, Debug)]
pub struct EventBridge<S = aws_sdk_eventbridge::Client> {
    sender: S,
    bus: String,
    source: String,
    retry: es_core::Retry,
    counters: std::sync::Arc<Counters>,
}

impl EventBridge {
    /// The bus `bus` (a name or an ARN), with a client from the AWS config
    /// chain (`AWS_ENDPOINT_URL_EVENTBRIDGE`); events of source `source`,
    /// such as `"shop"`.
    pub async fn from_env(bus: impl Into<String>, source: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(aws_sdk_eventbridge::Client::new(&config), bus, source)
    }
}

impl<S: PutEvents> EventBridge<S> {
    /// The bus `bus` through `sender`; events of source `source`.
    pub fn new(sender: S, bus: impl Into<String>, source: impl Into<String>) -> Self {
        EventBridge {
            sender,
            bus: bus.into(),
            source: source.into(),
            retry: super::default_retry(),
            counters: Default::default(),
        }
    }

    /// Retries failed entries with `retry` (5 attempts by default).
    pub fn with_retry(mut self, retry: es_core::Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The sender.
    pub fn sender(&self) -> &S {
        &self.sender
    }

    /// The entry's size as EventBridge counts it.
    fn size(&self, message: &Message) -> usize {
        14 + self.source.len() + message.name.len() + message.body.len()
    }

    fn entry(&self, message: &Message) -> PutEventsRequestEntry {
        let mut entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(message.name)
            .detail(&message.body);
        // A stored timestamp that does not parse leaves EventBridge's own.
        if let Ok(time) = DateTime::from_str(&message.time, DateTimeFormat::DateTime) {
            entry = entry.time(time);
        }
        entry.build()
    }
}

impl<S: PutEvents> Target for EventBridge<S> {
    async fn send(&self, messages: &[Message]) -> Result<(), Error> {
        let size = |m: &Message| self.size(m);
        super::check_sizes(messages, "EventBridge", MAX_ENTRY_BYTES, size)?;
        for chunk in chunks(messages, MAX_ENTRIES, MAX_ENTRY_BYTES, size) {
            // The entries still to send, by their place in the chunk.
            let mut pending: Vec<usize> = (0..chunk.len()).collect();
            let mut attempt = 1;
            while !pending.is_empty() {
                let entries = pending.iter().map(|&i| self.entry(&chunk[i])).collect();
                self.counters.request();
                let output = self.sender.put_events(entries).await?;
                let results = output.entries();
                // Failed: an entry with an error code, one without an event
                // id, and any the answer does not cover.
                let mut failed = Vec::new();
                let mut last_code = String::new();
                for (n, &i) in pending.iter().enumerate() {
                    let result = results.get(n);
                    let code = result.and_then(|r| r.error_code());
                    let ok = code.is_none() && result.and_then(|r| r.event_id()).is_some();
                    if ok {
                        continue;
                    }
                    let code = code.unwrap_or("NoEventId").to_owned();
                    let why = result.and_then(|r| r.error_message()).unwrap_or("");
                    if PERMANENT.iter().any(|p| code.starts_with(p)) {
                        return Err(chunk[i].failure(
                            "publish",
                            false,
                            format!("EventBridge refused it: {code}: {why}"),
                        ));
                    }
                    last_code = format!("{code}: {why}");
                    failed.push(i);
                }
                if failed.is_empty() && output.failed_entry_count() > 0 {
                    // The count says some failed, the entries do not say
                    // which: none is taken as sent.
                    failed = pending.clone();
                    last_code = format!("FailedEntryCount {}", output.failed_entry_count());
                }
                self.counters.accepted(pending.len() - failed.len());
                if failed.is_empty() {
                    break;
                }
                let first = &chunk[failed[0]];
                if attempt >= self.retry.max_attempts {
                    return Err(first.failure(
                        "publish",
                        true,
                        format!(
                            "EventBridge failed {} of its entries {attempt} times, last with {last_code}",
                            failed.len()
                        ),
                    ));
                }
                tracing::warn!(
                    aggregate = first.aggregate,
                    id = %first.aggregate_id,
                    version = first.version,
                    failed = failed.len(),
                    code = %last_code,
                    attempt,
                    "EventBridge failed some entries; sending those again"
                );
                tokio::time::sleep(self.retry.delay(attempt)).await;
                attempt += 1;
                pending = failed;
            }
        }
        Ok(())
    }

    fn sent(&self) -> Sent {
        self.counters.get()
    }
}
