//! The in-process side of writing: one queue per aggregate, and an optional
//! bounded cache of the latest state of recently used aggregates.
//!
//! A store's clones share one [`Writers`]. Commands on one aggregate that go
//! through them take turns: each decides on the state the one before it left,
//! so they never conflict with each other, and conflicts come only from other
//! processes. Nothing here is a source of truth: a state kept here is only a
//! guess of the latest, which the conditional write checks. A guess that
//! turns out stale costs one conflict and a catch-up read of what was missed.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OwnedMutexGuard;

/// The latest known state of one aggregate: an `Entry<A>` behind `Any`,
/// because one store serves every aggregate type.
#[derive(Clone)]
struct Latest(Arc<dyn Any + Send + Sync>);

struct Entry<A> {
    version: u64,
    state: A,
}

impl Latest {
    fn version<A: 'static>(&self) -> Option<u64> {
        self.0.downcast_ref::<Entry<A>>().map(|e| e.version)
    }
}

/// One aggregate's queue: whose turn it is, and the state the last command
/// in this process left.
struct Queue {
    turn: Arc<tokio::sync::Mutex<()>>,
    latest: Mutex<Option<Latest>>,
}

/// The queues and the cache a store's clones share. Stores hold one each
/// (see [`EventStore::writers`](crate::EventStore::writers)); users meet it
/// only through a store's `with_cache`.
pub struct Writers {
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    cache: Option<quick_cache::sync::Cache<String, Latest>>,
    // As asked for: the cache's own figure is its shards' sum, rounded.
    capacity: usize,
    // The latest version this process has seen of recently used
    // aggregates, kept with or without a cache: a number each, so that a
    // command handed a handle this process has since moved past catches
    // up before it decides, instead of conflicting with its own process.
    versions: quick_cache::sync::Cache<String, u64>,
}

/// How many aggregates' latest versions a [`Writers`] keeps.
const VERSIONS: usize = 4_096;

impl Default for Writers {
    fn default() -> Self {
        Writers::new()
    }
}

impl std::fmt::Debug for Writers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writers")
            .field("queued", &lock(&self.queues).len())
            .field("cache_entries", &self.capacity)
            .finish()
    }
}

/// A poisoned lock here only means a panic elsewhere while a map was held;
/// the maps hold guesses, so going on with them is safe.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Writers {
    /// Queues and no cache: a command starts from a read unless another
    /// command on the same aggregate ran just before it in this process.
    pub fn new() -> Self {
        Writers {
            queues: Mutex::new(HashMap::new()),
            cache: None,
            capacity: 0,
            versions: quick_cache::sync::Cache::new(VERSIONS),
        }
    }

    /// Queues, and a cache of the latest state of up to `entries`
    /// aggregates, the least recently used evicted first. With 0 entries
    /// there is no cache.
    pub fn with_cache(entries: usize) -> Self {
        Writers {
            queues: Mutex::new(HashMap::new()),
            cache: (entries > 0).then(|| quick_cache::sync::Cache::new(entries)),
            capacity: entries,
            versions: quick_cache::sync::Cache::new(VERSIONS.max(entries)),
        }
    }

    /// How many aggregates the cache holds at most; 0 without a cache.
    pub fn cache_capacity(&self) -> usize {
        self.capacity
    }

    /// Waits for this process's turn on the aggregate whose stream key is
    /// `key`: commands before it have finished. Turns are taken in the
    /// order they were asked for.
    pub(crate) async fn turn(self: &Arc<Self>, key: &str) -> Turn {
        let queue = {
            let mut queues = lock(&self.queues);
            queues
                .entry(key.to_owned())
                .or_insert_with(|| {
                    Arc::new(Queue {
                        turn: Arc::new(tokio::sync::Mutex::new(())),
                        latest: Mutex::new(None),
                    })
                })
                .clone()
        };
        let guard = queue.turn.clone().lock_owned().await;
        Turn {
            writers: Arc::clone(self),
            key: key.to_owned(),
            queue,
            guard: Some(guard),
        }
    }

    /// Keeps `state` at `version` as the latest of `key`, unless a later
    /// version is already kept: in the aggregate's live queue, and in the
    /// cache unless `cache` is false (a state that may hold personal data,
    /// which must not outlive a forget in memory).
    pub(crate) fn remember<A: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        version: u64,
        state: &A,
        cache: bool,
    ) {
        if !matches!(self.versions.get(key), Some(seen) if seen >= version) {
            self.versions.insert(key.to_owned(), version);
        }
        // A state is cloned only where it will be kept.
        let queue = lock(&self.queues).get(key).cloned();
        let cached = self.cache.as_ref().filter(|_| cache);
        if queue.is_none() && cached.is_none() {
            return;
        }
        let latest = Latest(Arc::new(Entry {
            version,
            state: state.clone(),
        }));
        let newer = |kept: Option<&Latest>| match kept.and_then(Latest::version::<A>) {
            Some(kept) => kept < version,
            None => true,
        };
        if let Some(queue) = queue {
            let mut kept = lock(&queue.latest);
            if newer(kept.as_ref()) {
                *kept = Some(latest.clone());
            }
        }
        if let Some(cache) = cached {
            if newer(cache.get(key).as_ref()) {
                cache.insert(key.to_owned(), latest);
            }
        }
    }

    /// The latest version of `key` this process has seen, if it still
    /// remembers.
    pub(crate) fn seen(&self, key: &str) -> Option<u64> {
        self.versions.get(key)
    }

    /// Drops what is kept of `key`: after an error that says the kept
    /// state cannot be trusted.
    pub(crate) fn forget(&self, key: &str) {
        self.versions.remove(key);
        let queue = lock(&self.queues).get(key).cloned();
        if let Some(queue) = queue {
            *lock(&queue.latest) = None;
        }
        if let Some(cache) = &self.cache {
            cache.remove(key);
        }
    }
}

