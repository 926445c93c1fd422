//! [`StreamRunner`]: a projection kept up to date from the table's DynamoDB
//! Stream by a long-running process, such as a worker in a container or a
//! development machine on DynamoDB Local.
//!
//! It does what Lambda's event source mapping does for a function:
//!
//! - it reads every shard of the stream, a parent before its children, so
//!   that an aggregate's events, which move to a child shard when a shard
//!   splits, are projected in order;
//! - it keeps a checkpoint per shard (the last sequence number projected) in
//!   a [`DynamoViews`] table, behind conditional writes: a runner holds a
//!   shard by a lease, and advances its checkpoint only while it still holds
//!   it, so two runners never both advance one shard;
//! - after a restart it resumes after its checkpoint, so nothing is missed,
//!   and the projection's positions skip what it applied, so nothing is
//!   applied twice, and fill what it missed from the events table;
//! - it stops cleanly when told to: between two batches, with the
//!   checkpoint of the last one written, and its leases released.
//!
//! A record that fails is retried, with the later records of its
//! aggregate, after a pause, until it passes: nothing is skipped.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError;
use aws_sdk_dynamodbstreams::types::{Shard, ShardIteratorType};
use es_core::projection::Projection;
use es_core::Projector;
use es_core::{Error, StoreError};
use futures::FutureExt as _;
use tracing::Instrument as _;

use crate::batch::{project_batch, RecordError, StreamRecord};
use crate::errors::store_error;
use crate::views::VIEW_ID;
use crate::{DynamoStore, DynamoViews};

const SEQUENCE: &str = "sequence";
const OWNER: &str = "owner";
const LEASE_UNTIL: &str = "leaseUntil";
const DONE: &str = "done";

/// Keeps a projection up to date from a table's DynamoDB Stream; see the
/// [module docs](self).
///
/// ```no_run
/// # use es::prelude::*;
/// # use es::dynamo::{DynamoStore, DynamoViews, StreamRunner};
/// # async fn run<P: es::Projection>(projection: P) -> Result<(), Box<dyn std::error::Error>> {
/// let store = DynamoStore::from_env("events").await;
/// let views = DynamoViews::from_env("views").await;
/// let runner = StreamRunner::new(Projector::new(store, views, projection)).await;
/// // Until Ctrl-C or SIGTERM: then the batch in hand is finished and
/// // checkpointed, and the leases released.
/// runner.run_until(es::dynamo::runner::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
pub struct StreamRunner<P> {
    projector: Projector<DynamoStore, DynamoViews, P>,
    streams: aws_sdk_dynamodbstreams::Client,
    owner: String,
    lease: Duration,
    idle: Duration,
    batch_size: i32,
}

/// What a runner did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Batches read (GetRecords calls that returned records).
    pub batches: u64,
    /// Records read.
    pub records: u64,
    /// Records a handler ran for.
    pub applied: u64,
    /// Records passed over: not events of a listened aggregate, or events no
    /// handler wants.
    pub skipped: u64,
    /// Shards read to their end.
    pub shards_finished: u64,
}

/// Why a runner stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError<E: std::error::Error + 'static> {
    /// The stream or the checkpoint table failed in a way retrying cannot
    /// fix, such as a table without a stream.
    #[error("stream runner: {0}")]
    Store(#[from] Error),
    /// During [`StreamRunner::catch_up`], a record failed; it was not
    /// checkpointed, and will be projected again.
    #[error("stream runner: {0}")]
    Record(#[source] RecordError<E>),
}

/// Where a shard's checkpoint stands.
#[derive(Clone, Debug, Default)]
struct Checkpoint {
    sequence: Option<String>,
    done: bool,
}

/// What a runner keeps between passes over the stream, so that a pass over
/// a quiet stream costs one GetRecords per shard and nothing else: the
/// stream's shards, listed again only every [`SHARD_REFRESH`] or when one
/// closes, and, per shard it holds, where it is reading and when it last
/// renewed the lease.
#[derive(Default)]
struct Session {
    arn: Option<String>,
    listed: Option<Instant>,
    shards: Vec<Shard>,
    reading: HashMap<String, Reading>,
    finished: HashSet<String>,
}

/// A shard this runner holds.
struct Reading {
    checkpoint: Checkpoint,
    iterator: Option<String>,
    renewed: Instant,
}

/// How many batches a runner reads from one shard before it turns to the
/// next: each shard gets its turn however busy the others are.
const BATCHES_PER_TURN: u32 = 10;

/// How often a runner lists the stream's shards again, to find new ones.
const SHARD_REFRESH: Duration = Duration::from_secs(60);

/// The future that tells a runner to stop, and whether it did: a fused
/// future answers `Pending` once it has completed, so the answer is kept.
struct Stop<'a, F: Future<Output = ()>> {
    future: std::pin::Pin<&'a mut futures::future::Fuse<F>>,
    stopped: bool,
}

