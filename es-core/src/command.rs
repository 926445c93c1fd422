//! Commands: decide on the current state, commit, and retry on conflict.

use std::time::Duration;

use tracing::Instrument;

use crate::aggregate::Aggregate;
use crate::error::Error;
use crate::event::{IntoEvents, Metadata};
use crate::limits::{check_id, check_idempotency_key, check_name, stream_key};
use crate::root::Root;
use crate::store::{CommandRecord, Commit, Committed, EventStore};

/// How often and how patiently a command retries after a conflict.
///
/// Each retry waits a random time between zero and an exponentially growing
/// ceiling ("full jitter"), so that writers who collided do not collide again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The most attempts in all, the first included. At least 1.
    pub max_attempts: u32,
    /// The ceiling of the first wait; it doubles on each retry.
    pub base_delay: Duration,
    /// The largest ceiling.
    pub max_delay: Duration,
}

impl Default for Retry {
    /// 16 attempts, waits of up to 2 ms doubling to 250 ms.
    fn default() -> Self {
        Retry {
            max_attempts: 16,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(250),
        }
    }
}

impl Retry {
    /// No retries: the first conflict is returned.
    pub fn never() -> Self {
        Self::attempts(1)
    }

    /// The default waits, with at most `max_attempts` attempts in all.
    pub fn attempts(max_attempts: u32) -> Self {
        Retry {
            max_attempts,
            ..Retry::default()
        }
    }

    /// The jittered wait before retry number `retry` (1-based): uniform
    /// between zero and `base_delay * 2^(retry - 1)`, capped at `max_delay`.
    /// Public so that code retrying its own operations, such as a
    /// [`Transaction`](crate::Transaction), backs off the same way.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(
                1u32.checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.max_delay);
        ceiling.mul_f64(jitter())
    }
}

/// A number in [0, 1), uniform. Backoff needs spread, not cryptographic
/// randomness: fastrand's generator is seeded per thread, as the AWS SDK's
/// own retry jitter is.
fn jitter() -> f64 {
    fastrand::f64()
}

/// What a command did.
pub struct Executed<A: Aggregate, S> {
    /// The aggregate after the command.
    pub root: Root<A, S>,
    /// The version the command's events ended at. For a repeated command, the
    /// version its first execution wrote.
    pub version: u64,
    /// True when a command with the same idempotency key had already run and
    /// nothing was written this time.
    pub duplicate: bool,
    /// How many attempts it took.
    pub attempts: u32,
}

impl<A: Aggregate, S> std::fmt::Debug for Executed<A, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executed")
            .field("root", &self.root)
            .field("version", &self.version)
            .field("duplicate", &self.duplicate)
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// A command on one aggregate, built by [`AggregateExt::command`](crate::AggregateExt::command).
#[must_use = "a command does nothing until `execute` is called"]
pub struct Command<'s, A: Aggregate, S> {
    store: &'s S,
    id: String,
    retry: Retry,
    key: Option<String>,
    ttl: Duration,
    root: Option<Root<A, S>>,
    metadata: Option<Metadata>,
}

impl<'s, A: Aggregate, S: EventStore> Command<'s, A, S> {
    pub(crate) fn new(store: &'s S, id: String) -> Self {
        Command {
            store,
            id,
            retry: Retry::default(),
            key: None,
            ttl: Duration::from_secs(7 * 24 * 3600),
            root: None,
            metadata: None,
        }
    }

    /// Stores `metadata` (correlation and causation ids, say) with the
    /// events this command writes, in place of the handle's own.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Makes the command idempotent: a second execution with the same key
    /// writes nothing and returns the first execution's outcome. The key is
    /// stored atomically with the events and kept for `ttl` (default 7 days).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// How long the idempotency record is kept.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Starts from an already loaded handle instead of loading, saving a read.
    pub fn on(mut self, root: Root<A, S>) -> Self {
        self.root = Some(root);
        self
    }

