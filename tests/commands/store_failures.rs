//! Checkout and commands against the store failures that DynamoDB produces
//! and `MemoryStore` never does: a cancelled transaction, a timeout after the
//! write landed (an indeterminate outcome), a permanent refusal, a read that
//! fails after a failed write.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use es::store::{CommandRecord, Commit, Committed, Cursor, Page, ReadRequest, StoredEvent};

use super::*;

/// How [`Flaky`] fails a transaction.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// Cancelled before writing, retryably: DynamoDB's `TransactionConflict`
    /// when concurrent transactions touch the same items, or throttling.
    Cancelled,
    /// Written, then reported as a retryable failure: a timeout after
    /// DynamoDB committed.
    CommittedThenTimedOut,
    /// Refused, for good: a missing table or denied access.
    Denied,
}

/// A `MemoryStore` whose next transactions (commits to several aggregates)
/// fail as listed, to test how checkout handles store failures that
/// `MemoryStore` itself never produces.
#[derive(Clone)]
struct Flaky {
    inner: es::MemoryStore,
    failures: Arc<Mutex<VecDeque<Failure>>>,
    transactions: Arc<AtomicU32>,
}

impl Flaky {
    fn new(failures: impl IntoIterator<Item = Failure>) -> Self {
        Flaky {
            inner: es::MemoryStore::new(),
            failures: Arc::new(Mutex::new(failures.into_iter().collect())),
            transactions: Default::default(),
        }
    }

    /// How many transactions were sent, failed or not.
    fn transactions(&self) -> u32 {
        self.transactions.load(Ordering::SeqCst)
    }
}

/// The methods of a fault-injecting store that go straight to its `inner`
/// `MemoryStore`: each store here fails only reads or commits.
macro_rules! passed_through {
    (encode, decode) => {
        fn encode<T: serde::Serialize + ?Sized>(
            &self,
            value: &T,
        ) -> Result<Self::Payload, es::store::CodecError> {
            self.inner.encode(value)
        }

        fn decode<T, V>(&self, seed: T, payload: Self::Payload) -> Result<V, es::store::CodecError>
        where
            T: for<'de> serde::de::DeserializeSeed<'de, Value = V>,
        {
            self.inner.decode(seed, payload)
        }
    };
    (list_ids, command, stats, writers) => {
        async fn list_ids(
            &self,
            aggregate: &'static str,
            limit: Option<usize>,
            cursor: Option<Cursor>,
        ) -> Result<Page<String>, Error> {
            self.inner.list_ids(aggregate, limit, cursor).await
        }

        async fn command(&self, key: &str) -> Result<Option<CommandRecord>, Error> {
            self.inner.command(key).await
        }

        fn stats(&self) -> &es::Stats {
            self.inner.stats()
        }

        fn writers(&self) -> &std::sync::Arc<es::store::Writers> {
            self.inner.writers()
        }

        fn vault(&self) -> Option<&es::erasure::Vault> {
            self.inner.vault()
        }
    };
}

impl EventStore for Flaky {
    type Payload = <es::MemoryStore as EventStore>::Payload;

    passed_through!(encode, decode);

    async fn read(
        &self,
        request: ReadRequest<'_>,
    ) -> Result<Page<StoredEvent<Self::Payload>>, Error> {
        self.inner.read(request).await
    }

    async fn commit(&self, commit: Commit<Self::Payload>) -> Result<Committed, Error> {
        if commit.appends.len() < 2 {
            return self.inner.commit(commit).await;
        }
        self.transactions.fetch_add(1, Ordering::SeqCst);
        let failure = self.failures.lock().expect("lock").pop_front();
        let transient = |message| es::StoreError::transient("TransactWriteItems", message);
        match failure {
            None => self.inner.commit(commit).await,
            Some(Failure::Cancelled) => Err(transient("cancelled: TransactionConflict").into()),
            Some(Failure::CommittedThenTimedOut) => {
                self.inner.commit(commit).await?;
                Err(es::StoreError::indeterminate("TransactWriteItems", "timed out").into())
            }
            Some(Failure::Denied) => {
                Err(es::StoreError::permanent("TransactWriteItems", "access denied").into())
            }
        }
    }