impl<'a, F: Future<Output = ()>> Stop<'a, F> {
    fn new(future: std::pin::Pin<&'a mut futures::future::Fuse<F>>) -> Self {
        Stop {
            future,
            stopped: false,
        }
    }

    /// Whether stopping was asked for, without waiting.
    fn requested(&mut self) -> bool {
        if !self.stopped && self.future.as_mut().now_or_never().is_some() {
            self.stopped = true;
        }
        self.stopped
    }
}

/// Whether a pass stops at the first empty read of an open shard.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    CaughtUp,
    Stopped,
}

impl<P: Projection> StreamRunner<P> {
    /// A runner of a projector on its store's table's stream, with its
    /// checkpoints beside the projection's positions and views, and a
    /// Streams client from the AWS config chain
    /// (`AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, or else the DynamoDB endpoint).
    pub async fn new(projector: Projector<DynamoStore, DynamoViews, P>) -> Self {
        let streams = streams_client_from_env().await;
        StreamRunner::with_client(streams, projector)
    }

    /// A runner with the given Streams client.
    pub fn with_client(
        streams: aws_sdk_dynamodbstreams::Client,
        projector: Projector<DynamoStore, DynamoViews, P>,
    ) -> Self {
        StreamRunner {
            projector,
            streams,
            owner: default_owner(),
            lease: Duration::from_secs(30),
            idle: Duration::from_millis(500),
            batch_size: 100,
        }
    }

    /// Names this runner in its leases (default: the host name and process
    /// id). A runner that restarts under the same name takes its shards back
    /// at once; one under another name waits for their leases to run out.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// How long a shard stays this runner's after its last checkpoint
    /// (default 30 s). Another runner takes over a shard whose lease ran out.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The pause between reads of a stream that has nothing new, and before
    /// a failed record is retried (default 500 ms).
    pub fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Records per GetRecords call, 1 to 1000 (default 100).
    pub fn batch_size(mut self, records: u16) -> Self {
        self.batch_size = i32::from(records.clamp(1, 1000));
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        self.projector.projection()
    }

    /// The projector: the projection, its store and its table.
    pub fn projector(&self) -> &Projector<DynamoStore, DynamoViews, P> {
        &self.projector
    }

    /// Projects everything on the stream now, then returns: each shard is
    /// read until it has nothing more. For tests, scripts and development.
    ///
    /// It keeps the leases it took until they run out, so that a runner of
    /// another name does not take over a shard in the meantime; a runner of
    /// the same name goes on at once.
    ///
    /// # Errors
    ///
    /// The first record that failed (it is not checkpointed), or a failure
    /// of the stream or the checkpoint table.
    pub async fn catch_up(&self) -> Result<RunReport, RunnerError<P::Error>> {
        let mut report = RunReport::default();
        let never = pin!(std::future::pending::<()>().fuse());
        let mut stop = Stop::new(never);
        let mut session = Session::default();
        // A pass reads a few batches of each shard in turn; the stream is
        // caught up when a pass finds nothing new.
        loop {
            let before = report.records;
            self.pass(&mut session, &mut report, Until::CaughtUp, &mut stop)
                .instrument(self.span("catch_up"))
                .await?;
            if report.records == before {
                return Ok(report);
            }
        }
    }

