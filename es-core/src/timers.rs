//! Durable timers: commands scheduled for a later time, kept in a table,
//! and fired at least once by a sweeper.
//!
//! A process manager schedules a [`Timer`] when an event asks for a later
//! action (a hold that expires in 15 minutes), and cancels it when another
//! event makes it moot (the cart checked out). A [`Sweeper`] asks the
//! [`TimerStore`] for the timers that are due, hands each to a
//! [`FireTimer`], and marks it fired. A timer fires **at least once**: a
//! sweeper that stops between firing and marking fires it again, and two
//! sweepers may both fire one. So what a timer does must re-check state and
//! be idempotent: run its command with the timer's id as the idempotency
//! key, and decide on the state as it is when it fires (the cart may have
//! checked out meanwhile; the timer may fire late).
//!
//! Every id is final: scheduling an id that exists (pending, fired or
//! cancelled) changes nothing, and cancelling an id that was never scheduled
//! leaves a tombstone, so a redelivered "schedule" never revives a timer
//! that was cancelled or fired.
//!
//! [`MemoryTimers`] keeps them in memory; es-dynamo's `DynamoTimers` in a
//! DynamoDB table with a sparse index on the due time.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::{self, StreamExt as _};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, StoreError};
use crate::stats::{Record as _, Stats};

/// A command for later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timer {
    /// Its id, chosen by whoever schedules it; derive it from what caused
    /// it (see [`Envelope::command_key`](crate::Envelope::command_key)), so
    /// that scheduling it again is a no-op.
    pub id: String,
    /// When it is due, in milliseconds since the Unix epoch.
    pub due_millis: u64,
    /// What it does, such as `"ExpireHold"`: the [`FireTimer`] dispatches
    /// on it.
    pub kind: String,
    /// Its arguments.
    pub payload: serde_json::Value,
}

impl Timer {
    /// A timer of `kind` with `payload` as its arguments.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] (permanent) when `payload` cannot be encoded as JSON.
    pub fn new<P: Serialize>(
        id: impl Into<String>,
        due_millis: u64,
        kind: impl Into<String>,
        payload: &P,
    ) -> Result<Self, Error> {
        let id = id.into();
        let payload = serde_json::to_value(payload).map_err(|e| {
            StoreError::permanent(
                "schedule timer",
                format!("timer {id:?}: cannot encode its payload: {e}"),
            )
        })?;
        Ok(Timer {
            id,
            due_millis,
            kind: kind.into(),
            payload,
        })
    }

    /// Its arguments, decoded.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] naming the timer when the payload is not a `P`.
    pub fn payload<P: for<'de> Deserialize<'de>>(&self) -> Result<P, Error> {
        serde_json::from_value(self.payload.clone()).map_err(|e| Error::Corrupt {
            aggregate: "$timer".into(),
            id: self.id.clone(),
            version: 0,
            reason: format!("the payload of a {} timer: {e}", self.kind),
        })
    }
}

/// Where a timer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerState {
    /// Waiting to fire.
    Pending,
    /// Fired (at least once).
    Fired,
    /// Cancelled before it fired; or a tombstone of an id cancelled before
    /// it was scheduled.
    Cancelled,
}

/// What [`TimerStore::schedule`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduled {
    /// The timer is new, and pending.
    New,
    /// A timer of that id exists already (pending, fired or cancelled):
    /// nothing changed.
    Exists,
}