    passed_through!(list_ids, command, stats, writers);
}

/// Products a (5 on hand) and b (5), and an open cart of 2 a and 1 b.
async fn cart_of_two_lines<S: EventStore>(store: &S) {
    restocked(store, "a", 5).await;
    restocked(store, "b", 5).await;
    cart_of(store, [("a", 2), ("b", 1)]).await;
}

/// The (on hand, version) of a and b, and the cart's (checked out, version).
type CheckoutState = ((u32, u64), (u32, u64), (bool, u64));

/// [`cart_of_two_lines`] untouched: nothing reserved, the cart open.
const NOT_CHECKED_OUT: CheckoutState = ((5, 1), (5, 1), (false, 2));

/// After one checkout of [`cart_of_two_lines`]: every line reserved once, the
/// cart checked out.
const CHECKED_OUT_ONCE: CheckoutState = ((3, 2), (4, 2), (true, 3));

async fn checkout_state<S: EventStore>(store: &S) -> CheckoutState {
    let a = Product::get(store, "a").await.expect("load");
    let b = Product::get(store, "b").await.expect("load");
    let cart = Cart::get(store, "cart").await.expect("load");
    (
        (a.on_hand, a.version()),
        (b.on_hand, b.version()),
        (cart.checked_out, cart.version()),
    )
}

/// Checks out [`cart_of_two_lines`], in up to 3 attempts, on a store whose
/// transactions fail as listed. Returns the store, the checkout's result and
/// what the checkout alone cost.
async fn checkout_on_flaky(
    failures: impl IntoIterator<Item = Failure>,
) -> (Flaky, Result<u32, CheckoutError>, StatsSnapshot) {
    let store = Flaky::new(failures);
    cart_of_two_lines(&store).await;
    let before = store.stats().snapshot();
    let result = checkout(
        &store,
        "cart",
        &Shipping::example("cust-1"),
        es::Retry::attempts(3),
    )
    .await;
    let cost = cost(&store, before);
    (store, result, cost)
}

/// The store's own failure that a checkout returned, after checking that the
/// checkout wrote nothing.
async fn store_failure(store: &Flaky, result: Result<u32, CheckoutError>) -> es::StoreError {
    let err = result.expect_err("the store failed the checkout");
    let CheckoutError::Store(Error::Store(e)) = err else {
        panic!("expected the store's failure, got {err:?}");
    };
    assert_eq!(e.operation(), "TransactWriteItems", "{e}");
    assert_eq!(
        checkout_state(store).await,
        NOT_CHECKED_OUT,
        "nothing was written"
    );
    e
}

#[tokio::test]
async fn checkout_retries_a_cancelled_transaction() {
    let (store, result, cost) = checkout_on_flaky([Failure::Cancelled]).await;
    assert_eq!(result.expect("checkout"), 2);
    // The first attempt loads the cart (2 events) and both products (1 each);
    // the retry catches each of them up with one read of nothing new, never
    // a reload.
    assert_eq!((cost.reads, cost.items_read), (3 + 3, 4));
    assert_eq!(store.transactions(), 2, "the cancelled one and the retry");
    assert_eq!(
        checkout_state(&store).await,
        CHECKED_OUT_ONCE,
        "every line reserved once, the cart checked out"
    );
}

#[tokio::test]
async fn checkout_retries_are_bounded() {
    let (store, result, _) = checkout_on_flaky([Failure::Cancelled; 3]).await;
    let e = store_failure(&store, result).await;
    assert!(
        e.is_retryable() && e.to_string().contains("TransactionConflict"),
        "the last attempt's retryable failure is returned: {e}"
    );
    assert_eq!(
        store.transactions(),
        3,
        "three cancellations in three attempts"
    );
}