    /// Projects the stream until `stop` completes, then finishes the batch
    /// in hand, checkpoints it, releases its leases and returns.
    ///
    /// A failed record is logged and retried after a pause; a failure of the
    /// stream or of the checkpoint table that retrying may fix likewise.
    ///
    /// # Errors
    ///
    /// A failure that retrying cannot fix, such as a table without a stream.
    pub async fn run_until(
        &self,
        stop: impl Future<Output = ()>,
    ) -> Result<RunReport, RunnerError<P::Error>> {
        let stop = pin!(stop.fuse());
        let mut stop = Stop::new(stop);
        let mut report = RunReport::default();
        let mut session = Session::default();
        loop {
            let before = report.records;
            let passed = self
                .pass(&mut session, &mut report, Until::Stopped, &mut stop)
                .instrument(self.span("run"))
                .await;
            let busy = passed.is_ok() && report.records > before;
            match passed {
                Ok(()) => {}
                Err(RunnerError::Record(e)) => {
                    tracing::warn!(error = %e, "a record failed; retrying it after a pause");
                }
                Err(RunnerError::Store(e)) if e.is_retryable() => {
                    tracing::warn!(error = %e, "the stream failed; retrying after a pause");
                    // Start the next pass afresh: list the shards and read
                    // each from its checkpoint.
                    session = Session::default();
                }
                Err(e) => {
                    self.release_all().await;
                    return Err(e);
                }
            }
            if stop.requested() {
                break;
            }
            if busy {
                // More may be waiting: no pause.
                continue;
            }
            tokio::select! {
                () = stop.future.as_mut() => break,
                () = tokio::time::sleep(self.idle) => {}
            }
        }
        self.release_all().await;
        Ok(report)
    }

    /// One round over every shard.
    async fn pass<F: Future<Output = ()>>(
        &self,
        session: &mut Session,
        report: &mut RunReport,
        until: Until,
        stop: &mut Stop<'_, F>,
    ) -> Result<(), RunnerError<P::Error>> {
        let stale = match session.listed {
            Some(at) => at.elapsed() >= SHARD_REFRESH,
            None => true,
        };
        let arn = match &session.arn {
            Some(arn) if !stale => arn.clone(),
            _ => {
                let arn = self.stream_arn().await?;
                session.shards = self.shards(&arn).await?;
                session.listed = Some(Instant::now());
                session.arn = Some(arn.clone());
                arn
            }
        };
        let shards = std::mem::take(&mut session.shards);
        let present: HashSet<&str> = shards
            .iter()
            .filter_map(|s| s.shard_id.as_deref())
            .collect();
        // The shards' holders may change between passes: forget those no
        // longer listed.
        session
            .reading
            .retain(|id, _| present.contains(id.as_str()));
        let mut done: HashMap<String, bool> = HashMap::new();
        // Parents first: a shard waits until its parent is finished, unless
        // the parent has left the stream (24 hours after it closed).
        for shard in in_parent_order(&shards) {
            let Some(id) = shard.shard_id.as_deref() else {
                continue;
            };
            let parent_finished = match shard.parent_shard_id.as_deref() {
                Some(parent) if present.contains(parent) => {
                    done.get(parent).copied().unwrap_or(false)
                }
                _ => true,
            };
            if !parent_finished {
                done.insert(id.to_owned(), false);
                continue;
            }
            if until == Until::Stopped && stop.requested() {
                break;
            }
            let finished = match self
                .read_shard(session, &arn, id, report, until, stop)
                .await
            {
                Ok(finished) => finished,
                Err(e) => {
                    session.shards = shards;
                    return Err(e);
                }
            };
            if finished && session.finished.insert(id.to_owned()) {
                // A shard closed: its children may be new.
                session.listed = None;
            }
            done.insert(id.to_owned(), finished);
        }
        session.shards = shards;
        Ok(())
    }