/// A table of timers.
pub trait TimerStore: Clone + Send + Sync + 'static {
    /// Schedules `timer`, unless a timer of its id exists.
    fn schedule(&self, timer: &Timer) -> impl Future<Output = Result<Scheduled, Error>> + Send;

    /// Cancels the timer `id` if it is pending; leaves a tombstone if it
    /// does not exist. Returns whether a pending timer was cancelled.
    fn cancel(&self, id: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Pending timers due at or before `now_millis`, at most `limit`,
    /// earliest first. May miss one scheduled a moment ago (DynamoDB's
    /// index is eventually consistent): the next sweep finds it.
    fn due(
        &self,
        now_millis: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Timer>, Error>> + Send;

    /// Marks the timer `id` fired, if it is still pending. Returns whether
    /// it was.
    fn fired(&self, id: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// One timer and where it is, read consistently.
    fn get(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<(Timer, TimerState)>, Error>> + Send;

    /// The table's request and capacity counters.
    fn stats(&self) -> &Stats;
}

/// What fires a timer: runs its command.
pub trait FireTimer: Send + Sync {
    /// Why a timer could not fire; it stays pending, and fires again at the
    /// next sweep.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Runs what `timer` stands for. Called at least once per timer, maybe
    /// late, maybe twice: re-check state, and use `timer.id` as the
    /// command's idempotency key.
    fn fire(&self, timer: &Timer) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Timers fired and marked fired.
    pub fired: u64,
    /// Timers whose command failed: still pending, with why.
    pub failed: Vec<(String, String)>,
    /// Timers fired whose mark found them no longer pending (cancelled while
    /// firing, or fired by another sweeper).
    pub raced: u64,
}

/// Fires the timers that are due: once with [`sweep`](Sweeper::sweep) (what
/// a scheduled Lambda function does each minute), or in a loop with
/// [`run_until`](Sweeper::run_until) (a worker, or a developer's machine).
pub struct Sweeper<T, F, C> {
    timers: T,
    fire: F,
    clock: C,
    page: usize,
    concurrency: usize,
}

impl<T: TimerStore, F: FireTimer, C: Clock> Sweeper<T, F, C> {
    /// A sweeper of `timers`, firing them with `fire`, reading the time from
    /// `clock`.
    pub fn new(timers: T, fire: F, clock: C) -> Self {
        Sweeper {
            timers,
            fire,
            clock,
            page: 100,
            concurrency: 16,
        }
    }

    /// How many timers are fired at once (default 16, at least 1).
    pub fn concurrency(mut self, timers: usize) -> Self {
        self.concurrency = timers.max(1);
        self
    }

    /// The timers.
    pub fn timers(&self) -> &T {
        &self.timers
    }

    /// What fires them.
    pub fn firing(&self) -> &F {
        &self.fire
    }

    /// Fires every timer due now, page by page, until none is left that
    /// has not failed in this sweep.
    ///
    /// # Errors
    ///
    /// A store failure of the timer table. A failed command is no error of
    /// the sweep: the timer stays pending, and the report names it.
    pub async fn sweep(&self) -> Result<SweepReport, Error> {
        let now = self.clock.now_millis();
        let mut report = SweepReport::default();
        loop {
            let failed = report.failed.len();
            let due = self.timers.due(now, self.page + failed).await?;
            let due: Vec<Timer> = due
                .into_iter()
                .filter(|t| !report.failed.iter().any(|(id, _)| *id == t.id))
                .collect();
            if due.is_empty() {
                return Ok(report);
            }
            let outcomes: Vec<(String, Result<bool, String>)> = stream::iter(due)
                .map(|timer| async move {
                    let outcome = match self.fire.fire(&timer).await {
                        Ok(()) => self
                            .timers
                            .fired(&timer.id)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    (timer.id, outcome)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            for (id, outcome) in outcomes {
                match outcome {
                    Ok(true) => report.fired += 1,
                    Ok(false) => report.raced += 1,
                    Err(why) => {
                        tracing::warn!(timer = %id, error = %why, "timer failed; it stays pending");
                        report.failed.push((id, why));
                    }
                }
            }
        }
    }

    /// Sweeps every `every` until `stop` resolves, then returns after the
    /// sweep in hand. A sweep that fails is logged and tried again.
    pub async fn run_until(&self, every: Duration, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            match self.sweep().await {
                Ok(report) if report.fired + report.failed.len() as u64 > 0 => {
                    tracing::info!(fired = report.fired, failed = report.failed.len(), "swept")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "sweep failed; trying again"),
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// Timers in memory, with the same rules as the DynamoDB table. Clones
/// share them.
#[derive(Clone, Debug, Default)]
pub struct MemoryTimers {
    inner: Arc<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    timers: Mutex<BTreeMap<String, (Timer, TimerState)>>,
    stats: Stats,
}

impl MemoryTimers {
    /// No timers.
    pub fn new() -> Self {
        Self::default()
    }

    fn timers(&self) -> MutexGuard<'_, BTreeMap<String, (Timer, TimerState)>> {
        // Each change below is one insert: a panic elsewhere left no
        // half-made entry.
        self.inner
            .timers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TimerStore for MemoryTimers {
    async fn schedule(&self, timer: &Timer) -> Result<Scheduled, Error> {
        let mut timers = self.timers();
        if timers.contains_key(&timer.id) {
            self.inner.stats.record_failed_write(1.0);
            return Ok(Scheduled::Exists);
        }
        timers.insert(timer.id.clone(), (timer.clone(), TimerState::Pending));
        self.inner.stats.record_write(1, 1.0);
        Ok(Scheduled::New)
    }

    async fn cancel(&self, id: &str) -> Result<bool, Error> {
        let mut timers = self.timers();
        let entry = timers.entry(id.to_owned()).or_insert_with(|| {
            (
                Timer {
                    id: id.to_owned(),
                    due_millis: 0,
                    kind: String::new(),
                    payload: serde_json::Value::Null,
                },
                TimerState::Cancelled,
            )
        });
        let was = entry.1 == TimerState::Pending;
        if was {
            entry.1 = TimerState::Cancelled;
        }
        self.inner.stats.record_write(1, 1.0);
        Ok(was)
    }

    async fn due(&self, now_millis: u64, limit: usize) -> Result<Vec<Timer>, Error> {
        let mut due: Vec<Timer> = self
            .timers()
            .values()
            .filter(|(t, s)| *s == TimerState::Pending && t.due_millis <= now_millis)
            .map(|(t, _)| t.clone())
            .collect();
        due.sort_by(|a, b| (a.due_millis, &a.id).cmp(&(b.due_millis, &b.id)));
        due.truncate(limit);
        self.inner.stats.record_read(due.len() as u64, 0.5);
        Ok(due)
    }

    async fn fired(&self, id: &str) -> Result<bool, Error> {
        let mut timers = self.timers();
        self.inner.stats.record_write(1, 1.0);
        match timers.get_mut(id) {
            Some((_, state)) if *state == TimerState::Pending => {
                *state = TimerState::Fired;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<(Timer, TimerState)>, Error> {
        self.inner.stats.record_read(1, 1.0);
        Ok(self.timers().get(id).cloned())
    }

    fn stats(&self) -> &Stats {
        &self.inner.stats
    }
}
