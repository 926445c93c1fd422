//! Projecting one batch of stream records: what the Lambda entry point and
//! the stream runner share.
//!
//! Records of one aggregate go to the [`Projector`] together, which
//! projects them in order after whatever it had not applied before them;
//! records of different aggregates may be projected at once. When a record
//! fails, the later records of its aggregate in the batch are not
//! projected: they come back with it, since a stream is retried from the
//! failed record on. And a record that never comes back (the retries ran
//! out, and Lambda sent the batch to its failure destination) is read from
//! the events table when the next record of its aggregate arrives: nothing
//! is applied out of order, nothing twice, and nothing is lost.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use es_core::projection::{Projection, ProjectionError};
use es_core::store::StoredEvent;
use es_core::{Projector, ViewTable};
use futures::stream::{self, StreamExt as _};
use tracing::Instrument as _;

use crate::item::{self, Whose};
use crate::layout::Layout;
use crate::records::{kind_of, RecordKind};
use crate::DynamoStore;

/// How many aggregates of one batch are projected at once.
const CONCURRENCY: usize = 16;

/// One stream record, whichever SDK or event type it came from.
#[derive(Clone, Debug)]
pub struct StreamRecord {
    /// Its sequence number, which Lambda retries from.
    pub sequence_number: Option<String>,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    /// Its new image; empty when the stream carries none.
    pub new_image: HashMap<String, AttributeValue>,
}

impl TryFrom<aws_sdk_dynamodbstreams::types::Record> for StreamRecord {
    type Error = es_core::Error;

    /// A record as the DynamoDB Streams API's `GetRecords` returns it.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`](es_core::Error::Corrupt) for a record without its
    /// `dynamodb` part, or with a value of a type this SDK does not know.
    fn try_from(record: aws_sdk_dynamodbstreams::types::Record) -> Result<Self, Self::Error> {
        let Some(change) = record.dynamodb else {
            return Err(item::corrupt(
                Whose::nobody(),
                0,
                format!(
                    "stream record {:?} has no `dynamodb` part",
                    record.event_id.unwrap_or_default()
                ),
            ));
        };
        Ok(StreamRecord {
            sequence_number: change.sequence_number,
            event_name: record
                .event_name
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            new_image: crate::records::from_streams_image(change.new_image.unwrap_or_default())?,
        })
    }
}

#[cfg(feature = "lambda")]
impl From<aws_lambda_events::event::dynamodb::EventRecord> for StreamRecord {
    /// A record as Lambda hands it to a function.
    fn from(record: aws_lambda_events::event::dynamodb::EventRecord) -> Self {
        StreamRecord {
            sequence_number: record.change.sequence_number,
            event_name: record.event_name,
            new_image: record.change.new_image.into(),
        }
    }
}

/// A record a projection failed on.
#[derive(Debug, thiserror::Error)]
#[error("stream record {}{}: {source}", .sequence_number.as_deref().unwrap_or("(without a sequence number)"), Subject(.event.as_ref()))]
pub struct RecordError<E: std::error::Error + 'static> {
    /// The record's sequence number.
    pub sequence_number: Option<String>,
    /// The aggregate's name and id, and the event's version, when the
    /// record's keys could be read.
    pub event: Option<(String, String, u64)>,
    /// What went wrong.
    #[source]
    pub source: ProjectionError<E>,
}

struct Subject<'a>(Option<&'a (String, String, u64)>);

impl std::fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some((aggregate, id, version)) => write!(f, " ({aggregate} {id:?} version {version})"),
            None => Ok(()),
        }
    }
}

/// What projecting a batch did.
#[derive(Debug)]
pub struct BatchReport<E: std::error::Error + 'static> {
    /// Events a handler ran for, the gaps' included.
    pub applied: usize,
    /// Records that are not events of a listened aggregate, that no
    /// handler wants, or that the projection had applied already.
    pub skipped: usize,
    /// Events that were not in the batch, read from the events table to
    /// fill the gap before an aggregate's first record in it.
    pub filled: usize,
    /// Records left for the retry because an earlier record of their
    /// aggregate failed.
    pub deferred: usize,
    /// The records that failed, in batch order: one per aggregate at most.
    pub failures: Vec<RecordError<E>>,
}

impl<E: std::error::Error + 'static> BatchReport<E> {
    /// The sequence numbers to report as failed: the stream is retried from
    /// the first of them, and every later record of a failed aggregate is
    /// after it. `None` when a failed record has no sequence number, so that
    /// only retrying the whole batch is safe.
    pub fn retry(&self) -> Option<Vec<String>> {
        self.failures
            .iter()
            .map(|f| f.sequence_number.clone())
            .collect()
    }
}

