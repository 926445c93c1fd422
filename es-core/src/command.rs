//! Commands: decide on the current state, commit, and retry on conflict.

use std::time::Duration;

use tracing::Instrument;

use crate::aggregate::Aggregate;
use crate::error::Error;
use crate::event::IntoEvents;
use crate::limits::check_idempotency_key;
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
        }
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
        } = self;
        let recorder = span.clone();
        async move {
            if let Some(key) = &key {
                check_idempotency_key(key).map_err(Error::widen)?;
            }
            let mut root = match root {
                Some(root) if root.id() == id => root,
                Some(root) => {
                    return Err(Error::InvalidId {
                        aggregate: A::NAME,
                        id: root.id().chars().take(64).collect(),
                        reason: "the handle given to `Command::on` has another id than the command",
                    })
                }
                None => Root::load(store, id.clone()).await?,
            };
            let max_attempts = retry.max_attempts.max(1);
            let mut attempt = 1;
            let result = loop {
                // A repeated command may be rejected, or find nothing to do,
                // only because its first run already changed the state: then
                // it is that run that answers.
                let events = match decide(root.state()) {
                    Ok(events) => events.into_events(),
                    Err(rejection) => {
                        break first_run_or(store, key.as_deref(), root, attempt, |_| {
                            Err(Error::Rejected(rejection))
                        })
                        .await;
                    }
                };
                if events.is_empty() {
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
                let crate::root::Staged { append, next, last } = match root.stage(&events) {
                    Ok(staged) => staged,
                    Err(e) => break Err(e),
                };
                let command = key.as_ref().map(|key| CommandRecord {
                    key: key.clone(),
                    outcome: vec![(A::NAME.to_owned(), id.clone(), last)],
                    expires_at: crate::time::now_secs().saturating_add(ttl.as_secs()),
                });
                let result = store
                    .commit(Commit {
                        appends: vec![append],
                        command,
                        exact_conflict: attempt >= max_attempts,
                    })
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
                    // Conflicts, and transient store failures such as throttling,
                    // pass: catch up on what changed and decide again.
                    Err(e) if e.is_retryable() && attempt < max_attempts => {
                        tracing::debug!(attempt, expected = root.version(), error = %e, "retrying");
                        tokio::time::sleep(retry.delay(attempt)).await;
                        attempt += 1;
                        if let Err(e) = root.hydrate().await {
                            break Err(e);
                        }
                    }
                    Err(e) => break Err(e.about(A::NAME, &id).widen()),
                }
            };
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
