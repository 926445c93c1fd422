//! Stock split across bucket aggregates: the escrow method for a hot item.
//!
//! One aggregate takes one conditional write at a time, and DynamoDB caps one
//! partition key at 1,000 write units a second. An item that thousands of
//! buyers want at once (a flash sale) outruns both. The escrow method splits
//! the item's quantity into `K` bucket aggregates, each a guard of its own
//! share: a reservation takes from one bucket, so `K` buckets take `K` writes
//! at once, and no bucket can give more than it holds, so the whole never
//! oversells.
//!
//! [`Buckets`] is the pattern over any aggregate that implements [`Bucket`]:
//!
//! - [`Buckets::reserve`]: a reservation goes to one bucket: the writer's
//!   [`Home`] (where its last reservation was made, so that a writer that
//!   keeps winning a bucket keeps writing it without reading), else one
//!   picked from a key (a buyer id spreads buyers over the buckets) or at
//!   random; when that bucket is short, or another writer just took it, it
//!   waits a little, longer after each loss, and moves on to another at
//!   random. When no single bucket can serve the request, it reads every
//!   bucket at one instant and either takes the units from several of them in
//!   one atomic commit or, when all of them together hold too little, answers
//!   [`Bucket::sold_out`] with what they hold. So "sold out" is never said
//!   while the buckets together could serve the request.
//! - [`Buckets::rebalance`]: moves quota from one bucket to another in one
//!   atomic commit (a [`Transaction`](crate::Transaction)); the total is
//!   conserved.
//! - [`Buckets::restock`]: spreads new stock over the buckets, in one atomic
//!   commit.
//! - [`Buckets::stock`]: every bucket as it was at one instant, and the total.
//! - [`Buckets::take_in`]: a reservation inside a command across aggregates
//!   ([`crate::across`]), atomic with the rest of it: a cart's checkout of
//!   several items, some of them bucketed, say.
//!
//! The number of buckets, `K`, is per item and is the caller's to keep (in
//! configuration, or in an aggregate of its own). Every process must use the
//! same `K` for an item: a process that knows fewer buckets than hold stock
//! could call the item sold out while a bucket it does not know has some.
//! `K` may grow (new buckets start empty and receive stock by
//! [`Buckets::rebalance`] or [`Buckets::restock`]) once every process uses
//! the new `K`; it must not shrink while the buckets it drops hold stock.
//!
//! ```
//! # mod doc { include!("../doc/bucket.rs"); }
//! # use doc::*;
//! # use es::prelude::*;
//! use es::buckets::Buckets;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let sku = Buckets::<Shelf>::new("sku-1", 4)?;
//! sku.restock(&store, 10).await?;                       // 3, 3, 2, 2
//! let done = sku
//!     .reserve(&store, 5)
//!     .spread_by("alice")
//!     .execute(|shelf, units| shelf.take("alice", units))
//!     .await?;
//! assert_eq!(done.units(), 5);                           // from one bucket, or several at once
//! assert_eq!(sku.stock(&store).await?.available(), 5);
//! let refused = sku
//!     .reserve(&store, 6)
//!     .execute(|shelf, units| shelf.take("bob", units))
//!     .await
//!     .unwrap_err();
//! assert!(matches!(refused, Error::Rejected(Empty { available: 5, requested: 6 })));
//! # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;

use crate::aggregate::Aggregate;
use crate::command::Retry;
use crate::error::{Error, StoreError};
use crate::event::{IntoEvents, Metadata};
use crate::limits::{check_idempotency_key, stream_key};
use crate::root::{Root, Staged};
use crate::store::{Append, CommandRecord, Commit, Committed, EventStore};

/// The most buckets an item may have: a rebalance, a restock and a
/// reservation taken from several buckets are each one atomic commit, which
/// holds at most 100 items on DynamoDB (one is kept for an idempotency
/// record).
pub const MAX_BUCKETS: u32 = 99;

/// The default retry policy of [`Buckets`]: 16 attempts per bucket (a
/// reservation's budget is that many writes per bucket of the item), waits
/// that double from 2 ms, or from a lost write's own duration, up to 2 s.
///
/// The ceiling is higher than a command's (250 ms): a writer that lost a
/// bucket lost it to a writer that is likely to keep writing it, and every
/// try it makes while that writer does is a write wasted, billed and in
/// that writer's way. Waiting longer, the writers that are not making
/// progress stay out of the way of those that are; see the flash-sale
/// bench in `docs/BENCHMARKS.md`.
pub const DEFAULT_RETRY: Retry = Retry {
    max_attempts: 16,
    base_delay: Duration::from_millis(2),
    max_delay: Duration::from_secs(2),
};