/// Projects a batch of records through `projector`, in its store's layout.
///
/// Records are grouped by aggregate. Each group goes through
/// [`Projector::project`]: records the projection applied already are
/// skipped, and versions between its position and a group's first record
/// are read from the events table and projected first. Groups of
/// different aggregates are projected at once, up to 16.
pub async fn project_batch<T: ViewTable, P: Projection>(
    projector: &Projector<DynamoStore, T, P>,
    records: Vec<StreamRecord>,
) -> BatchReport<P::Error> {
    let span = tracing::info_span!(
        "project_batch",
        projection = P::NAME,
        records = records.len(),
        applied = tracing::field::Empty,
        filled = tracing::field::Empty,
        failed = tracing::field::Empty
    );
    let report = project_in_order(projector, records)
        .instrument(span.clone())
        .await;
    span.record("applied", report.applied);
    span.record("filled", report.filled);
    span.record("failed", report.failures.len());
    report
}

async fn project_in_order<T: ViewTable, P: Projection>(
    projector: &Projector<DynamoStore, T, P>,
    records: Vec<StreamRecord>,
) -> BatchReport<P::Error> {
    let layout = projector.store().layout();
    let listened = P::aggregates();
    let table_aggregate = match listened.as_slice() {
        [only] => Some(*only),
        _ => None,
    };
    // A table of castore's older layout holds one aggregate type and its
    // keys name none: a projection over several could not tell its events
    // apart, and skipping them all would lose them silently.
    if layout == Layout::TablePerAggregate && table_aggregate.is_none() {
        let deferred = records.len().saturating_sub(1);
        let failures = records
            .into_iter()
            .take(1)
            .map(|record| RecordError {
                sequence_number: record.sequence_number,
                event: None,
                source: ProjectionError::Event {
                    projection: P::NAME,
                    source: es_core::StoreError::permanent(
                        "project",
                        format!(
                            "a table in the table-per-aggregate layout holds one aggregate \
                             type, and {} listens to {}: give each such table a projection \
                             of its own",
                            P::NAME,
                            listened.join(", ")
                        ),
                    )
                    .into(),
                },
            })
            .collect();
        return BatchReport {
            applied: 0,
            skipped: 0,
            filled: 0,
            deferred,
            failures,
        };
    }
    // Records grouped by aggregate, each group in batch order; a record whose
    // keys cannot be read is a group of its own, and fails.
    let mut groups: Vec<Vec<Entry>> = Vec::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    for (position, record) in records.into_iter().enumerate() {
        let kind = kind_of(
            &record.event_name,
            &record.new_image,
            layout,
            table_aggregate,
        );
        let key = aggregate_of(&kind);
        let entry = (position, record, kind);
        match key {
            Some(key) => match by_key.get(&key) {
                Some(&i) => groups[i].push(entry),
                None => {
                    by_key.insert(key, groups.len());
                    groups.push(vec![entry]);
                }
            },
            None => groups.push(vec![entry]),
        }
    }
    // Every listened aggregate's position in one request per hundred; a
    // failure here is met again, and reported, by the group that needs it.
    let keys: Vec<String> = by_key
        .keys()
        .filter(|(aggregate, _)| listened.contains(&aggregate.as_str()))
        .map(|(aggregate, id)| es_core::store::stream_key(aggregate, id))
        .collect();
    if let Err(error) = projector.prefetch(&keys).await {
        tracing::warn!(projection = P::NAME, %error, "could not read the batch's positions at once");
    }
    let outcomes: Vec<GroupOutcome<P::Error>> = stream::iter(groups)
        .map(|group| project_group(projector, &listened, group))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut report = BatchReport {
        applied: 0,
        skipped: 0,
        filled: 0,
        deferred: 0,
        failures: Vec::new(),
    };
    let mut failures = Vec::new();
    for outcome in outcomes {
        report.applied += outcome.applied;
        report.skipped += outcome.skipped;
        report.filled += outcome.filled;
        report.deferred += outcome.deferred;
        failures.extend(outcome.failure);
    }
    failures.sort_by_key(|(position, _)| *position);
    report.failures = failures.into_iter().map(|(_, f)| f).collect();
    report
}

fn aggregate_of(kind: &Result<RecordKind, es_core::Error>) -> Option<(String, String)> {
    match kind {
        Ok(RecordKind::Event { aggregate, id, .. }) => Some((aggregate.clone(), id.clone())),
        _ => None,
    }
}

