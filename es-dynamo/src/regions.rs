//! Global tables: which Regions hold the events table, in which consistency
//! mode, and whether this store may write it.
//!
//! es's guarantees rest on one rule: a version of an aggregate is written
//! once, by a conditional write that fails when it is taken. A global table
//! in multi-Region **eventual** consistency (MREC, DynamoDB's default) checks
//! a condition in one Region only and settles concurrent writes of one item
//! in two Regions by "last writer wins": both writers take version N, both
//! succeed, and one event disappears after its stream record was projected.
//! So es writes such a table from one Region only, the one the store is
//! told with [`DynamoStore::with_write_region`], and refuses to write from
//! anywhere else. In multi-Region **strong** consistency (MRSC) a condition
//! holds across Regions, and a write that races one in another Region fails
//! with `ReplicatedWriteConflictException`, which es retries as a conflict;
//! but DynamoDB does not support `TransactWriteItems` there, so a commit of
//! several events, across aggregates, or with an idempotency record is
//! refused before anything is sent.
//!
//! The store learns the table's replicas with one `DescribeTable`,
//! [`DynamoStore::check_regions`]: call it at start (es does not call it on
//! its own, so that a store needs no more than the calls it makes), and
//! again on demand, say after the table gained a replica. What it learned
//! is shared by the store's clones. `docs/multi-region.md` is the guide.

use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_dynamodb::types::{MultiRegionConsistency, TableDescription};
use es_core::{Error, StoreError};
use tracing::Instrument;

use crate::errors::store_error;
use crate::{trace, DynamoStore};

/// How a table is replicated across Regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// One Region: no replicas.
    SingleRegion,
    /// A global table in multi-Region eventual consistency (MREC): a write
    /// in one Region reaches the others later, and concurrent writes of one
    /// item in two Regions are settled by the last writer winning.
    Eventual,
    /// A global table in multi-Region strong consistency (MRSC): a write is
    /// replicated before it is acknowledged, and a conditional write holds
    /// across Regions.
    Strong,
}

/// What `DescribeTable` says about a table's Regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replication {
    /// The table's name.
    pub table: String,
    /// The Region the store's client is in, when its config has one.
    pub here: Option<String>,
    /// Every Region with a replica of the table, this one included, sorted.
    pub regions: Vec<String>,
    /// The witness Regions of a strongly consistent table (they hold no
    /// replica to read or write).
    pub witnesses: Vec<String>,
    /// The consistency mode.
    pub consistency: Consistency,
}

impl Replication {
    /// Reads a `DescribeTable` answer for `table`, asked from Region `here`.
    pub fn from_description(
        table: &str,
        here: Option<&str>,
        description: &TableDescription,
    ) -> Self {
        let mut regions: Vec<String> = description
            .replicas()
            .iter()
            .filter_map(|r| r.region_name().map(str::to_owned))
            .collect();
        if let Some(here) = here {
            if !regions.is_empty() {
                regions.push(here.to_owned());
            }
        }
        regions.sort();
        regions.dedup();
        let mut witnesses: Vec<String> = description
            .global_table_witnesses()
            .iter()
            .filter_map(|w| w.region_name().map(str::to_owned))
            .collect();
        witnesses.sort();
        let consistency = if regions.len() <= 1 && witnesses.is_empty() {
            Consistency::SingleRegion
        } else if description.multi_region_consistency() == Some(&MultiRegionConsistency::Strong) {
            Consistency::Strong
        } else {
            // DynamoDB's default, and what an unknown mode is treated as:
            // the one that needs the care.
            Consistency::Eventual
        };
        Replication {
            table: table.to_owned(),
            here: here.map(str::to_owned),
            regions,
            witnesses,
            consistency,
        }
    }

    fn regions_text(&self) -> String {
        if self.regions.is_empty() {
            "none".to_owned()
        } else {
            self.regions.join(", ")
        }
    }
}