/// An aggregate that holds one bucket of an item's stock.
///
/// Its handlers guard its own share, as any aggregate's do: a reservation
/// event that asks for more than the bucket holds must be refused by its
/// handler. [`Buckets`] relies on that for never overselling; it asks
/// [`Bucket::available`] only to choose where to reserve.
pub trait Bucket: Aggregate {
    /// The units a reservation may take from this bucket now.
    fn available(&self) -> u64;

    /// The refusal of a reservation of `requested` units when all the buckets
    /// together hold `available`: the same "sold out" the item gives
    /// unsplit.
    fn sold_out(available: u64, requested: u32) -> Self::Error;

    /// The event that adds `units` of new stock to this bucket.
    fn restock(&self, units: u32) -> Result<Self::Event, Self::Error>;

    /// The event that hands `units` of this bucket's stock to bucket `to` of
    /// the same item. Its handler must refuse more than the bucket holds.
    fn give(&self, units: u32, to: u32) -> Result<Self::Event, Self::Error>;

    /// The event that receives `units` from bucket `from` of the same item.
    fn receive(&self, units: u32, from: u32) -> Result<Self::Event, Self::Error>;
}

/// How long an idempotency record of a bucketed command is kept: 7 days,
/// as a command's is by default.
const KEPT_FOR_SECS: u64 = 7 * 24 * 3600;

/// What a command record wrote, for [`Error::KeyReused`].
fn describe(record: &CommandRecord) -> String {
    record
        .outcome
        .iter()
        .map(|(aggregate, id, _)| format!("{aggregate} {id:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A decision's events, as a list the command and the transaction take.
struct Events<A: Aggregate>(Vec<A::Event>);

impl<A: Aggregate> IntoEvents<A> for Events<A> {
    fn into_events(self) -> Vec<A::Event> {
        self.0
    }
}

/// One item's stock, split over `K` aggregates of type `A`: bucket `n` is the
/// aggregate `A` with id `"{item}/{n}"`, for `n` in `0..K`. See the
/// [module](self) for the method.
pub struct Buckets<A> {
    item: String,
    count: u32,
    retry: Retry,
    bucket_retry: Retry,
    _bucket: PhantomData<fn() -> A>,
}

impl<A> Clone for Buckets<A> {
    fn clone(&self) -> Self {
        Buckets {
            item: self.item.clone(),
            count: self.count,
            retry: self.retry,
            bucket_retry: self.bucket_retry,
            _bucket: PhantomData,
        }
    }
}

impl<A: Aggregate> std::fmt::Debug for Buckets<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets")
            .field("aggregate", &A::NAME)
            .field("item", &self.item)
            .field("count", &self.count)
            .finish()
    }
}

/// One part of a [`Reservation`]: what one bucket gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The bucket's number, from 0.
    pub bucket: u32,
    /// The units it gave; 0 when the reservation is a duplicate, whose
    /// record keeps only versions.
    pub units: u32,
    /// The bucket's version after the reservation.
    pub version: u64,
}

/// What [`Reserve::execute`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The buckets the units came from: one, unless no bucket alone held
    /// enough.
    pub parts: Vec<Part>,
    /// Conditional writes sent, the successful one included.
    pub attempts: u32,
    /// Whether an earlier run under the same idempotency key made this
    /// reservation, and nothing was written now.
    pub duplicate: bool,
}

impl Reservation {
    /// The units reserved, summed over the parts (0 for a duplicate).
    pub fn units(&self) -> u64 {
        self.parts.iter().map(|p| u64::from(p.units)).sum()
    }
}

/// Every bucket of an item, as they all were at one instant.
#[derive(Debug)]
pub struct Stock<A: Aggregate, S> {
    /// The buckets, by number.
    pub buckets: Vec<Root<A, S>>,
}

impl<A: Bucket, S: EventStore> Stock<A, S> {
    /// The units all the buckets together hold.
    pub fn available(&self) -> u64 {
        self.buckets
            .iter()
            .map(|b| b.available())
            .fold(0, u64::saturating_add)
    }
}