/// A kept state of some aggregate type, from [`Turns::kept`].
pub(crate) struct Kept(Latest);

/// The version and state in `kept`, if it is an `A`.
pub(crate) fn kept_as<A: Clone + 'static>(kept: &Kept) -> Option<(u64, A)> {
    let entry = kept.0 .0.downcast_ref::<Entry<A>>()?;
    Some((entry.version, entry.state.clone()))
}

/// One command's turn on one aggregate. Dropping it hands the turn on.
pub(crate) struct Turn {
    writers: Arc<Writers>,
    key: String,
    queue: Arc<Queue>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turn {
    /// The aggregate's stream key (`stream_key`).
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The latest state this process knows of the aggregate, from the last
    /// command in the queue or else from the cache, with its version.
    pub(crate) fn latest<A: Clone + 'static>(&self) -> Option<(u64, A)> {
        let kept = lock(&self.queue.latest).clone();
        let kept = kept.or_else(|| self.writers.cache.as_ref()?.get(&self.key))?;
        let entry = kept.0.downcast_ref::<Entry<A>>()?;
        Some((entry.version, entry.state.clone()))
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.guard.take());
        // The map and this turn hold the queue; anyone else holding it is
        // waiting for a turn. Clones are only made under the map's lock, so
        // the count read under it is exact.
        let mut queues = lock(&self.writers.queues);
        if Arc::strong_count(&self.queue) == 2 {
            queues.remove(&self.key);
        }
    }
}

/// This process's turns on several aggregates, taken with [`turns`]; they
/// pass on when this is dropped.
#[must_use = "the turns pass on as soon as this is dropped"]
pub struct Turns {
    // Handing turns on needs no order: each is taken or waited for alone.
    held: Vec<Turn>,
}

impl Turns {
    /// The latest state this process keeps of the aggregate `key`, type
    /// erased: for a command across aggregates, which loads several types
    /// and reads it back with [`kept_as`].
    pub(crate) fn kept(&self, key: &str) -> Option<Kept> {
        let turn = self.held.iter().find(|t| t.key == key)?;
        let kept = lock(&turn.queue.latest).clone();
        let kept = kept.or_else(|| turn.writers.cache.as_ref()?.get(&turn.key))?;
        Some(Kept(kept))
    }
}

impl std::fmt::Debug for Turns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.held.iter().map(|t| &t.key))
            .finish()
    }
}

