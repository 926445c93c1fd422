//! Snapshots, and renaming the generated enum, on a counter that snapshots
//! every 4 versions.

use super::*;
use crate::defaults::Door;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Added {
    pub n: u64,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "Counter", snapshot_every = 4)]
pub struct Counter {
    pub total: u64,
    pub applied: u64,
}

#[es::handlers]
impl Counter {
    #[on(Added)]
    fn added(&mut self, e: &Added) {
        self.total += e.n;
        self.applied += 1;
    }
}

/// The same stream, read with another snapshot schema.
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "Counter", snapshot_every = 4, snapshot_schema = 2)]
pub struct CounterV2 {
    pub total: u64,
    pub applied: u64,
}

#[es::handlers(event = CounterV2Events)]
impl CounterV2 {
    #[on(Added)]
    fn added(&mut self, e: &Added) {
        self.total += e.n;
        self.applied += 1;
    }
}

#[tokio::test]
async fn snapshots_bound_what_a_load_reads() -> Result<(), es::Error> {
    assert_eq!((Counter::SNAPSHOT_EVERY, Counter::SNAPSHOT_SCHEMA), (4, 1));
    assert_eq!(
        (CounterV2::SNAPSHOT_EVERY, CounterV2::SNAPSHOT_SCHEMA),
        (4, 2)
    );
    let store = MemoryStore::new();
    let mut counter = Counter::load(&store, "c").await?;
    for n in 1..=10 {
        counter.commit(Added { n }).await?;
    }

    let before = store.stats().snapshot();
    let loaded = Counter::load(&store, "c").await?;
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        loaded.state(),
        &Counter {
            total: 55,
            applied: 10
        }
    );
    // One page of at most `snapshot_every` items, newest first: versions 10
    // and 9, the snapshot stored with version 8, and version 7, unused.
    assert_eq!((cost.reads, cost.items_read), (1, 4));
    assert!(cost.items_read <= Counter::SNAPSHOT_EVERY);

    // Another snapshot schema cannot use those snapshots: after one page of
    // `snapshot_every` items without a usable one, it replays the history
    // forward, page by page, rather than buffer it all newest first.
    let before = store.stats().snapshot();
    let v2 = CounterV2::load(&store, "c").await?;
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        v2.state(),
        &CounterV2 {
            total: 55,
            applied: 10
        }
    );
    assert_eq!((cost.reads, cost.items_read), (2, 4 + 10));
    Ok(())
}

#[test]
fn snapshot_state_uses_serde_only_when_snapshots_are_on() {
    let counter = Counter {
        total: 3,
        applied: 2,
    };
    let value = counter
        .serialize_state(serde_json::value::Serializer)
        .unwrap();
    assert_eq!(value, json!({"total": 3, "applied": 2}));
    assert_eq!(Counter::deserialize_state(value).unwrap(), counter);

    let err = Door::default()
        .serialize_state(serde_json::value::Serializer)
        .unwrap_err();
    assert_eq!(err.to_string(), "Door does not take snapshots");
}

#[tokio::test]
async fn options_rename_the_enum_and_keep_the_store_format() -> Result<(), es::Error> {
    let store = MemoryStore::new();
    Counter::load(&store, "c")
        .await?
        .commit(Added { n: 2 })
        .await?;
    let v2 = CounterV2::load(&store, "c").await?;
    assert_eq!(v2.total, 2);
    let event: CounterV2Events = Added { n: 2 }.into();
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"type":"Added","payload":{"n":2}}"#
    );
    Ok(())
}