/// A stable 64-bit hash (FNV-1a): the same key picks the same bucket in
/// every process and every build.
fn fnv(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl<A: Bucket> Buckets<A> {
    /// The buckets of `item`, `count` of them (1 to [`MAX_BUCKETS`]).
    pub fn new(item: impl Into<String>, count: u32) -> Result<Self, Error> {
        let item = item.into();
        if !(1..=MAX_BUCKETS).contains(&count) {
            return Err(StoreError::permanent(
                "buckets",
                format!(
                    "{} {item:?}: {count} buckets; an item has 1 to {MAX_BUCKETS}",
                    A::NAME
                ),
            )
            .about(A::NAME, &item)
            .into());
        }
        crate::limits::check_id(A::NAME, &format!("{item}/{}", count - 1))?;
        Ok(Buckets {
            item,
            count,
            retry: DEFAULT_RETRY,
            bucket_retry: Retry::attempts(1),
            _bucket: PhantomData,
        })
    }

    /// Sets how often, and after what waits, a reservation, a rebalance and
    /// a restock try again after losing to other writers (default:
    /// [`DEFAULT_RETRY`]). A reservation makes up to `max_attempts` writes
    /// per bucket of the item.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how many writes a reservation makes on one bucket before it
    /// moves on to another (default 1: after a lost write it moves on,
    /// since the writer that won the bucket is likely to write it again).
    pub fn with_bucket_retry(mut self, retry: Retry) -> Self {
        self.bucket_retry = retry;
        self
    }

    /// The item's id.
    pub fn item(&self) -> &str {
        &self.item
    }

    /// How many buckets the item has.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The aggregate id of bucket `n`: `"{item}/{n}"`.
    pub fn id(&self, n: u32) -> String {
        format!("{}/{n}", self.item)
    }

    /// The bucket a key picks: the same in every process.
    pub fn bucket_of(&self, key: &str) -> u32 {
        // `count` is at least 1 and at most MAX_BUCKETS, so this fits.
        u32::try_from(fnv(key) % u64::from(self.count)).unwrap_or(0)
    }

    /// A reservation of `quantity` units, to run with [`Reserve::execute`].
    pub fn reserve<'s, S: EventStore>(&'s self, store: &'s S, quantity: u32) -> Reserve<'s, A, S> {
        Reserve {
            buckets: self,
            store,
            quantity,
            spread: None,
            home: None,
            key: None,
            metadata: None,
        }
    }

    /// Every bucket as they all were at one instant: each is read, then read
    /// again for anything written since, until a round finds nothing new.
    /// Each round is one consistent read per bucket, at once.
    ///
    /// Fails with a retryable [`Error::Store`] when writers kept changing the
    /// buckets for the retry policy's attempts.
    pub async fn stock<S: EventStore>(&self, store: &S) -> Result<Stock<A, S>, Error<A::Error>> {
        let loads = (0..self.count).map(|n| Root::<A, S>::load(store, self.id(n)));
        let mut buckets = try_join_all(loads).await?;
        for round in 1..=self.retry.max_attempts.max(1) {
            let caught_up = try_join_all(buckets.iter_mut().map(Root::hydrate)).await?;
            if caught_up.iter().all(|&n| n == 0) {
                return Ok(Stock { buckets });
            }
            tracing::debug!(round, item = %self.item, "buckets moved while read; reading again");
        }
        Err(StoreError::transient(
            "buckets",
            format!(
                "{} {:?}: the {} buckets kept changing while read, {} rounds; retry",
                A::NAME,
                self.item,
                self.count,
                self.retry.max_attempts
            ),
        )
        .about(A::NAME, &self.item)
        .into())
    }

    /// Moves `units` of stock from bucket `from` to bucket `to`, atomically:
    /// both events are written together or neither is, so the total is
    /// conserved. Refused by `from`'s handler when it holds too little.
    /// Retries conflicts, catching both buckets up.
    pub async fn rebalance<S: EventStore>(
        &self,
        store: &S,
        from: u32,
        to: u32,
        units: u32,
    ) -> Result<(), Error<A::Error>> {
        for n in [from, to] {
            self.check_bucket(n)?;
        }
        if from == to || units == 0 {
            return Ok(());
        }
        let mut giver = Root::<A, S>::load(store, self.id(from)).await?;
        let mut taker = Root::<A, S>::load(store, self.id(to)).await?;
        let mut attempt = 1;
        loop {
            let give = giver.give(units, to).map_err(Error::Rejected)?;
            let receive = taker.receive(units, from).map_err(Error::Rejected)?;
            let mut tx = crate::Transaction::new(store);
            tx.append(&mut giver, Events::<A>(vec![give]))?;
            tx.append(&mut taker, Events::<A>(vec![receive]))?;
            match tx.commit().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < self.retry.max_attempts => {
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                    attempt += 1;
                    giver.hydrate().await?;
                    taker.hydrate().await?;
                }
                Err(e) => return Err(e.widen()),
            }
        }
    }

    /// Adds `units` of new stock, spread evenly over the buckets (the first
    /// ones get one more when it does not divide), in one atomic commit.
    pub async fn restock<S: EventStore>(
        &self,
        store: &S,
        units: u32,
    ) -> Result<(), Error<A::Error>> {
        self.restock_with(store, units, None).await.map(drop)
    }

    /// [`Buckets::restock`] as an idempotent command: a second run with the
    /// same `key` writes nothing and returns `true` (a duplicate).
    pub async fn restock_once<S: EventStore>(
        &self,
        store: &S,
        units: u32,
        key: &str,
    ) -> Result<bool, Error<A::Error>> {
        check_idempotency_key(key).map_err(Error::widen)?;
        self.restock_with(store, units, Some(key)).await
    }

    async fn restock_with<S: EventStore>(
        &self,
        store: &S,
        units: u32,
        key: Option<&str>,
    ) -> Result<bool, Error<A::Error>> {
        let shares: Vec<(u32, u32)> = (0..self.count)
            .map(|n| {
                let share = units / self.count + u32::from(n < units % self.count);
                (n, share)
            })
            .filter(|&(_, share)| share > 0)
            .collect();
        if shares.is_empty() {
            // No units: the bucket's own handler says what that is.
            let root = Root::<A, S>::load(store, self.id(0)).await?;
            root.restock(0).map_err(Error::Rejected)?;
            return Ok(false);
        }
        let mut roots = try_join_all(
            shares
                .iter()
                .map(|&(n, _)| Root::<A, S>::load(store, self.id(n))),
        )
        .await?;
        let mut attempt = 1;
        loop {
            let mut appends = Vec::with_capacity(roots.len());
            let mut sealings = Vec::with_capacity(roots.len());
            let mut staged = Vec::with_capacity(roots.len());
            let mut outcome = Vec::with_capacity(roots.len());
            for (root, &(_, share)) in roots.iter().zip(&shares) {
                let event = root.restock(share).map_err(Error::Rejected)?;
                let Staged {
                    append,
                    next,
                    last,
                    sealing,
                } = root.stage(&[event])?;
                outcome.push((A::NAME.to_owned(), root.id().to_owned(), last));
                appends.push(append);
                sealings.push(sealing);
                staged.push((last, next));
            }
            let command = key.map(|key| CommandRecord {
                key: key.to_owned(),
                outcome,
                expires_at: crate::time::now_secs().saturating_add(KEPT_FOR_SECS),
            });
            let committed = crate::erasure::commit(
                store,
                Commit {
                    appends,
                    command,
                    exact_conflict: attempt >= self.retry.max_attempts,
                },
                &sealings,
            )
            .await;
            match committed {
                Ok(Committed::Written) => {
                    for (root, (last, next)) in roots.iter_mut().zip(staged) {
                        root.advance(last, next);
                    }
                    return Ok(false);
                }
                Ok(Committed::Duplicate(record)) => {
                    return match record
                        .outcome
                        .iter()
                        .all(|(a, id, _)| self.owns(a, id).is_some())
                    {
                        true => Ok(true),
                        false => Err(Error::KeyReused {
                            key: record.key.clone(),
                            aggregate: A::NAME,
                            id: self.item.clone(),
                            previous: describe(&record),
                        }),
                    };
                }
                Err(e)
                    if e.is_retryable()
                        && !e.is_indeterminate()
                        && attempt < self.retry.max_attempts =>
                {
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                    attempt += 1;
                    try_join_all(roots.iter_mut().map(Root::hydrate)).await?;
                }
                Err(e) => return Err(e.about(A::NAME, &self.item).widen()),
            }
        }
    }

    /// Takes `quantity` units inside a command across aggregates
    /// ([`crate::across`]), so that the reservation commits atomically with
    /// whatever else the decision appends (a cart's checkout of several
    /// lines, a cart's hold): `decide(bucket, units)` returns the events that
    /// take `units` from a bucket, as for [`Reserve::execute`].
    ///
    /// It asks for bucket `start` first ([`Buckets::bucket_of`] of a cart
    /// id, say) and takes everything there when it holds enough. Otherwise
    /// it asks for every bucket and takes from the fullest ones, several
    /// when no single one holds enough; the command commits them together,
    /// each on its version's condition, so what it took was there at one
    /// instant. When all the buckets together hold less than `quantity`,
    /// the answer is [`Bucket::sold_out`] with what they hold.
    ///
    /// A bucket not loaded yet is asked for, and the error returned must be
    /// returned by the decision (with `?`): the command loads it and runs
    /// the decision again, as for [`crate::Decision::state`].
    ///
    /// A "sold out" decided here rests on buckets loaded one after another;
    /// the command checks the ones it kept in its cache against the store,
    /// but a bucket loaded early may have received stock from a
    /// [`Buckets::rebalance`] by the time a later one was read. A caller
    /// that must never say "sold out" falsely confirms it with
    /// [`Buckets::stock`], which reads every bucket at one instant, and runs
    /// the command again when they hold enough.
    ///
    /// Returns the parts taken: bucket and units.
    pub fn take_in<S, F, R>(
        &self,
        d: &mut crate::Decision<'_, S>,
        start: u32,
        quantity: u32,
        mut decide: F,
    ) -> Result<Vec<(u32, u32)>, Error<A::Error>>
    where
        S: EventStore,
        F: FnMut(&A, u32) -> Result<R, A::Error>,
        R: IntoEvents<A>,
    {
        self.check_bucket(start)?;
        let first = self.id(start);
        let bucket = d.state::<A>(&first).map_err(Error::widen)?;
        if bucket.available() >= u64::from(quantity) {
            let events = decide(bucket, quantity).map_err(Error::Rejected)?;
            d.append::<A>(&first, events)?;
            return Ok(vec![(start, quantity)]);
        }
        let held = self.read_in(d, Bucket::available).map_err(Error::widen)?;
        let parts = split(held, quantity)
            .map_err(|available| Error::Rejected(A::sold_out(available, quantity)))?;
        for &(n, take) in &parts {
            let id = self.id(n);
            let events =
                decide(d.state::<A>(&id).map_err(Error::widen)?, take).map_err(Error::Rejected)?;
            d.append::<A>(&id, events)?;
        }
        Ok(parts)
    }

    /// `read(bucket)` of every bucket, by number, inside a command across
    /// aggregates ([`crate::across`]): what a decision needs of all of them,
    /// such as what each holds for a cart. Every bucket is asked for before
    /// an error is returned, so that the command loads all the missing ones
    /// in one go; the error must be returned by the decision (with `?`), as
    /// for [`crate::Decision::state`].
    pub fn read_in<S, T>(
        &self,
        d: &mut crate::Decision<'_, S>,
        mut read: impl FnMut(&A) -> T,
    ) -> Result<Vec<(u32, T)>, Error>
    where
        S: EventStore,
    {
        let mut out = Vec::with_capacity(self.count as usize);
        let mut missing = None;
        for n in 0..self.count {
            match d.state::<A>(&self.id(n)) {
                Ok(bucket) => out.push((n, read(bucket))),
                Err(e) => missing = Some(e),
            }
        }
        match missing {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn check_bucket(&self, n: u32) -> Result<(), Error<A::Error>> {
        if n < self.count {
            return Ok(());
        }
        Err(StoreError::permanent(
            "buckets",
            format!(
                "{} {:?}: no bucket {n}; the item has buckets 0 to {}",
                A::NAME,
                self.item,
                self.count - 1
            ),
        )
        .about(A::NAME, &self.item)
        .into())
    }

    /// Whether `aggregate` and `id` name one of these buckets.
    fn owns(&self, aggregate: &str, id: &str) -> Option<u32> {
        if aggregate != A::NAME {
            return None;
        }
        let n: u32 = id
            .strip_prefix(&self.item)?
            .strip_prefix('/')?
            .parse()
            .ok()?;
        (n < self.count && self.id(n) == id).then_some(n)
    }
}

/// How `quantity` units come from buckets holding `held` (bucket number,
/// units): from the fullest first, so in the fewest parts, as (bucket
/// number, units). What they hold together when that is too little.
fn split(mut held: Vec<(u32, u64)>, quantity: u32) -> Result<Vec<(u32, u32)>, u64> {
    let available = held.iter().map(|&(_, h)| h).fold(0, u64::saturating_add);
    if available < u64::from(quantity) {
        return Err(available);
    }
    held.sort_by_key(|&(n, h)| (std::cmp::Reverse(h), n));
    let mut left = quantity;
    let mut parts = Vec::new();
    for (n, has) in held {
        if left == 0 {
            break;
        }
        let take = u32::try_from(has).unwrap_or(u32::MAX).min(left);
        if take > 0 {
            parts.push((n, take));
            left -= take;
        }
    }
    Ok(parts)
}

/// Where one writer last reserved on an item: its next reservation starts
/// at that bucket.
///
/// A writer that has just written a bucket holds its latest state (in its
/// store's cache), so its next write there succeeds unless another writer
/// wrote in between; a writer that lost a bucket moves on to another one,
/// after a wait. Writers that keep a `Home` therefore settle on buckets of
/// their own while there are enough of them, and crowd one bucket less when
/// there are not. Keep one per writer and item (per process, say: a Lambda
/// container), and hand it to each [`Reserve`] with [`Reserve::home`]; it
/// is cheap to clone, and clones share the bucket.
#[derive(Clone, Debug)]
pub struct Home(Arc<AtomicU32>);

impl Default for Home {
    fn default() -> Self {
        Home(Arc::new(AtomicU32::new(NO_HOME)))
    }
}

/// The value of a [`Home`] that has no bucket yet.
const NO_HOME: u32 = u32::MAX;

impl Home {
    /// A home with no bucket yet: the first reservation starts where
    /// [`Reserve::spread_by`] or chance puts it.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bucket the next reservation starts at, if any.
    pub fn bucket(&self) -> Option<u32> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&n| n != NO_HOME)
    }

    fn set(&self, n: u32) {
        self.0.store(n, Ordering::Relaxed);
    }
}