/// A record, its place in the batch, and what its keys say it is.
type Entry = (usize, StreamRecord, Result<RecordKind, es_core::Error>);

struct GroupOutcome<E: std::error::Error + 'static> {
    applied: usize,
    skipped: usize,
    filled: usize,
    deferred: usize,
    failure: Option<(usize, RecordError<E>)>,
}

/// A group's record that is an event, decoded.
struct Delivered {
    position: usize,
    sequence_number: Option<String>,
    version: u64,
    event: StoredEvent<AttributeValue>,
}

async fn project_group<T: ViewTable, P: Projection>(
    projector: &Projector<DynamoStore, T, P>,
    listened: &[&'static str],
    group: Vec<Entry>,
) -> GroupOutcome<P::Error> {
    let mut outcome = GroupOutcome {
        applied: 0,
        skipped: 0,
        filled: 0,
        deferred: 0,
        failure: None,
    };
    let fail = |sequence_number: Option<String>,
                event: Option<(String, String, u64)>,
                source: ProjectionError<P::Error>| {
        tracing::error!(
            projection = P::NAME,
            sequence_number = sequence_number.as_deref().unwrap_or(""),
            error = %source,
            "stream record failed; it and the later records of its aggregate will be retried"
        );
        RecordError {
            sequence_number,
            event,
            source,
        }
    };
    let total = group.len();
    let mut subject: Option<(String, String)> = None;
    let mut delivered: Vec<Delivered> = Vec::new();
    // A record that cannot be read stops the group there: the records
    // before it are projected, it and the rest are retried.
    let mut broken: Option<(usize, RecordError<P::Error>)> = None;
    for (done, (position, record, kind)) in group.into_iter().enumerate() {
        let StreamRecord {
            sequence_number,
            new_image,
            ..
        } = record;
        let (aggregate, id, version) = match kind {
            Err(source) => {
                let error = ProjectionError::Event {
                    projection: P::NAME,
                    source,
                };
                broken = Some((position, fail(sequence_number, None, error)));
                outcome.deferred = total - done - 1;
                break;
            }
            Ok(RecordKind::Other(why)) => {
                tracing::trace!(projection = P::NAME, why, "skipped a stream record");
                outcome.skipped += 1;
                continue;
            }
            Ok(RecordKind::Event {
                aggregate,
                id,
                version,
            }) => (aggregate, id, version),
        };
        if !listened.contains(&aggregate.as_str()) {
            outcome.skipped += 1;
            continue;
        }
        match item::decode_event(Whose::new(&aggregate, &id), new_image) {
            Ok(event) => delivered.push(Delivered {
                position,
                sequence_number,
                version,
                event,
            }),
            Err(source) => {
                let error = ProjectionError::Event {
                    projection: P::NAME,
                    source,
                };
                let about = Some((aggregate.clone(), id.clone(), version));
                broken = Some((position, fail(sequence_number, about, error)));
                outcome.deferred = total - done - 1;
                break;
            }
        }
        subject.get_or_insert((aggregate, id));
    }
    let Some((aggregate, id)) = subject else {
        outcome.failure = broken;
        return outcome;
    };
    let named: Vec<(usize, Option<String>, u64)> = delivered
        .iter()
        .map(|d| (d.position, d.sequence_number.clone(), d.version))
        .collect();
    let events = delivered.into_iter().map(|d| d.event).collect();
    match projector.project(&aggregate, &id, events).await {
        Ok(done) => {
            outcome.applied += done.applied as usize;
            outcome.filled += done.filled as usize;
            outcome.skipped += (done.ignored + done.duplicates) as usize;
            outcome.failure = broken;
        }
        Err(halted) => {
            let done = &halted.done;
            outcome.applied += done.applied as usize;
            outcome.filled += done.filled as usize;
            outcome.skipped += done.ignored as usize;
            // Lambda retries from the first record the projection has not
            // applied: the failed event is that one, or a gap before it,
            // which the retry reads again.
            let at = named
                .iter()
                .position(|(_, _, version)| *version > done.position)
                .unwrap_or(0);
            let (position, sequence_number, version) =
                named
                    .get(at)
                    .cloned()
                    .unwrap_or((0, None, done.position + 1));
            let later = named.len().saturating_sub(at + 1);
            outcome.deferred = later + outcome.deferred + usize::from(broken.is_some());
            let version = match halted.error.event() {
                Some((_, _, failed)) => failed,
                None => version,
            };
            outcome.failure = Some((
                position,
                fail(
                    sequence_number,
                    Some((aggregate.clone(), id.clone(), version)),
                    halted.error,
                ),
            ));
        }
    }
    outcome
}