/// Waits for this process's turn on each aggregate in `aggregates` (name
/// and id pairs), as [`execute`](crate::AggregateExt::execute) takes one on
/// its aggregate, and holds them until the returned [`Turns`] is dropped.
///
/// For a command across aggregates, such as a checkout that writes a cart
/// and its products in one [`Transaction`](crate::Transaction): with the
/// turns held, no command of this process writes those aggregates in
/// between its reads and its write, so its write only conflicts with other
/// processes. The turns are taken in one fixed order, so two callers never
/// wait for each other. Two rules keep that true: take every turn a command
/// needs in one call, or in calls that follow one order of aggregate types
/// (say, a cart's before its products'); and never `execute` on an
/// aggregate while holding its turn, which would wait for itself.
///
/// ```
/// # mod doc { include!("../doc/product.rs"); }
/// # use doc::*;
/// # use es::prelude::*;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let turns = es::turns(&store, [(Product::NAME, "a"), (Product::NAME, "b")]).await;
/// let mut a = Product::load(&store, "a").await?;
/// let mut b = Product::load(&store, "b").await?;
/// let mut tx = Transaction::new(&store);
/// tx.append(&mut a, [Restocked { amount: 1 }])?;
/// tx.append(&mut b, [Restocked { amount: 2 }])?;
/// tx.commit().await?;
/// drop(turns);
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub async fn turns<S, I, N>(store: &S, aggregates: I) -> Turns
where
    S: crate::EventStore,
    I: IntoIterator<Item = (&'static str, N)>,
    N: AsRef<str>,
{
    let mut keys: Vec<String> = aggregates
        .into_iter()
        .map(|(name, id)| crate::limits::stream_key(name, id.as_ref()))
        .collect();
    keys.sort();
    keys.dedup();
    let mut held = Vec::with_capacity(keys.len());
    for key in keys {
        held.push(store.writers().turn(&key).await);
    }
    Turns { held }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_taken_one_at_a_time_and_the_queue_is_dropped_after() {
        let writers = Arc::new(Writers::new());
        let running = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (writers, running) = (writers.clone(), running.clone());
                tokio::spawn(async move {
                    let _turn = writers.turn("A#1").await;
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    assert_eq!(now, 0, "two turns at once");
                    tokio::task::yield_now().await;
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert!(lock(&writers.queues).is_empty());
    }

    #[tokio::test]
    async fn the_queue_keeps_the_latest_only_while_it_lives_and_never_goes_back() {
        let writers = Arc::new(Writers::new());
        let turn = writers.turn("A#1").await;
        writers.remember("A#1", 3, &"three".to_owned(), true);
        writers.remember("A#1", 2, &"two".to_owned(), true);
        assert_eq!(turn.latest::<String>(), Some((3, "three".to_owned())));
        // Another type under the same key is no match.
        assert_eq!(turn.latest::<u32>(), None);
        drop(turn);
        let turn = writers.turn("A#1").await;
        assert_eq!(turn.latest::<String>(), None);
        // Nobody holds a turn on another key and there is no cache: what
        // is remembered of it is its version alone, not its state.
        writers.remember("A#2", 1, &"one".to_owned(), true);
        assert_eq!(writers.seen("A#2"), Some(1));
        assert_eq!(writers.turn("A#2").await.latest::<String>(), None);
    }

    #[tokio::test]
    async fn the_cache_outlives_the_queue_and_is_bounded() {
        let writers = Arc::new(Writers::with_cache(2));
        writers.remember("A#1", 1, &1u32, true);
        writers.remember("A#2", 1, &2u32, true);
        writers.remember("A#3", 1, &3u32, true);
        let cached = (1..=3)
            .filter(|n| {
                writers
                    .cache
                    .as_ref()
                    .is_some_and(|c| c.get(&format!("A#{n}")).is_some())
            })
            .count();
        assert!(cached <= 2, "{cached} entries in a cache of 2");
        writers.remember("A#3", 5, &30u32, true);
        writers.forget("A#1");
        let turn = writers.turn("A#3").await;
        assert_eq!(turn.latest::<u32>(), Some((5, 30)));
        drop(turn);
        writers.forget("A#3");
        assert_eq!(writers.turn("A#3").await.latest::<u32>(), None);
    }
}