    /// Reads one shard from its checkpoint while this runner holds it.
    /// Returns whether the shard is finished (closed and fully projected).
    async fn read_shard<F: Future<Output = ()>>(
        &self,
        session: &mut Session,
        arn: &str,
        shard: &str,
        report: &mut RunReport,
        until: Until,
        stop: &mut Stop<'_, F>,
    ) -> Result<bool, RunnerError<P::Error>> {
        if session.finished.contains(shard) {
            return Ok(true);
        }
        // A shard held with a fresh lease goes on where it stopped; any
        // other is claimed (or its lease renewed) first.
        let (mut checkpoint, mut iterator) = match session.reading.remove(shard) {
            Some(held) if held.renewed.elapsed() < self.lease / 3 => {
                (held.checkpoint, held.iterator)
            }
            held => {
                let Some(claimed) = self.claim(shard).await? else {
                    tracing::debug!(shard, "another runner holds this shard");
                    return Ok(false);
                };
                if claimed.done {
                    return Ok(true);
                }
                // The iterator in hand is good only if nobody moved the
                // checkpoint while this runner did not hold the shard.
                let iterator = match held {
                    Some(held)
                        if held.checkpoint.sequence == claimed.sequence
                            && held.iterator.is_some() =>
                    {
                        held.iterator
                    }
                    _ => {
                        self.iterator(arn, shard, claimed.sequence.as_deref())
                            .await?
                    }
                };
                (claimed, iterator)
            }
        };
        let mut renewed = Instant::now();
        let mut trimmed = false;
        let mut batches = 0;
        loop {
            let Some(current) = iterator else {
                // The shard is closed and everything in it was projected.
                self.advance(shard, &checkpoint, checkpoint.sequence.clone(), true)
                    .await?;
                report.shards_finished += 1;
                return Ok(true);
            };
            let page = match self
                .streams
                .get_records()
                .shard_iterator(current)
                .limit(self.batch_size)
                .send()
                .await
            {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(GetRecordsError::is_expired_iterator_exception) =>
                {
                    iterator = self
                        .iterator(arn, shard, checkpoint.sequence.as_deref())
                        .await?;
                    continue;
                }
                // An iterator from before the shard's oldest record: DynamoDB
                // Local hands out such TRIM_HORIZON iterators on a shard that
                // was still empty. A fresh one starts at the oldest record.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(GetRecordsError::is_trimmed_data_access_exception)
                        && !trimmed =>
                {
                    trimmed = true;
                    iterator = self
                        .iterator(arn, shard, checkpoint.sequence.as_deref())
                        .await?;
                    continue;
                }
                // Records after the checkpoint left the stream (it keeps 24
                // hours): they cannot be projected from here on.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(GetRecordsError::is_trimmed_data_access_exception) =>
                {
                    return Err(Error::from(
                        StoreError::permanent(
                            "GetRecords",
                            format!(
                                "table {:?}, shard {shard}: the records after checkpoint {:?} \
                                 left the stream, which keeps 24 hours; rebuild the projection \
                                 (es::rebuild), then remove its checkpoint `{}`",
                                self.projector.store().table(),
                                checkpoint.sequence,
                                self.key(shard)
                            ),
                        )
                        .with_source(e),
                    )
                    .into());
                }
                Err(e) => {
                    return Err(Error::from(store_error(
                        "GetRecords",
                        self.projector.store().table(),
                        e,
                    ))
                    .into())
                }
            };
            let records = page.records.unwrap_or_default();
            if records.is_empty() {
                if page.next_shard_iterator.is_some() {
                    // Nothing new for now: the next pass reads on from here.
                    session.reading.insert(
                        shard.to_owned(),
                        Reading {
                            checkpoint,
                            iterator: page.next_shard_iterator,
                            renewed,
                        },
                    );
                    return Ok(false);
                }
                iterator = None;
                continue;
            }
            trimmed = false;
            report.batches += 1;
            report.records += records.len() as u64;
            let batch = records
                .into_iter()
                .map(StreamRecord::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(RunnerError::Store)?;
            let sequences: Vec<Option<String>> =
                batch.iter().map(|r| r.sequence_number.clone()).collect();
            let mut outcome = project_batch(&self.projector, batch).await;
            report.applied += outcome.applied as u64;
            report.skipped += outcome.skipped as u64;
            // The checkpoint moves to the last record before the first
            // failure: the failed record and all after it come again.
            let first_failure = outcome.failures.first().and_then(|f| {
                sequences
                    .iter()
                    .position(|s| s.is_some() && *s == f.sequence_number)
            });
            let upto = if outcome.failures.is_empty() {
                sequences.last().cloned().flatten()
            } else {
                match first_failure {
                    Some(i) if i > 0 => sequences[i - 1].clone(),
                    _ => None,
                }
            };
            if let Some(upto) = upto {
                if !self
                    .advance(shard, &checkpoint, Some(upto.clone()), false)
                    .await?
                {
                    tracing::warn!(shard, "lost the lease of this shard to another runner");
                    return Ok(false);
                }
                checkpoint.sequence = Some(upto);
                renewed = Instant::now();
            }
            if !outcome.failures.is_empty() {
                return Err(RunnerError::Record(outcome.failures.remove(0)));
            }
            if until == Until::Stopped && stop.requested() {
                return Ok(false);
            }
            iterator = page.next_shard_iterator;
            batches += 1;
            if batches == BATCHES_PER_TURN && iterator.is_some() {
                // The other shards' turn: a busy shard must not starve them.
                session.reading.insert(
                    shard.to_owned(),
                    Reading {
                        checkpoint,
                        iterator,
                        renewed,
                    },
                );
                return Ok(false);
            }
        }
    }

    async fn stream_arn(&self) -> Result<String, RunnerError<P::Error>> {
        let table = self
            .projector
            .store()
            .client()
            .describe_table()
            .table_name(self.projector.store().table())
            .send()
            .await
            .map_err(|e| {
                Error::from(store_error(
                    "DescribeTable",
                    self.projector.store().table(),
                    e,
                ))
            })?
            .table;
        table.and_then(|t| t.latest_stream_arn).ok_or_else(|| {
            RunnerError::Store(
                StoreError::permanent(
                    "DescribeTable",
                    format!(
                        "table {:?} has no stream: turn on DynamoDB Streams with NEW_IMAGE",
                        self.projector.store().table()
                    ),
                )
                .into(),
            )
        })
    }

    /// Every shard of the stream, page by page.
    async fn shards(&self, arn: &str) -> Result<Vec<Shard>, RunnerError<P::Error>> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let description = self
                .streams
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(|e| {
                    Error::from(store_error(
                        "DescribeStream",
                        self.projector.store().table(),
                        e,
                    ))
                })?
                .stream_description;
            let Some(description) = description else {
                break;
            };
            shards.extend(description.shards.unwrap_or_default());
            match description.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        Ok(shards)
    }