    /// Decides with `decide` on the current state, then commits what it returns.
    ///
    /// On a conflict it reads only the events written since, decides again,
    /// and retries, up to the policy's attempts, waiting a jittered time
    /// between attempts (with `tokio::time::sleep`, so it runs on Tokio). A
    /// domain rejection is returned at once and never retried. The
    /// `es.execute` span records the attempts and the final version.
    ///
    /// A write whose outcome is unknown ([`Error::is_indeterminate`], such as
    /// a timeout after DynamoDB received the request) is not retried without
    /// an idempotency key, since deciding again on the state that write may
    /// have left would apply the command twice: the error is returned, naming
    /// the aggregate, id and versions. With a key, it is retried, and if the
    /// first write landed the retry returns that run's outcome as a
    /// duplicate. When catching up after a failed write fails, the write's
    /// error is returned, telling of the read's.
    ///
    /// With an idempotency key, a repeated command writes nothing and returns
    /// the first run's version with `duplicate: true`, even when its decision
    /// now rejects or returns no events because the first run already changed
    /// the state. A key that ran a command on another aggregate is refused
    /// with [`Error::KeyReused`].
    pub async fn execute<F, R>(self, mut decide: F) -> Result<Executed<A, S>, Error<A::Error>>
    where
        F: FnMut(&A) -> Result<R, A::Error>,
        R: IntoEvents<A>,
    {
        let span = tracing::info_span!(
            "es.execute",
            aggregate = A::NAME,
            id = %self.id,
            attempts = tracing::field::Empty,
            version = tracing::field::Empty
        );
        let Command {
            store,
            id,
            retry,
            key,
            ttl,
            root,
            metadata,
        } = self;
        let recorder = span.clone();
        async move {
            if let Some(key) = &key {
                check_idempotency_key(key).map_err(Error::widen)?;
            }
            if let Some(root) = &root {
                if root.id() != id {
                    return Err(Error::InvalidId {
                        aggregate: A::NAME,
                        id: root.id().chars().take(64).collect(),
                        reason: "the handle given to `Command::on` has another id than the command",
                    });
                }
            }
            check_name(A::NAME).map_err(Error::widen)?;
            check_id(A::NAME, &id).map_err(Error::widen)?;
            // Commands on one aggregate in this process take turns, each
            // starting from the state the one before left: they never
            // conflict with each other.
            let stream = stream_key(A::NAME, &id);
            let turn = store.writers().turn(&stream).await;
            // Whether the state was read from the store during this
            // command. One kept in this process, or handed in, may be
            // stale: a write from it is checked by its condition, and a
            // rejection or a no-op is checked by catching up first.
            let (mut root, mut read) = Root::for_turn(store, id.clone(), root, &turn).await?;
            if let Some(metadata) = metadata {
                root = root.with_metadata(metadata);
            }
            let max_attempts = retry.max_attempts.max(1);
            let mut attempt = 1;
            let result = loop {
                let decided = decide(root.state()).map(IntoEvents::into_events);
                let settled = match &decided {
                    Err(_) => true,
                    Ok(events) => events.is_empty(),
                };
                // Nothing to write: the answer stands only on the latest
                // state. Catch up on what was missed, and decide again if
                // there was anything.
                if settled && !read {
                    read = true;
                    match root.hydrate().await {
                        Ok(0) => {}
                        Ok(_) => continue,
                        Err(e) => break Err(e),
                    }
                }
                // A repeated command may be rejected, or find nothing to do,
                // only because its first run already changed the state: then
                // it is that run that answers.
                let events = match decided {
                    Ok(events) => events,
                    Err(rejection) => {
                        root.remember();
                        break first_run_or(store, key.as_deref(), root, attempt, |_| {
                            Err(Error::Rejected(rejection))
                        })
                        .await;
                    }
                };
                if events.is_empty() {
                    root.remember();
                    break first_run_or(store, key.as_deref(), root, attempt, |root| {
                        Ok(Executed {
                            version: root.version(),
                            root,
                            duplicate: false,
                            attempts: attempt,
                        })
                    })
                    .await;
                }
                let crate::root::Staged {
                    append,
                    next,
                    last,
                    sealing,
                } = match root.stage(&events) {
                    Ok(staged) => staged,
                    Err(e) => break Err(e),
                };
                let first = append.expected.saturating_add(1);
                let command = key.as_ref().map(|key| CommandRecord {
                    key: key.clone(),
                    outcome: vec![(A::NAME.to_owned(), id.clone(), last)],
                    expires_at: crate::time::now_secs().saturating_add(ttl.as_secs()),
                });
                let result = crate::erasure::commit(
                    store,
                    Commit {
                        appends: vec![append],
                        command,
                        exact_conflict: attempt >= max_attempts,
                    },
                    &[sealing],
                )
                .await;
                match result {
                    Ok(Committed::Written) => {
                        root.advance(last, next);
                        break Ok(Executed {
                            root,
                            version: last,
                            duplicate: false,
                            attempts: attempt,
                        });
                    }
                    Ok(Committed::Duplicate(record)) => {
                        break duplicate(root, record, attempt).await;
                    }
                    // A write that may have landed is never decided again
                    // without a key: on the state it left, the command would
                    // apply twice. With one, the retry comes back a duplicate.
                    Err(e) if e.is_indeterminate() && key.is_none() => {
                        break Err(e.about(A::NAME, &id).writing(first, last).widen());
                    }
                    // Conflicts, and transient store failures such as throttling,
                    // pass: catch up on what changed and decide again.
                    Err(e) if e.is_retryable() && attempt < max_attempts => {
                        tracing::debug!(attempt, expected = root.version(), error = %e, "retrying");
                        tokio::time::sleep(retry.delay(attempt)).await;
                        attempt += 1;
                        read = true;
                        if let Err(failed) = root.hydrate().await {
                            break Err(write_failed_then::<A>(e, failed, &id, first, last));
                        }
                    }
                    Err(e) => break Err(e.about(A::NAME, &id).writing(first, last).widen()),
                }
            };
            // A failure may leave what this process kept behind the store,
            // or wrong (a corrupt item): the next command starts from a read.
            // A rejection is an answer, not a failure.
            if !matches!(result, Ok(_) | Err(Error::Rejected(_))) {
                store.writers().forget(&stream);
            }
            drop(turn);
            recorder.record("attempts", attempt);
            if let Ok(done) = &result {
                recorder.record("version", done.version);
            }
            result
        }
        .instrument(span)
        .await
    }
}

