//! Reapplying what went to a projection's failure destination.
//!
//! When a stream record keeps failing past the event source mapping's
//! `MaximumRetryAttempts`, Lambda sends a description of the batch (not its
//! records) to the `OnFailure` destination, an SQS queue or SNS topic, and
//! the shard moves on. The projection's position for each aggregate in that
//! batch stays behind, and the next record of the aggregate fills the gap
//! from the events table. An aggregate that gets no next record stays
//! behind until it is reapplied, which this module does from the
//! destination's messages:
//!
//! 1. [`batches`] reads the batch descriptions out of a message in any of
//!    the shapes it travels in (the record itself, an SNS notification, an
//!    SQS message, a `ReceiveMessage` answer, a Lambda SQS event, or a list
//!    of them);
//! 2. [`aggregates_in`] reads the batch's records back from the stream,
//!    from its first sequence number to its last, and names their
//!    aggregates;
//! 3. [`Projector::reapply`] catches each of them up from the events table.
//!
//! [`reapply_failures`] does all three. It is safe to run at any time, and
//! more than once: a caught-up aggregate costs one position read and one
//! `Query`.
//!
//! The stream keeps records for 24 hours. For an older batch, reapply by
//! aggregate ids ([`Projector::reapply`]) or rebuild the projection.

use std::collections::BTreeSet;

use aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use es_core::projection::{Projection, ProjectionError};
use es_core::{Error, Outcome, Projector, StoreError, ViewTable};
use serde::Deserialize;
use serde_json::Value;

use crate::batch::StreamRecord;
use crate::errors::store_error;
use crate::records::{kind_of, RecordKind};
use crate::DynamoStore;

/// A stream batch that went to the failure destination, as Lambda
/// describes it in the record's `DDBStreamBatchInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StreamBatchInfo {
    /// The shard the batch was read from.
    pub shard_id: String,
    /// The sequence number of its first record.
    pub start_sequence_number: String,
    /// The sequence number of its last record.
    pub end_sequence_number: String,
    /// How many records it held.
    #[serde(default)]
    pub batch_size: Option<u64>,
    /// The stream's ARN.
    pub stream_arn: String,
}

/// The batch descriptions in a failure destination's message, whichever
/// way it came:
///
/// - the invocation record Lambda writes (`{"requestContext": ..,
///   "DDBStreamBatchInfo": {..}}`);
/// - an SNS notification carrying it in `Message` (what an SQS queue
///   subscribed to the topic receives, without raw delivery);
/// - an SQS message carrying either in `Body` or `body`;
/// - a list of any of these under `Messages` (SQS `ReceiveMessage`) or
///   `Records` (a Lambda SQS event), or as a JSON array;
/// - several of them, one JSON value per line.
///
/// # Errors
///
/// [`Error::Store`] (permanent) for text that is not JSON, or a value that
/// holds no batch description, naming what it found.
pub fn batches(message: &str) -> Result<Vec<StreamBatchInfo>, Error> {
    let mut found = Vec::new();
    let values = serde_json::Deserializer::from_str(message).into_iter::<Value>();
    for (n, value) in values.enumerate() {
        let value = value.map_err(|e| bad(format!("message {}: not JSON: {e}", n + 1)))?;
        collect(&value, &mut found, 0).map_err(|why| bad(format!("message {}: {why}", n + 1)))?;
    }
    if found.is_empty() {
        return Err(bad(
            "the message holds no stream batch description".to_owned()
        ));
    }
    Ok(found)
}

fn bad(message: String) -> Error {
    StoreError::permanent("read failure message", message).into()
}

/// How deep messages may nest (an SQS message of an SNS notification of a
/// record is three).
const MAX_DEPTH: usize = 8;