    async fn iterator(
        &self,
        arn: &str,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<String>, RunnerError<P::Error>> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard);
        let request = match after {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let output = request.send().await.map_err(|e| {
            Error::from(store_error(
                "GetShardIterator",
                self.projector.store().table(),
                e,
            ))
        })?;
        Ok(output.shard_iterator)
    }

    fn key(&self, shard: &str) -> String {
        format!("$shard#{}#{shard}", P::NAME)
    }

    /// Takes or renews the lease of a shard; `None` when another runner
    /// holds it.
    async fn claim(&self, shard: &str) -> Result<Option<Checkpoint>, RunnerError<P::Error>> {
        let now = now_millis();
        let sent = self
            .projector
            .table()
            .client()
            .update_item()
            .table_name(self.projector.table().table())
            .key(VIEW_ID, AttributeValue::S(self.key(shard)))
            .update_expression("SET #owner = :me, #until = :until")
            .condition_expression(
                "attribute_not_exists(#id) OR #owner = :me OR attribute_not_exists(#owner) OR #until < :now",
            )
            .expression_attribute_names("#id", VIEW_ID)
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .expression_attribute_values(":until", AttributeValue::N(self.lease_until(now).to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match sent {
            Ok(output) => {
                let mut item = output.attributes.unwrap_or_default();
                Ok(Some(Checkpoint {
                    sequence: match item.remove(SEQUENCE) {
                        Some(AttributeValue::S(s)) => Some(s),
                        _ => None,
                    },
                    done: matches!(item.remove(DONE), Some(AttributeValue::Bool(true))),
                }))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => {
                Err(
                    Error::from(store_error("UpdateItem", self.projector.table().table(), e))
                        .into(),
                )
            }
        }
    }

    /// Moves a shard's checkpoint from `from` to `to` and renews the lease,
    /// if this runner still holds it. Returns whether it did.
    async fn advance(
        &self,
        shard: &str,
        from: &Checkpoint,
        to: Option<String>,
        done: bool,
    ) -> Result<bool, RunnerError<P::Error>> {
        let now = now_millis();
        let mut update = self
            .projector
            .table()
            .client()
            .update_item()
            .table_name(self.projector.table().table())
            .key(VIEW_ID, AttributeValue::S(self.key(shard)))
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#done", DONE)
            .expression_attribute_names("#seq", SEQUENCE)
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .expression_attribute_values(
                ":until",
                AttributeValue::N(self.lease_until(now).to_string()),
            )
            .expression_attribute_values(":done", AttributeValue::Bool(done));
        let set = match &to {
            Some(sequence) => {
                update =
                    update.expression_attribute_values(":to", AttributeValue::S(sequence.clone()));
                "SET #until = :until, #done = :done, #seq = :to"
            }
            None => "SET #until = :until, #done = :done",
        };
        let condition = match &from.sequence {
            Some(sequence) => {
                update = update
                    .expression_attribute_values(":from", AttributeValue::S(sequence.clone()));
                "#owner = :me AND #seq = :from"
            }
            None => "#owner = :me AND attribute_not_exists(#seq)",
        };
        match update
            .update_expression(set)
            .condition_expression(condition)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => {
                Err(
                    Error::from(store_error("UpdateItem", self.projector.table().table(), e))
                        .into(),
                )
            }
        }
    }

    /// Gives up every lease this runner holds, so that another runner can
    /// take its shards at once. Failures only delay that until the leases
    /// run out, so they are logged, not returned.
    async fn release_all(&self) {
        let Ok(arn) = self.stream_arn().await else {
            return;
        };
        let Ok(shards) = self.shards(&arn).await else {
            return;
        };
        for shard in shards.iter().filter_map(|s| s.shard_id.as_deref()) {
            let released = self
                .projector
                .table()
                .client()
                .update_item()
                .table_name(self.projector.table().table())
                .key(VIEW_ID, AttributeValue::S(self.key(shard)))
                .update_expression("REMOVE #owner SET #until = :zero")
                .condition_expression("#owner = :me")
                .expression_attribute_names("#owner", OWNER)
                .expression_attribute_names("#until", LEASE_UNTIL)
                .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
                .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
                .send()
                .await;
            if let Err(e) = released {
                if !e
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception())
                {
                    tracing::warn!(shard, error = %e, "could not release a lease");
                }
            }
        }
    }

    /// The span of one pass over the stream.
    fn span(&self, mode: &'static str) -> tracing::Span {
        tracing::debug_span!(
            "stream_runner",
            mode,
            projection = P::NAME,
            table = self.projector.store().table(),
            owner = %self.owner
        )
    }

    fn lease_until(&self, now: u128) -> u128 {
        now + self.lease.as_millis()
    }
}

/// A DynamoDB Streams client from the AWS config chain: its endpoint is
/// `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, or else the DynamoDB endpoint, where
/// DynamoDB Local serves Streams too.
///
/// Its operation and attempt timeouts are [`DynamoStore`]'s defaults
/// ([`DynamoStore::DEFAULT_OPERATION_TIMEOUT`],
/// [`DynamoStore::DEFAULT_ATTEMPT_TIMEOUT`]) unless the loaded config sets
/// them, so a stalled Streams endpoint fails the runner's read with a
/// retryable error instead of hanging it. [`streams_client_with_timeouts`]
/// sets others.
pub async fn streams_client_from_env() -> aws_sdk_dynamodbstreams::Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(&config);
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").is_none() {
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            streams = streams.endpoint_url(endpoint);
        }
    }
    let timeouts = crate::store::default_timeouts(config.timeout_config());
    aws_sdk_dynamodbstreams::Client::from_conf(streams.timeout_config(timeouts).build())
}