/// A reservation on an item's [`Buckets`], built by [`Buckets::reserve`].
#[must_use = "a reservation does nothing until `execute` is called"]
pub struct Reserve<'s, A, S> {
    buckets: &'s Buckets<A>,
    store: &'s S,
    quantity: u32,
    spread: Option<String>,
    home: Option<Home>,
    key: Option<String>,
    metadata: Option<Metadata>,
}

/// How one try on one bucket went.
enum Try {
    /// Reserved, now or by the key's earlier run.
    Done(Reservation),
    /// The bucket holds too little, as this process last knew it.
    Short,
    /// Another writer wrote the bucket first, or the store asked to wait:
    /// with how long the failed write took, the unit of the wait before
    /// the next try.
    Lost(Duration),
}

impl<'s, A: Bucket, S: EventStore> Reserve<'s, A, S> {
    /// Starts at the bucket `key` picks ([`Buckets::bucket_of`]), a buyer's
    /// id say, rather than at a random one. A [`Reserve::home`] with a
    /// bucket comes first.
    pub fn spread_by(mut self, key: impl Into<String>) -> Self {
        self.spread = Some(key.into());
        self
    }

    /// Starts at `home`'s bucket, and leaves `home` at the bucket the
    /// reservation was made in (the first, when several gave units). See
    /// [`Home`].
    pub fn home(mut self, home: &Home) -> Self {
        self.home = Some(home.clone());
        self
    }