#[tokio::test]
async fn checkout_that_landed_before_a_timeout_is_not_applied_twice() {
    let (store, result, _) = checkout_on_flaky([Failure::CommittedThenTimedOut]).await;
    // The checkout carries a key of its own call: after the write that
    // timed out, the retry catches up, finds the cart checked out, and the
    // key's record says this call did it.
    assert_eq!(result.expect("checkout"), 2, "the first attempt landed");
    assert_eq!(store.transactions(), 1, "and nothing was sent again");
    assert_eq!(
        checkout_state(&store).await,
        CHECKED_OUT_ONCE,
        "every line reserved once"
    );
}

#[tokio::test]
async fn checkout_does_not_retry_a_permanent_failure() {
    let (store, result, _) = checkout_on_flaky([Failure::Denied]).await;
    let e = store_failure(&store, result).await;
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(store.transactions(), 1, "no retry");
}

/// A `MemoryStore` whose single-aggregate commits fail as listed, and whose
/// reads fail once a failure says so: for what `execute` does with writes
/// whose outcome is unknown.
#[derive(Clone)]
struct Unsure {
    inner: es::MemoryStore,
    failures: Arc<Mutex<VecDeque<WriteFailure>>>,
    commits: Arc<AtomicU32>,
    reads_fail: Arc<AtomicBool>,
}

/// How [`Unsure`] fails a commit.
#[derive(Clone, Copy, Debug)]
enum WriteFailure {
    /// Written, then reported as indeterminate: a timeout after DynamoDB
    /// applied the write.
    LandedUnanswered,
    /// As `LandedUnanswered`, and every read from then on fails too, as
    /// when DynamoDB went away right after the write.
    LandedThenGone,
    /// Not written, and reported as throttled, retryably; every read from
    /// then on fails.
    ThrottledThenGone,
}

impl Unsure {
    fn new(failures: impl IntoIterator<Item = WriteFailure>) -> Self {
        Unsure {
            inner: es::MemoryStore::new(),
            failures: Arc::new(Mutex::new(failures.into_iter().collect())),
            commits: Default::default(),
            reads_fail: Default::default(),
        }
    }

    /// How many commits were sent, failed or not.
    fn commits(&self) -> u32 {
        self.commits.load(Ordering::SeqCst)
    }

    /// The product as the store holds it, read past the failing reads.
    async fn product(&self, sku: &str) -> Root<Product, es::MemoryStore> {
        Product::get(&self.inner, sku).await.expect("load")
    }
}

impl EventStore for Unsure {
    type Payload = <es::MemoryStore as EventStore>::Payload;

    passed_through!(encode, decode);

    async fn read(
        &self,
        request: ReadRequest<'_>,
    ) -> Result<Page<StoredEvent<Self::Payload>>, Error> {
        if self.reads_fail.load(Ordering::SeqCst) {
            return Err(es::StoreError::transient("Query", "the request timed out").into());
        }
        self.inner.read(request).await
    }

    async fn commit(&self, commit: Commit<Self::Payload>) -> Result<Committed, Error> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        let failure = self.failures.lock().expect("lock").pop_front();
        let unanswered = || es::StoreError::indeterminate("PutItem", "the request timed out");
        match failure {
            None => self.inner.commit(commit).await,
            Some(WriteFailure::LandedUnanswered) => {
                self.inner.commit(commit).await?;
                Err(unanswered().into())
            }
            Some(WriteFailure::LandedThenGone) => {
                self.inner.commit(commit).await?;
                self.reads_fail.store(true, Ordering::SeqCst);
                Err(unanswered().into())
            }
            Some(WriteFailure::ThrottledThenGone) => {
                self.reads_fail.store(true, Ordering::SeqCst);
                Err(es::StoreError::transient("PutItem", "ThrottlingException").into())
            }
        }
    }

    passed_through!(list_ids, command, stats, writers);
}