/// The error of a failed write whose catch-up read failed too: the write's,
/// which tells whether it may have landed, with the read's told in it. A
/// conflict (nothing written) is returned as it is, the read's failure logged.
fn write_failed_then<A: Aggregate>(
    write: Error,
    read: Error<A::Error>,
    id: &str,
    first: u64,
    last: u64,
) -> Error<A::Error> {
    match write.about(A::NAME, id).writing(first, last) {
        Error::Store(e) => Error::Store(e.then(format_args!("catching up failed: {read}"))),
        other => {
            tracing::warn!(error = %read, "catching up after a failed write failed");
            other.widen()
        }
    }
}

/// The outcome of this command's earlier run under the same key, when there
/// was one; else `otherwise`. One GetItem on DynamoDB, only when it has a key.
async fn first_run_or<A: Aggregate, S: EventStore>(
    store: &S,
    key: Option<&str>,
    root: Root<A, S>,
    attempts: u32,
    otherwise: impl FnOnce(Root<A, S>) -> Result<Executed<A, S>, Error<A::Error>>,
) -> Result<Executed<A, S>, Error<A::Error>> {
    let earlier = match key {
        Some(key) => store.command(key).await.map_err(Error::widen)?,
        None => None,
    };
    match earlier {
        Some(record) => duplicate(root, record, attempts).await,
        None => otherwise(root),
    }
}

/// The outcome of a command that already ran under the same key: its version
/// on this aggregate, and the handle caught up to the store.
async fn duplicate<A: Aggregate, S: EventStore>(
    mut root: Root<A, S>,
    record: CommandRecord,
    attempts: u32,
) -> Result<Executed<A, S>, Error<A::Error>> {
    let ran_here = record
        .outcome
        .iter()
        .find(|(aggregate, id, _)| aggregate == A::NAME && id == root.id())
        .map(|&(_, _, version)| version);
    let Some(version) = ran_here else {
        let previous = record
            .outcome
            .iter()
            .map(|(aggregate, id, _)| format!("{aggregate} {id:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::KeyReused {
            key: record.key,
            aggregate: A::NAME,
            id: root.id().to_owned(),
            previous,
        });
    };
    tracing::info!(key = %record.key, version, "command already ran; nothing written");
    root.hydrate().await?;
    Ok(Executed {
        root,
        version,
        duplicate: true,
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_their_ceiling() {
        let retry = Retry::default();
        for n in 1..40 {
            let ceiling = (retry.base_delay * 2u32.saturating_pow(n - 1)).min(retry.max_delay);
            let d = retry.delay(n);
            assert!(d <= ceiling, "retry {n}: {d:?} > {ceiling:?}");
        }
    }

    #[test]
    fn jitter_spreads() {
        let samples: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
        let distinct = samples
            .iter()
            .map(|j| j.to_bits())
            .collect::<std::collections::HashSet<_>>();
        assert!(distinct.len() > 90);
    }
}