/// The store's knowledge of its table's Regions, shared by its clones.
#[derive(Debug, Default)]
pub(crate) struct Regions {
    /// The one Region that writes the table, when it is a global table in
    /// eventual consistency.
    write_region: Option<String>,
    /// What the last `DescribeTable` said.
    checked: Mutex<Option<Replication>>,
}

impl Regions {
    fn checked(&self) -> MutexGuard<'_, Option<Replication>> {
        // A poisoned lock only means a panic elsewhere while it was held;
        // the value is replaced whole, never half-written.
        self.checked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a commit needs of the table, for [`DynamoStore::may_write`].
pub(crate) struct Needs<'a> {
    pub(crate) aggregate: &'static str,
    pub(crate) id: &'a str,
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// Events in the commit, over every aggregate.
    pub(crate) events: usize,
    /// Aggregates in the commit.
    pub(crate) aggregates: usize,
    /// Whether it carries an idempotency record.
    pub(crate) command: bool,
}

impl DynamoStore {
    /// This store, declaring `region` the one Region that writes its table.
    ///
    /// Needed to write a global table in multi-Region eventual consistency,
    /// once [`DynamoStore::check_regions`] has found it is one: es then
    /// writes only when the store's client is in `region`, and refuses to
    /// write from any other Region, whose writes could each take the same
    /// version and lose one event to "last writer wins". Run the writers of
    /// the table in that Region alone (readers and projections may run
    /// anywhere). Not needed for a table in one Region, or in strong
    /// consistency.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), es::Error> {
    /// let store = es::dynamo::DynamoStore::from_env("events")
    ///     .await
    ///     .with_write_region("us-east-1");
    /// let replication = store.check_regions().await?; // one DescribeTable
    /// println!("{:?} in {:?}", replication.consistency, replication.regions);
    /// # Ok(()) }
    /// ```
    pub fn with_write_region(mut self, region: impl Into<String>) -> Self {
        let checked = self.regions().checked().clone();
        self.set_regions(Arc::new(Regions {
            write_region: Some(region.into()),
            checked: Mutex::new(checked),
        }));
        self
    }

    /// The Region given to [`DynamoStore::with_write_region`], if any.
    pub fn write_region(&self) -> Option<&str> {
        self.regions().write_region.as_deref()
    }

    /// The Region of the store's client, from its config.
    pub fn region(&self) -> Option<&str> {
        self.client().config().region().map(|r| r.as_ref())
    }

    /// Reads the table's replicas and consistency mode now, with one
    /// `DescribeTable`, and keeps them: from then on every write of this
    /// store and its clones is checked against them (see the
    /// [module](crate::regions)). Call it at start, and again when the
    /// table's Regions may have changed.
    ///
    /// Returns what it found, or the `DescribeTable` failure (the store
    /// keeps what it knew before). Writing is not refused here: a
    /// store that may not write its table can still read it.
    pub async fn check_regions(&self) -> Result<Replication, Error> {
        let table = self.table();
        let span = trace::request(table, "DescribeTable", "", "");
        let sent = self
            .client()
            .describe_table()
            .table_name(table)
            .send()
            .instrument(span.clone())
            .await;
        let description = match sent {
            Ok(output) => output
                .table
                .unwrap_or_else(|| TableDescription::builder().table_name(table).build()),
            Err(e) => {
                trace::done(&span, "error", 0, 0.0);
                return Err(store_error("DescribeTable", table, e).into());
            }
        };
        trace::done(&span, "described", 0, 0.0);
        let replication = Replication::from_description(table, self.region(), &description);
        if replication.consistency != Consistency::SingleRegion {
            tracing::info!(
                table,
                regions = ?replication.regions,
                consistency = ?replication.consistency,
                write_region = self.write_region(),
                "the events table is a global table"
            );
        }
        *self.regions().checked() = Some(replication.clone());
        Ok(replication)
    }

    /// What the last [`DynamoStore::check_regions`] found, if it ran.
    pub fn replication(&self) -> Option<Replication> {
        self.regions().checked().clone()
    }

