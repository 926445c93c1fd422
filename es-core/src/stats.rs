//! Request and capacity counters, so the cost of every operation is visible.

use std::iter::Sum;
use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters a store keeps for every call it makes. Capacity units are kept in
/// thousandths, because DynamoDB bills half units for eventually consistent reads.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    reads: AtomicU64,
    writes: AtomicU64,
    items_read: AtomicU64,
    items_written: AtomicU64,
    read_milli_units: AtomicU64,
    write_milli_units: AtomicU64,
}

/// A copy of the counters at one moment. Subtract two to get the cost of
/// what happened between them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Requests of any kind sent to the store.
    pub requests: u64,
    /// Read requests (Query, GetItem).
    pub reads: u64,
    /// Write requests (PutItem, TransactWriteItems).
    pub writes: u64,
    /// Items returned by reads.
    pub items_read: u64,
    /// Items written.
    pub items_written: u64,
    /// Read capacity units consumed.
    pub read_units: f64,
    /// Write capacity units consumed.
    pub write_units: f64,
}

/// The recording side of [`Stats`], for stores: users read the counters
/// with [`Stats::snapshot`] and cannot change them unless they import this
/// trait, which only a store implementation has reason to do.
pub trait Record {
    /// Counts one read request that returned `items` items and cost `units` RCU.
    fn record_read(&self, items: u64, units: f64);

    /// Counts one write request that wrote `items` items and cost `units` WCU.
    fn record_write(&self, items: u64, units: f64);

    /// Counts a write request that wrote nothing (a failed condition), which
    /// DynamoDB still bills.
    fn record_failed_write(&self, units: f64) {
        self.record_write(0, units);
    }
}

impl Record for Stats {
    fn record_read(&self, items: u64, units: f64) {
        self.requests.fetch_add(1, Relaxed);
        self.reads.fetch_add(1, Relaxed);
        self.items_read.fetch_add(items, Relaxed);
        self.read_milli_units.fetch_add(to_milli(units), Relaxed);
        tracing::trace!(items, read_units = units, "store read");
    }

    fn record_write(&self, items: u64, units: f64) {
        self.requests.fetch_add(1, Relaxed);
        self.writes.fetch_add(1, Relaxed);
        self.items_written.fetch_add(items, Relaxed);
        self.write_milli_units.fetch_add(to_milli(units), Relaxed);
        tracing::trace!(items, write_units = units, "store write");
    }
}

impl Stats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Relaxed),
            reads: self.reads.load(Relaxed),
            writes: self.writes.load(Relaxed),
            items_read: self.items_read.load(Relaxed),
            items_written: self.items_written.load(Relaxed),
            read_units: self.read_milli_units.load(Relaxed) as f64 / 1000.0,
            write_units: self.write_milli_units.load(Relaxed) as f64 / 1000.0,
        }
    }
}

fn to_milli(units: f64) -> u64 {
    if units.is_finite() && units > 0.0 {
        (units * 1000.0).round() as u64
    } else {
        0
    }
}

/// Adds the counters of two stores, or two spans of one: what several stores
/// of one workload cost together.
impl Add for StatsSnapshot {
    type Output = StatsSnapshot;

    fn add(self, other: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.saturating_add(other.requests),
            reads: self.reads.saturating_add(other.reads),
            writes: self.writes.saturating_add(other.writes),
            items_read: self.items_read.saturating_add(other.items_read),
            items_written: self.items_written.saturating_add(other.items_written),
            read_units: self.read_units + other.read_units,
            write_units: self.write_units + other.write_units,
        }
    }
}

impl Sum for StatsSnapshot {
    fn sum<I: Iterator<Item = StatsSnapshot>>(iter: I) -> StatsSnapshot {
        iter.fold(StatsSnapshot::default(), Add::add)
    }
}

impl Sub for StatsSnapshot {
    type Output = StatsSnapshot;

    fn sub(self, before: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.saturating_sub(before.requests),
            reads: self.reads.saturating_sub(before.reads),
            writes: self.writes.saturating_sub(before.writes),
            items_read: self.items_read.saturating_sub(before.items_read),
            items_written: self.items_written.saturating_sub(before.items_written),
            read_units: self.read_units - before.read_units,
            write_units: self.write_units - before.write_units,
        }
    }
}

/// DynamoDB's documented capacity formulas, shared by every store so that
/// costs read the same in memory and in DynamoDB.
pub mod capacity {
    /// Read units for a strongly consistent read of `bytes` in one request:
    /// one unit per 4 KB, rounded up, at least one.
    pub fn consistent_read(bytes: usize) -> f64 {
        (bytes.div_ceil(4096)).max(1) as f64
    }

    /// Write units for one standard write of an item of `bytes`: one per KB,
    /// rounded up, at least one.
    pub fn write(bytes: usize) -> f64 {
        (bytes.div_ceil(1024)).max(1) as f64
    }

    /// Write units for a transaction: twice a standard write for every item.
    /// DynamoDB Local reports wrong figures for multi-item transactions, so
    /// es always computes them with this formula.
    pub fn transaction<I: IntoIterator<Item = usize>>(item_bytes: I) -> f64 {
        item_bytes.into_iter().map(|b| 2.0 * write(b)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_add_and_sum_field_by_field() {
        let one = StatsSnapshot {
            requests: 2,
            reads: 1,
            writes: 1,
            items_read: 3,
            items_written: 1,
            read_units: 1.5,
            write_units: 2.0,
        };
        let total: StatsSnapshot = [one, one, StatsSnapshot::default()].into_iter().sum();
        assert_eq!(total, one + one);
        assert_eq!(
            total,
            StatsSnapshot {
                requests: 4,
                reads: 2,
                writes: 2,
                items_read: 6,
                items_written: 2,
                read_units: 3.0,
                write_units: 4.0,
            }
        );
        assert_eq!(total - one, one);
    }
}