fn collect(value: &Value, found: &mut Vec<StreamBatchInfo>, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("messages nest more than {MAX_DEPTH} deep"));
    }
    match value {
        Value::Array(values) => values.iter().try_for_each(|v| collect(v, found, depth + 1)),
        Value::Object(object) => {
            if let Some(info) = object.get("DDBStreamBatchInfo") {
                let info = StreamBatchInfo::deserialize(info)
                    .map_err(|e| format!("`DDBStreamBatchInfo` is not a stream batch: {e}"))?;
                found.push(info);
                return Ok(());
            }
            for list in ["Messages", "Records"] {
                if let Some(values) = object.get(list) {
                    return collect(values, found, depth + 1);
                }
            }
            for text in ["Message", "Body", "body"] {
                if let Some(Value::String(inner)) = object.get(text) {
                    let inner: Value = serde_json::from_str(inner)
                        .map_err(|e| format!("`{text}` is not JSON: {e}"))?;
                    return collect(&inner, found, depth + 1);
                }
            }
            let keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
            Err(format!(
                "an object with keys {keys:?} is not a failure record, an SNS notification or an \
                 SQS message"
            ))
        }
        other => Err(format!("{other} is not a failure record")),
    }
}

/// The aggregates (name, id) of a batch's event records, read back from
/// the stream from its first sequence number to its last, in the store's
/// layout.
///
/// # Errors
///
/// [`Error::Store`]: the stream or shard is gone, or the records have left
/// it (a stream keeps them 24 hours), saying so; or a failure of the
/// Streams API.
pub async fn aggregates_in(
    streams: &aws_sdk_dynamodbstreams::Client,
    store: &DynamoStore,
    batch: &StreamBatchInfo,
    listened: &[&str],
) -> Result<Vec<(String, String)>, Error> {
    let table_aggregate = match listened {
        [only] => Some(*only),
        _ => None,
    };
    let gone = |why: &str| {
        Error::from(StoreError::permanent(
            "GetShardIterator",
            format!(
                "the failed batch's records, shard {} from {}, {why}; a stream keeps records \
                 24 hours: reapply by aggregate ids, or rebuild the projection",
                batch.shard_id, batch.start_sequence_number
            ),
        ))
    };
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&batch.stream_arn)
        .shard_id(&batch.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(&batch.start_sequence_number)
        .send()
        .await;
    let mut iterator = match iterator {
        Ok(output) => output.shard_iterator,
        Err(e) => {
            return Err(match e.as_service_error() {
                Some(GetShardIteratorError::TrimmedDataAccessException(_)) => {
                    gone("have left the stream")
                }
                Some(GetShardIteratorError::ResourceNotFoundException(_)) => {
                    gone("are in a stream or shard that no longer exists")
                }
                _ => store_error("GetShardIterator", store.table(), e).into(),
            })
        }
    };
    let end = SequenceNumber(&batch.end_sequence_number);
    let mut aggregates = BTreeSet::new();
    // An open shard answers "nothing yet" past its newest record; the
    // batch's records are all older than that.
    let mut empty = 0;
    while let Some(current) = iterator.take() {
        let page = streams
            .get_records()
            .shard_iterator(current)
            .send()
            .await
            .map_err(|e| Error::from(store_error("GetRecords", store.table(), e)))?;
        let records = page.records.unwrap_or_default();
        if records.is_empty() {
            empty += 1;
            if empty >= 3 {
                break;
            }
        }
        let mut past = false;
        for record in records {
            let record = StreamRecord::try_from(record)?;
            if record
                .sequence_number
                .as_deref()
                .is_some_and(|s| SequenceNumber(s) > end)
            {
                past = true;
                break;
            }
            if let Ok(RecordKind::Event { aggregate, id, .. }) = kind_of(
                &record.event_name,
                &record.new_image,
                store.layout(),
                table_aggregate,
            ) {
                aggregates.insert((aggregate, id));
            }
        }
        if past {
            break;
        }
        iterator = page.next_shard_iterator;
    }
    Ok(aggregates.into_iter().collect())
}

/// A sequence number, ordered as the number it spells.
#[derive(PartialEq, Eq)]
struct SequenceNumber<'a>(&'a str);

impl PartialOrd for SequenceNumber<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SequenceNumber<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (
            self.0.trim_start_matches('0'),
            other.0.trim_start_matches('0'),
        );
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

/// What [`reapply_failures`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reapplied {
    /// The batches described in the message.
    pub batches: usize,
    /// The aggregates their records belong to, each caught up.
    pub aggregates: Vec<(String, String)>,
    /// What catching them up projected.
    pub outcome: Outcome,
}