    /// Makes the reservation idempotent: a second run with the same key
    /// writes nothing and returns the first run's buckets and versions, with
    /// `duplicate: true`, even when the stock it took is gone now.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Stores `metadata` with the events the reservation writes.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Reserves: `decide(bucket, units)` returns the events that take `units`
    /// from a bucket that holds at least that many, and is run on each bucket
    /// the reservation writes to. A rejection from it is returned at once.
    ///
    /// One bucket at a time: the [`Reserve::home`]'s, else the one
    /// [`Reserve::spread_by`] picks, else one at random. Each try is one
    /// conditional write, from the state this process keeps of the bucket
    /// (its store's cache) when it has one, so that a writer that wrote
    /// the bucket last writes again without reading. A write that loses to
    /// another writer moves the reservation on to another bucket at random,
    /// after a jittered wait that doubles with each loss in this
    /// reservation: from up to the lost write's own duration, capped at
    /// the retry policy's `max_delay`. (With
    /// [`Buckets::with_bucket_retry`] above 1, it writes that bucket again,
    /// caught up, before it moves on.) A bucket that holds too little, as
    /// this process last saw it, is passed over without a request.
    ///
    /// When every bucket looks short, the buckets are read as they were at
    /// one instant ([`Buckets::stock`]): if they together hold less than
    /// `quantity` the answer is [`Bucket::sold_out`] with what they hold;
    /// otherwise the units are taken from the fullest buckets in one atomic
    /// commit. A reservation makes at most the retry policy's
    /// `max_attempts` writes per bucket of the item before it gives up with
    /// a retryable error.
    pub async fn execute<F, R>(self, mut decide: F) -> Result<Reservation, Error<A::Error>>
    where
        F: FnMut(&A, u32) -> Result<R, A::Error>,
        R: IntoEvents<A>,
    {
        if let Some(key) = &self.key {
            check_idempotency_key(key).map_err(Error::widen)?;
        }
        let buckets = self.buckets;
        let count = buckets.count;
        let mut at = match (self.home.as_ref().and_then(Home::bucket), &self.spread) {
            (Some(n), _) if n < count => n,
            (_, Some(key)) => buckets.bucket_of(key),
            _ => fastrand::u32(0..count),
        };
        let budget = buckets.retry.max_attempts.max(1).saturating_mul(count);
        let per_bucket = buckets.bucket_retry.max_attempts.max(1);
        // Buckets this reservation found short, by number.
        let mut short = vec![false; count as usize];
        let mut attempts = 0;
        let mut losses = 0u32;
        let mut here = 0;
        // Every step writes, reads every bucket, or passes one over; the
        // bound on steps only guards against a store that never settles.
        for _ in 0..budget.saturating_mul(4).max(16) {
            if attempts >= budget {
                break;
            }
            let tried = self.on_bucket(at, &mut decide, &mut attempts).await?;
            match tried {
                Try::Done(reservation) => return Ok(self.made(reservation)),
                Try::Short => {
                    short[at as usize] = true;
                    here = 0;
                }
                Try::Lost(took) => {
                    losses += 1;
                    here += 1;
                    // The retry policy's backoff, from the lost write's
                    // own duration when that is longer than its base.
                    let backoff = Retry {
                        base_delay: took.max(buckets.retry.base_delay),
                        ..buckets.retry
                    };
                    tokio::time::sleep(backoff.delay(losses.saturating_add(1))).await;
                    if here < per_bucket {
                        continue;
                    }
                    here = 0;
                }
            }
            // Another bucket, at random among those not found short, so
            // that writers who lost one bucket together do not all move to
            // the same next one.
            let open: Vec<u32> = (0..count)
                .filter(|&n| n != at && !short[n as usize])
                .collect();
            if !open.is_empty() {
                at = open[fastrand::usize(..open.len())];
                continue;
            }
            if !short[at as usize] {
                // The only bucket not found short is this one: again.
                continue;
            }
            // Every bucket looked short: read them all at one instant.
            match self.gather(&mut decide, &mut attempts).await? {
                Some(reservation) => return Ok(self.made(reservation)),
                // Stock landed in a bucket, or the gathering write lost:
                // look at every bucket again.
                None => {
                    short.iter_mut().for_each(|s| *s = false);
                    at = fastrand::u32(0..count);
                }
            }
        }
        Err(StoreError::transient(
            "reserve",
            format!(
                "{} {:?}: other writers won every bucket ({attempts} attempts); retry",
                A::NAME,
                buckets.item
            ),
        )
        .about(A::NAME, &buckets.item)
        .into())
    }