/// A store holding product "tea" with 5 on hand, at version 1, whose next
/// commits fail as listed.
async fn tea_on(failures: impl IntoIterator<Item = WriteFailure>) -> Unsure {
    let store = Unsure::new(failures);
    restocked(&store.inner, "tea", 5).await;
    store
}

/// The store failure in `err`, after checking that it names the write.
fn unsure_write(err: Error<ProductError>) -> es::StoreError {
    let Error::Store(e) = err else {
        panic!("expected the write's store failure, got {err:?}");
    };
    assert_eq!(e.operation(), "PutItem", "{e}");
    assert_eq!(
        (e.aggregate(), e.id(), e.versions()),
        (Some("Product"), Some("tea"), Some((2, 2))),
        "it names the aggregate, id and version it tried to write: {e}"
    );
    e
}

#[tokio::test]
async fn an_indeterminate_write_is_not_retried_without_a_key() {
    let store = tea_on([WriteFailure::LandedUnanswered]).await;
    let err = Product::execute(&store, "tea", |p| p.reserve("cart-a", 1))
        .await
        .expect_err("the write's outcome is unknown");
    assert!(err.is_indeterminate() && err.is_retryable(), "{err}");
    let e = unsure_write(err);
    assert!(e.to_string().contains("may or may not have landed"), "{e}");
    assert_eq!(store.commits(), 1, "no second decision, no second write");
    let tea = store.product("tea").await;
    assert_eq!(
        (tea.version(), tea.on_hand, tea.reserved.get("cart-a")),
        (2, 4, Some(&1)),
        "the write that landed is there, once"
    );
}

#[tokio::test]
async fn an_indeterminate_write_with_a_key_is_retried_and_answers_with_the_first_run() {
    let store = tea_on([WriteFailure::LandedUnanswered]).await;
    let done = Product::command(&store, "tea")
        .idempotency_key("order-1")
        .execute(|p| p.reserve("cart-a", 1))
        .await
        .expect("the retry finds the first run");
    assert_eq!(
        (done.version, done.duplicate, done.attempts),
        (2, true, 2),
        "the first run's version, as a duplicate, on the second attempt"
    );
    assert_eq!(store.commits(), 2, "the retry was sent, and wrote nothing");
    let tea = store.product("tea").await;
    assert_eq!((tea.version(), tea.on_hand), (2, 4), "applied once");
    assert_eq!(done.root.version(), 2, "the handle is caught up");
}

#[tokio::test]
async fn an_indeterminate_write_is_not_hidden_by_a_failed_catch_up() {
    let store = tea_on([WriteFailure::LandedThenGone]).await;
    let err = Product::command(&store, "tea")
        .idempotency_key("order-1")
        .execute(|p| p.reserve("cart-a", 1))
        .await
        .expect_err("the store went away");
    assert!(
        err.is_indeterminate(),
        "the write's error, not the read's: {err}"
    );
    let e = unsure_write(err);
    let text = e.to_string();
    assert!(
        text.contains("may or may not have landed")
            && text.contains("catching up failed")
            && text.contains("Query"),
        "it tells of the read's failure too: {text}"
    );
    assert_eq!(store.commits(), 1);
}

#[tokio::test]
async fn a_failed_write_is_not_hidden_by_a_failed_catch_up() {
    let store = tea_on([WriteFailure::ThrottledThenGone]).await;
    let err = Product::execute(&store, "tea", |p| p.reserve("cart-a", 1))
        .await
        .expect_err("the store went away");
    assert!(
        err.is_retryable() && !err.is_indeterminate(),
        "a throttled write did not land: {err}"
    );
    let e = unsure_write(err);
    let text = e.to_string();
    assert!(
        text.contains("ThrottlingException") && text.contains("catching up failed"),
        "the write's error, telling of the read's: {text}"
    );
    let tea = store.product("tea").await;
    assert_eq!((tea.version(), tea.on_hand), (1, 5), "nothing written");
}
