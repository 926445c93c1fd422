//! What the SQS and SNS FIFO targets share: batches of ten, and a partial
//! failure resent from its first refused entry on.

use std::future::Future;

use es_core::Error;

use super::{chunks, Counters, Message};

/// An entry a batch request refused.
pub(crate) struct Refused {
    /// Its place in the batch.
    pub(crate) index: usize,
    /// The service's error code.
    pub(crate) code: String,
    /// Whether the service says the request was at fault, so that sending
    /// it again cannot pass.
    pub(crate) sender_fault: bool,
}

/// One batch request of a FIFO target.
pub(crate) trait BatchSend: Sync {
    /// The service's name, for errors.
    const SERVICE: &'static str;
    /// The most entries in one request.
    const ENTRIES: usize = 10;
    /// The most bytes in one request.
    const BYTES: usize;

    /// A message's size as the service counts it.
    fn size(message: &Message) -> usize;

    /// Sends one batch; answers with the entries it refused.
    fn send_batch<'a>(
        &'a self,
        batch: &'a [Message],
    ) -> impl Future<Output = Result<Vec<Refused>, Error>> + Send + 'a;
}

/// Sends `messages` (one aggregate's, in version order) in batches, each
/// after the one before it was accepted whole.
///
/// When a batch has refused entries, the first of them and every entry
/// after it are sent again, in order: the group's order is kept as far as
/// the service lets it, and an entry accepted before is dropped by its
/// deduplication id (5 minutes). A refusal the service blames on the
/// request fails at once; others are retried up to `retry`'s attempts.
pub(crate) async fn send<B: BatchSend>(
    target: &B,
    counters: &Counters,
    retry: &es_core::Retry,
    messages: &[Message],
) -> Result<(), Error> {
    super::check_sizes(messages, B::SERVICE, B::BYTES, B::size)?;
    for batch in chunks(messages, B::ENTRIES, B::BYTES, B::size) {
        let mut pending = batch;
        let mut attempt = 1;
        loop {
            counters.request();
            let refused = target.send_batch(pending).await?;
            let Some(first) = refused.iter().min_by_key(|r| r.index) else {
                counters.accepted(pending.len());
                break;
            };
            let at = first.index.min(pending.len().saturating_sub(1));
            counters.accepted(at);
            let message = &pending[at];
            if let Some(fault) = refused.iter().find(|r| r.sender_fault) {
                return Err(pending.get(fault.index).unwrap_or(message).failure(
                    "publish",
                    false,
                    format!("{} refused it: {}", B::SERVICE, fault.code),
                ));
            }
            if attempt >= retry.max_attempts {
                return Err(message.failure(
                    "publish",
                    true,
                    format!(
                        "{} refused it {attempt} times, last with {}",
                        B::SERVICE,
                        first.code
                    ),
                ));
            }
            tracing::warn!(
                service = B::SERVICE,
                aggregate = message.aggregate,
                id = %message.aggregate_id,
                version = message.version,
                code = %first.code,
                attempt,
                "a batch entry was refused; sending it and those after it again"
            );
            tokio::time::sleep(retry.delay(attempt)).await;
            attempt += 1;
            pending = &pending[at..];
        }
    }
    Ok(())
}