/// `client` with this operation timeout (the whole request, retries
/// included) and attempt timeout (each try), `None` turning one off; its
/// connect and read timeouts and the rest of its config are kept. For
/// [`StreamRunner::with_client`].
///
/// ```no_run
/// # async fn run() {
/// use std::time::Duration;
/// use es::dynamo::runner::{streams_client_from_env, streams_client_with_timeouts};
/// let streams = streams_client_with_timeouts(
///     &streams_client_from_env().await,
///     Some(Duration::from_secs(3)),
///     Some(Duration::from_secs(1)),
/// );
/// # let _ = streams;
/// # }
/// ```
pub fn streams_client_with_timeouts(
    client: &aws_sdk_dynamodbstreams::Client,
    operation: Option<Duration>,
    attempt: Option<Duration>,
) -> aws_sdk_dynamodbstreams::Client {
    let timeouts = crate::store::set_timeouts(client.config().timeout_config(), operation, attempt);
    let config = client
        .config()
        .to_builder()
        .timeout_config(timeouts)
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// The shards with every parent before its children. A parent the list
/// does not hold (it left the stream) counts as none; shards that form a
/// cycle, which DynamoDB never returns, keep their listed order.
fn in_parent_order(shards: &[Shard]) -> Vec<&Shard> {
    let mut ordered: Vec<&Shard> = Vec::with_capacity(shards.len());
    let mut placed: HashSet<&str> = HashSet::new();
    let listed: HashSet<&str> = shards
        .iter()
        .filter_map(|s| s.shard_id.as_deref())
        .collect();
    let mut pending: Vec<&Shard> = shards.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|shard| {
            let ready = match shard.parent_shard_id.as_deref() {
                Some(parent) => !listed.contains(parent) || placed.contains(parent),
                None => true,
            };
            if ready {
                ordered.push(shard);
                if let Some(id) = shard.shard_id.as_deref() {
                    placed.insert(id);
                }
            }
            !ready
        });
        if pending.len() == before {
            ordered.append(&mut pending);
        }
    }
    ordered
}