    /// Refuses a commit that the table's replication makes unsafe or
    /// impossible, before anything is sent.
    pub(crate) fn may_write(&self, needs: &Needs<'_>) -> Result<(), Error> {
        let Some(replication) = self.replication() else {
            return Ok(());
        };
        let refuse = |message: String| -> Result<(), Error> {
            Err(StoreError::permanent("commit", message)
                .about(needs.aggregate, needs.id)
                .writing(needs.first, needs.last)
                .into())
        };
        match replication.consistency {
            Consistency::SingleRegion => Ok(()),
            Consistency::Eventual => {
                let here = replication.here.as_deref();
                match (self.write_region(), here) {
                    (Some(writer), Some(here)) if writer == here => Ok(()),
                    (writer, here) => refuse(format!(
                        "table {:?} is a global table in multi-Region eventual consistency \
                         (replicas: {}), where two Regions writing one aggregate would each take \
                         the same version and DynamoDB would keep only the last, losing an event; \
                         es writes it from one Region only, and this store {}: {}",
                        replication.table,
                        replication.regions_text(),
                        match here {
                            Some(here) => format!("is in {here}"),
                            None => "has no Region in its config".to_owned(),
                        },
                        match writer {
                            Some(writer) => format!(
                                "the Region that writes it is {writer} (`with_write_region`); \
                                 write from there"
                            ),
                            None => "configure the one Region that writes it with \
                                     `DynamoStore::with_write_region`, and write from there only"
                                .to_owned(),
                        }
                    )),
                }
            }
            Consistency::Strong => {
                let transaction = needs.events > 1 || needs.aggregates > 1 || needs.command;
                if !transaction {
                    return Ok(());
                }
                let what = if needs.command {
                    "carries an idempotency record".to_owned()
                } else if needs.aggregates > 1 {
                    format!("writes {} aggregates at once", needs.aggregates)
                } else {
                    format!("writes {} events at once", needs.events)
                };
                refuse(format!(
                    "table {:?} is a global table in multi-Region strong consistency (replicas: \
                     {}), where DynamoDB does not support TransactWriteItems, and this commit {what}, \
                     which es writes atomically only with one; commit one event at a time, \
                     without an idempotency key",
                    replication.table,
                    replication.regions_text(),
                ))
            }
        }
    }

    /// The Region of a store made like this one: its write Region, and none
    /// of what it learned (a second process checks for itself).
    pub(crate) fn regions_for_another_process(&self) -> Arc<Regions> {
        Arc::new(Regions {
            write_region: self.regions().write_region.clone(),
            checked: Mutex::new(None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{GlobalTableWitnessDescription, ReplicaDescription};

    fn replica(region: &str) -> ReplicaDescription {
        ReplicaDescription::builder().region_name(region).build()
    }

    #[test]
    fn a_table_without_replicas_is_single_region() {
        let d = TableDescription::builder().table_name("t").build();
        let r = Replication::from_description("t", Some("us-east-1"), &d);
        assert_eq!(r.consistency, Consistency::SingleRegion);
        assert!(r.regions.is_empty());
    }

    #[test]
    fn replicas_and_witnesses_are_read_with_this_region() {
        let d = TableDescription::builder()
            .replicas(replica("us-east-2"))
            .global_table_witnesses(
                GlobalTableWitnessDescription::builder()
                    .region_name("us-west-2")
                    .build(),
            )
            .multi_region_consistency(MultiRegionConsistency::Strong)
            .build();
        let r = Replication::from_description("t", Some("us-east-1"), &d);
        assert_eq!(r.consistency, Consistency::Strong);
        assert_eq!(r.regions, ["us-east-1", "us-east-2"]);
        assert_eq!(r.witnesses, ["us-west-2"]);
        let d = TableDescription::builder()
            .replicas(replica("eu-west-1"))
            .build();
        let r = Replication::from_description("t", Some("us-east-1"), &d);
        assert_eq!(r.consistency, Consistency::Eventual, "the default mode");
    }
}
