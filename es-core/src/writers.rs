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
    capacity: usize,
}

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
        }
    }

    /// How many aggregates the cache holds at most; 0 without a cache.
    pub fn cache_capacity(&self) -> usize {
        self.capacity
    }

    /// Waits for this process's turn on the aggregate whose stream key is
    /// `key`: commands before it have finished. Turns are taken in the
    /// order they were asked for.
    pub(crate) async fn turn(&self, key: &str) -> Turn<'_> {
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
            writers: self,
            key: key.to_owned(),
            queue,
            guard: Some(guard),
        }
    }

    /// Whether a state for `key` would be kept anywhere, so that callers
    /// clone a state only when it is.
    fn keeps(&self, key: &str) -> bool {
        self.cache.is_some() || lock(&self.queues).contains_key(key)
    }

    /// Keeps `state` at `version` as the latest of `key`, unless a later
    /// version is already kept: in the aggregate's live queue, and in the
    /// cache.
    pub(crate) fn remember<A: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        version: u64,
        state: &A,
    ) {
        if !self.keeps(key) {
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
        let queue = lock(&self.queues).get(key).cloned();
        if let Some(queue) = queue {
            let mut kept = lock(&queue.latest);
            if newer(kept.as_ref()) {
                *kept = Some(latest.clone());
            }
        }
        if let Some(cache) = &self.cache {
            if newer(cache.get(key).as_ref()) {
                cache.insert(key.to_owned(), latest);
            }
        }
    }

    /// Drops what is kept of `key`: after an error that says the kept
    /// state cannot be trusted.
    pub(crate) fn forget(&self, key: &str) {
        let queue = lock(&self.queues).get(key).cloned();
        if let Some(queue) = queue {
            *lock(&queue.latest) = None;
        }
        if let Some(cache) = &self.cache {
            cache.remove(key);
        }
    }
}

/// One command's turn on one aggregate. Dropping it hands the turn on.
pub(crate) struct Turn<'w> {
    writers: &'w Writers,
    key: String,
    queue: Arc<Queue>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turn<'_> {
    /// The latest state this process knows of the aggregate, from the last
    /// command in the queue or else from the cache, with its version.
    pub(crate) fn latest<A: Clone + 'static>(&self) -> Option<(u64, A)> {
        let kept = lock(&self.queue.latest).clone();
        let kept = kept.or_else(|| self.writers.cache.as_ref()?.get(&self.key))?;
        let entry = kept.0.downcast_ref::<Entry<A>>()?;
        Some((entry.version, entry.state.clone()))
    }
}

impl Drop for Turn<'_> {
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
        let writers = Writers::new();
        let turn = writers.turn("A#1").await;
        writers.remember("A#1", 3, &"three".to_owned());
        writers.remember("A#1", 2, &"two".to_owned());
        assert_eq!(turn.latest::<String>(), Some((3, "three".to_owned())));
        // Another type under the same key is no match.
        assert_eq!(turn.latest::<u32>(), None);
        drop(turn);
        let turn = writers.turn("A#1").await;
        assert_eq!(turn.latest::<String>(), None);
        // Nobody holds a turn on another key: nothing is kept for it.
        writers.remember("A#2", 1, &"one".to_owned());
        assert!(!lock(&writers.queues).contains_key("A#2"));
    }

    #[tokio::test]
    async fn the_cache_outlives_the_queue_and_is_bounded() {
        let writers = Writers::with_cache(2);
        writers.remember("A#1", 1, &1u32);
        writers.remember("A#2", 1, &2u32);
        writers.remember("A#3", 1, &3u32);
        let cached = (1..=3)
            .filter(|n| {
                writers
                    .cache
                    .as_ref()
                    .is_some_and(|c| c.get(&format!("A#{n}")).is_some())
            })
            .count();
        assert!(cached <= 2, "{cached} entries in a cache of 2");
        writers.remember("A#3", 5, &30u32);
        writers.forget("A#1");
        let turn = writers.turn("A#3").await;
        assert_eq!(turn.latest::<u32>(), Some((5, 30)));
        drop(turn);
        writers.forget("A#3");
        assert_eq!(writers.turn("A#3").await.latest::<u32>(), None);
    }
}
