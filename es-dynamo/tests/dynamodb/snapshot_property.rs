//! A property of snapshots, on both stores: whatever the history and however
//! it was committed, a load through a snapshot gives exactly the state and
//! version a replay of every event gives, and reads no more than
//! `SNAPSHOT_EVERY` events to get there.
//!
//! Run both: `cargo test -p es-dynamo --test dynamodb snapshot_loads_match_replay`
//! (the DynamoDB one needs DynamoDB Local, as every test here does).
//! `PROPTEST_CASES=n` sets the number of histories of both.

use es::prelude::*;
use es_core::Root;
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Added {
    pub n: i64,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Doubled {}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Renamed {
    pub name: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Reset {}

/// State that depends on the order of its events (adding then doubling is
/// not doubling then adding), so that a snapshot taken at the wrong version,
/// or events replayed past it twice or not at all, change it.
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "Tally", snapshot_every = 4)]
pub struct Tally {
    pub total: i64,
    pub name: String,
    /// The event names applied since the last reset, in order.
    pub trail: Vec<String>,
    pub applied: u64,
}

#[es::handlers]
impl Tally {
    #[on(Added)]
    fn added(&mut self, e: &Added) {
        self.total = self.total.wrapping_add(e.n);
        self.step("Added");
    }

    #[on(Doubled)]
    fn doubled(&mut self, _: &Doubled) {
        self.total = self.total.wrapping_mul(2);
        self.step("Doubled");
    }

    #[on(Renamed)]
    fn renamed(&mut self, e: &Renamed) {
        self.name.clone_from(&e.name);
        self.step("Renamed");
    }

    #[on(Reset)]
    fn reset(&mut self, _: &Reset) {
        self.total = 0;
        self.trail.clear();
        self.step("Reset");
    }
}

impl Tally {
    fn step(&mut self, name: &str) {
        self.trail.push(name.to_owned());
        self.applied += 1;
    }
}

const EVERY: u64 = <Tally as es::Aggregate>::SNAPSHOT_EVERY;

fn event() -> impl Strategy<Value = TallyEvent> {
    prop_oneof![
        4 => any::<i64>().prop_map(|n| Added { n }.into()),
        2 => Just(Doubled {}.into()),
        // Names with quotes, `#`, non-ASCII: they go into snapshots too.
        2 => "[a-z#'\" é🚀]{0,6}".prop_map(|name| Renamed { name }.into()),
        1 => Just(Reset {}.into()),
    ]
}

/// A history, as the commits that wrote it: each commit some events, made
/// from the handle of the commit before or from a new load.
#[derive(Clone, Debug)]
struct Batch {
    events: Vec<TallyEvent>,
    reload: bool,
}

/// Histories of up to 3 × `SNAPSHOT_EVERY` + 3 events, in commits of 1 to 5.
fn history() -> impl Strategy<Value = Vec<Batch>> {
    let batch = (prop::collection::vec(event(), 1..=5), any::<bool>())
        .prop_map(|(events, reload)| Batch { events, reload });
    prop::collection::vec(batch, 0..=8).prop_map(|batches| {
        let most = usize::try_from(3 * EVERY + 3).unwrap_or(usize::MAX);
        let mut total = 0;
        batches
            .into_iter()
            .filter_map(|mut b| {
                b.events.truncate(most - total);
                total += b.events.len();
                (!b.events.is_empty()).then_some(b)
            })
            .collect()
    })
}

/// The state a replay of `events` from the default gives.
fn replay<'e>(events: impl IntoIterator<Item = &'e TallyEvent>) -> Tally {
    let mut state = Tally::default();
    for event in events {
        es::Aggregate::apply(&mut state, event).unwrap_or_else(|never| match never {});
    }
    state
}

fn fail(what: &str, err: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{what}: {err:?}"))
}

/// Commits `batches` to aggregate `id`, then checks a load against the
/// replay of what was committed, the replay of what the store holds, and
/// a load as of `as_of` (a fraction of the length) against its prefix.
async fn check<S: EventStore>(
    store: &S,
    id: &str,
    batches: &[Batch],
    as_of: f64,
) -> Result<(), TestCaseError> {
    let mut handle = Tally::load(store, id).await.map_err(|e| fail("load", e))?;
    for batch in batches {
        if batch.reload {
            handle = Tally::load(store, id)
                .await
                .map_err(|e| fail("reload", e))?;
        }
        handle
            .commit_all(batch.events.clone())
            .await
            .map_err(|e| fail("commit", e))?;
    }
    let events: Vec<&TallyEvent> = batches.iter().flat_map(|b| &b.events).collect();
    let length = events.len() as u64;
    let expected = replay(events.iter().copied());
    prop_assert_eq!(handle.state(), &expected, "the committing handle");

    let before = store.stats().snapshot();
    let loaded = Tally::load(store, id).await.map_err(|e| fail("load", e))?;
    let cost = store.stats().snapshot() - before;
    prop_assert_eq!(loaded.version(), length);
    prop_assert_eq!(loaded.state(), &expected, "a load through snapshots");
    // A snapshot was used: the load read at most the events after the
    // newest one, and never the whole of a longer history.
    prop_assert!(
        cost.items_read <= EVERY.min(length),
        "{} events loaded reading {} items",
        length,
        cost.items_read
    );

    // What the store holds replays to the same, from version 1.
    let stored: Vec<_> = Root::<Tally, S>::new(store, id)
        .history()
        .try_collect()
        .await
        .map_err(|e| fail("history", e))?;
    let versions: Vec<u64> = stored.iter().map(|r| r.version).collect();
    prop_assert_eq!(versions, (1..=length).collect::<Vec<_>>());
    prop_assert_eq!(
        replay(stored.iter().map(|r| &r.event)),
        expected,
        "a replay of the stored history"
    );

    // Any earlier version, through the snapshot at or below it.
    let version = (length as f64 * as_of).floor() as u64;
    let then = Tally::load_at(store, id, version)
        .await
        .map_err(|e| fail("load_at", e))?;
    let prefix = usize::try_from(version).unwrap_or(usize::MAX);
    prop_assert_eq!(then.version(), version);
    prop_assert_eq!(
        then.state(),
        &replay(events.iter().copied().take(prefix)),
        "a load as of version {}",
        version
    );
    Ok(())
}

/// Runs the property `default_cases` times (or `PROPTEST_CASES`), each
/// history on a fresh aggregate id of `store`.
fn run<S: EventStore>(store: &S, runtime: &tokio::runtime::Runtime, default_cases: u32) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    // Shrinking reruns cases, each on an id of its own.
    let n = std::sync::atomic::AtomicU64::new(0);
    let outcome = runner.run(&(history(), 0.0..=1.0f64), |(batches, as_of)| {
        let n = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("tally-{}-{n}", std::process::id());
        runtime.block_on(check(store, &id, &batches, as_of))
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

mod snapshot_loads_match_replay {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime")
    }

    #[test]
    fn memory() {
        run(&es::MemoryStore::new(), &runtime(), 256);
    }

    /// Few histories, each on fresh ids of one table: every one is a few
    /// dozen requests to DynamoDB Local.
    #[test]
    fn dynamo() {
        if es_dynamo::testing::skip_without_dynamodb() {
            return;
        }
        let runtime = runtime();
        let store = runtime.block_on(es_dynamo::testing::store_on_new_table("snap-prop"));
        run(&store, &runtime, 16);
    }
}