    /// `reservation`, once made: the [`Reserve::home`] moves to its
    /// (first) bucket.
    fn made(&self, reservation: Reservation) -> Reservation {
        if let (Some(home), Some(part)) = (&self.home, reservation.parts.first()) {
            home.set(part.bucket);
        }
        reservation
    }

    /// One conditional write on bucket `n`, from the state this process
    /// keeps of it when it has one; nothing when that state is short.
    async fn on_bucket<F, R>(
        &self,
        n: u32,
        decide: &mut F,
        attempts: &mut u32,
    ) -> Result<Try, Error<A::Error>>
    where
        F: FnMut(&A, u32) -> Result<R, A::Error>,
        R: IntoEvents<A>,
    {
        let quantity = self.quantity;
        let id = self.buckets.id(n);
        let stream = stream_key(A::NAME, &id);
        // This process's writes on the bucket take turns, each from the
        // state the one before left.
        let turn = self.store.writers().turn(&stream).await;
        let (mut root, mut read) =
            Root::<A, S>::for_turn(self.store, id.clone(), None, &turn).await?;
        if let Some(metadata) = &self.metadata {
            root = root.with_metadata(metadata.clone());
        }
        let events = loop {
            if root.available() < u64::from(quantity) {
                // A kept state's "short" is only a hint: before "sold out",
                // every bucket is read at one instant.
                if read {
                    root.remember();
                }
                return Ok(Try::Short);
            }
            match decide(root.state(), quantity) {
                Ok(events) => break events.into_events(),
                // A refusal stands only on the latest state.
                Err(_) if !read => {
                    read = true;
                    root.hydrate().await?;
                }
                Err(rejection) => return Err(Error::Rejected(rejection)),
            }
        };
        if events.is_empty() {
            // The decision took nothing from a bucket that holds enough.
            return Ok(Try::Done(Reservation {
                parts: vec![Part {
                    bucket: n,
                    units: quantity,
                    version: root.version(),
                }],
                attempts: *attempts,
                duplicate: false,
            }));
        }
        let Staged {
            append,
            next,
            last,
            sealing,
        } = root.stage(&events)?;
        let command = self.key.as_ref().map(|key| CommandRecord {
            key: key.clone(),
            outcome: vec![(A::NAME.to_owned(), id.clone(), last)],
            expires_at: crate::time::now_secs().saturating_add(KEPT_FOR_SECS),
        });
        *attempts += 1;
        let began = Instant::now();
        let written = crate::erasure::commit(
            self.store,
            Commit {
                appends: vec![append],
                command,
                // The version now is not needed: the next try is elsewhere,
                // or reads what it missed first. Saves a Query.
                exact_conflict: false,
            },
            &[sealing],
        )
        .await;
        match written {
            Ok(Committed::Written) => {
                root.advance(last, next);
                Ok(Try::Done(Reservation {
                    parts: vec![Part {
                        bucket: n,
                        units: quantity,
                        version: last,
                    }],
                    attempts: *attempts,
                    duplicate: false,
                }))
            }
            Ok(Committed::Duplicate(record)) => match self.as_duplicate(&record) {
                Some(mut reservation) => {
                    reservation.attempts = *attempts;
                    Ok(Try::Done(reservation))
                }
                None => Err(self.key_reused(record.key.clone(), Some(&record))),
            },
            // Lost to another writer, or the store asked to wait: what this
            // process kept of the bucket is behind, so the next try on it
            // reads first. A write that may have landed is tried again only
            // with a key, whose record then answers.
            Err(e) if e.is_retryable() && (!e.is_indeterminate() || self.key.is_some()) => {
                self.store.writers().forget(&stream);
                tracing::debug!(bucket = n, error = %e, "lost a bucket; moving on");
                Ok(Try::Lost(began.elapsed()))
            }
            Err(e) => {
                self.store.writers().forget(&stream);
                Err(e.about(A::NAME, &self.buckets.item).widen())
            }
        }
    }