/// Completes when the process is asked to stop: on Ctrl-C (SIGINT), and on
/// Unix on SIGTERM too, which container platforms (ECS, Kubernetes) send
/// before they kill a task. Give it to [`StreamRunner::run_until`].
///
/// When the handlers cannot be installed it logs why and never completes:
/// the runner then runs until the process is killed, rather than stopping
/// at once.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    interrupted = tokio::signal::ctrl_c() => {
                        if let Err(e) = interrupted {
                            tracing::warn!(error = %e, "cannot listen for Ctrl-C; waiting for SIGTERM");
                            terminate.recv().await;
                        }
                    }
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot listen for Ctrl-C; the runner runs until it is killed");
        std::future::pending::<()>().await;
    }
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn default_owner() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "runner".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>) -> Shard {
        Shard::builder()
            .shard_id(id)
            .set_parent_shard_id(parent.map(str::to_owned))
            .build()
    }

    fn ids(shards: Vec<&Shard>) -> Vec<&str> {
        shards
            .iter()
            .filter_map(|s| s.shard_id.as_deref())
            .collect()
    }

    #[test]
    fn parents_come_before_their_children() {
        // As DescribeStream may list them after two splits: children first.
        let shards = [
            shard("grandchild", Some("child-a")),
            shard("child-b", Some("root")),
            shard("child-a", Some("root")),
            shard("root", None),
            shard("orphan", Some("trimmed-away")),
        ];
        assert_eq!(
            ids(in_parent_order(&shards)),
            ["root", "orphan", "child-b", "child-a", "grandchild"]
        );
    }

    #[test]
    fn a_cycle_does_not_hang() {
        let shards = [
            shard("a", Some("b")),
            shard("b", Some("a")),
            shard("c", None),
        ];
        assert_eq!(ids(in_parent_order(&shards)), ["c", "a", "b"]);
    }
}