/// Reapplies what a failure destination's message describes: every
/// aggregate with a record in its batches is caught up from the events
/// table ([`batches`], [`aggregates_in`], [`Projector::reapply`]).
///
/// # Errors
///
/// A message that describes no batch, records that left the stream, or
/// the first aggregate that failed to project. Running it again is safe.
pub async fn reapply_failures<T: ViewTable, P: Projection>(
    projector: &Projector<DynamoStore, T, P>,
    streams: &aws_sdk_dynamodbstreams::Client,
    message: &str,
) -> Result<Reapplied, ProjectionError<P::Error>> {
    let fail = |source: Error| ProjectionError::Event {
        projection: P::NAME,
        source,
    };
    let described = batches(message).map_err(fail)?;
    let listened = P::aggregates();
    let mut aggregates = BTreeSet::new();
    for batch in &described {
        let found = aggregates_in(streams, projector.store(), batch, &listened)
            .await
            .map_err(fail)?;
        aggregates.extend(found);
    }
    let aggregates: Vec<(String, String)> = aggregates.into_iter().collect();
    tracing::info!(
        projection = P::NAME,
        batches = described.len(),
        aggregates = aggregates.len(),
        "reapplying a failure destination's batches"
    );
    let outcome = projector.reapply(aggregates.iter().cloned()).await?;
    Ok(Reapplied {
        batches: described.len(),
        aggregates,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The invocation record as AWS documents it for a DynamoDB stream.
    const RECORD: &str = r#"{
        "requestContext": {
            "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled"
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000001573689847184-864758bb",
            "startSequenceNumber": "800000000003126276362",
            "endSequenceNumber": "800000000003126276362",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:19Z",
            "batchSize": 1,
            "streamArn": "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"
        }
    }"#;

    fn expected() -> StreamBatchInfo {
        StreamBatchInfo {
            shard_id: "shardId-00000001573689847184-864758bb".into(),
            start_sequence_number: "800000000003126276362".into(),
            end_sequence_number: "800000000003126276362".into(),
            batch_size: Some(1),
            stream_arn:
                "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"
                    .into(),
        }
    }

    #[test]
    fn reads_the_record_in_every_wrapping() {
        let record: Value = serde_json::from_str(RECORD).unwrap();
        let sns = serde_json::json!({"Type": "Notification", "Message": record.to_string()});
        let sqs = serde_json::json!({"MessageId": "1", "Body": sns.to_string()});
        let receive = serde_json::json!({"Messages": [sqs.clone(), {"Body": RECORD}]});
        let lambda = serde_json::json!({"Records": [{"body": RECORD}]});
        assert_eq!(batches(RECORD).unwrap(), vec![expected()]);
        assert_eq!(batches(&sns.to_string()).unwrap(), vec![expected()]);
        assert_eq!(batches(&sqs.to_string()).unwrap(), vec![expected()]);
        assert_eq!(batches(&receive.to_string()).unwrap(), vec![expected(); 2]);
        assert_eq!(batches(&lambda.to_string()).unwrap(), vec![expected()]);
        let lines = format!("{}\n{}\n", record, sns);
        assert_eq!(batches(&lines).unwrap(), vec![expected(); 2]);
    }

    #[test]
    fn says_what_is_wrong_with_a_message() {
        let not_json = batches("{nope").unwrap_err().to_string();
        assert!(not_json.contains("not JSON"), "{not_json}");
        let other = batches(r#"{"hello": 1}"#).unwrap_err().to_string();
        assert!(other.contains(r#"["hello"]"#), "{other}");
        let empty = batches("").unwrap_err().to_string();
        assert!(empty.contains("no stream batch"), "{empty}");
        let bad_info = batches(r#"{"DDBStreamBatchInfo": {"shardId": 3}}"#)
            .unwrap_err()
            .to_string();
        assert!(bad_info.contains("not a stream batch"), "{bad_info}");
    }

    #[test]
    fn sequence_numbers_order_as_numbers() {
        assert!(SequenceNumber("900") < SequenceNumber("1000"));
        assert_eq!(
            SequenceNumber("0100").cmp(&SequenceNumber("100")),
            std::cmp::Ordering::Equal
        );
        assert!(SequenceNumber("800000000003126276363") > SequenceNumber("800000000003126276362"));
    }
}