    fn key_reused(&self, key: String, record: Option<&CommandRecord>) -> Error<A::Error> {
        let previous = record
            .map(describe)
            .unwrap_or_else(|| "a command whose record has expired".to_owned());
        Error::KeyReused {
            key,
            aggregate: A::NAME,
            id: self.buckets.item.clone(),
            previous,
        }
    }

    /// A reservation from a command record, when every aggregate it wrote is
    /// one of these buckets.
    fn as_duplicate(&self, record: &CommandRecord) -> Option<Reservation> {
        let parts = record
            .outcome
            .iter()
            .map(|(aggregate, id, version)| {
                self.buckets.owns(aggregate, id).map(|bucket| Part {
                    bucket,
                    units: 0,
                    version: *version,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        (!parts.is_empty()).then_some(Reservation {
            parts,
            attempts: 0,
            duplicate: true,
        })
    }

    /// No bucket alone held enough: read them all at one instant, and take
    /// the units from several at once, or answer sold out. `None` when other
    /// writers won and the round should go again.
    async fn gather<F, R>(
        &self,
        decide: &mut F,
        attempts: &mut u32,
    ) -> Result<Option<Reservation>, Error<A::Error>>
    where
        F: FnMut(&A, u32) -> Result<R, A::Error>,
        R: IntoEvents<A>,
    {
        let buckets = self.buckets;
        let quantity = self.quantity;
        if let Some(earlier) = self.earlier_record().await? {
            return Ok(Some(earlier));
        }
        let mut stock = buckets.stock(self.store).await?;
        let held = (0..).zip(stock.buckets.iter().map(|b| b.available()));
        let takes = split(held.collect(), quantity)
            .map_err(|available| Error::Rejected(A::sold_out(available, quantity)))?;
        if takes.len() == 1 {
            // Stock landed in one bucket since it was passed over: reserve
            // there as usual, in the next round.
            return Ok(None);
        }
        let mut appends: Vec<Append<S::Payload>> = Vec::with_capacity(takes.len());
        let mut sealings = Vec::with_capacity(takes.len());
        let mut advances: Vec<(u32, u64, A)> = Vec::with_capacity(takes.len());
        let mut outcome = Vec::with_capacity(takes.len());
        for &(n, take) in &takes {
            let root = &mut stock.buckets[n as usize];
            if let Some(metadata) = &self.metadata {
                *root = root.clone().with_metadata(metadata.clone());
            }
            let events = decide(root.state(), take)
                .map_err(Error::Rejected)?
                .into_events();
            let Staged {
                append,
                next,
                last,
                sealing,
            } = root.stage(&events)?;
            outcome.push((A::NAME.to_owned(), root.id().to_owned(), last));
            appends.push(append);
            sealings.push(sealing);
            advances.push((n, last, next));
        }
        let command = self.key.as_ref().map(|key| CommandRecord {
            key: key.clone(),
            outcome,
            expires_at: crate::time::now_secs().saturating_add(KEPT_FOR_SECS),
        });
        *attempts += 1;
        match crate::erasure::commit(
            self.store,
            Commit {
                appends,
                command,
                exact_conflict: false,
            },
            &sealings,
        )
        .await
        {
            Ok(Committed::Written) => {
                let parts = advances
                    .into_iter()
                    .zip(&takes)
                    .map(|((n, last, next), &(_, take))| {
                        stock.buckets[n as usize].advance(last, next);
                        Part {
                            bucket: n,
                            units: take,
                            version: last,
                        }
                    })
                    .collect();
                Ok(Some(Reservation {
                    parts,
                    attempts: *attempts,
                    duplicate: false,
                }))
            }
            Ok(Committed::Duplicate(record)) => match self.as_duplicate(&record) {
                Some(mut reservation) => {
                    reservation.attempts = *attempts;
                    Ok(Some(reservation))
                }
                None => Err(self.key_reused(record.key.clone(), Some(&record))),
            },
            Err(e) if e.is_retryable() && !e.is_indeterminate() => Ok(None),
            Err(e) => Err(e.about(A::NAME, &buckets.item).widen()),
        }
    }

    /// The earlier run of this reservation's key, if it has one and ran here.
    async fn earlier_record(&self) -> Result<Option<Reservation>, Error<A::Error>> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let record = self.store.command(key).await.map_err(Error::widen)?;
        Ok(record.and_then(|r| self.as_duplicate(&r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_picks_the_same_bucket_every_time_and_keys_spread() {
        let hits =
            (0..8_000)
                .map(|n| fnv(&format!("buyer-{n}")) % 8)
                .fold([0u32; 8], |mut hits, b| {
                    hits[b as usize] += 1;
                    hits
                });
        assert_eq!(fnv("buyer-1"), fnv("buyer-1"));
        assert!(hits.iter().all(|&h| (800..1_200).contains(&h)), "{hits:?}");
    }
}
