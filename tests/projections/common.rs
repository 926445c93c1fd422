//! Shared by the projection tests: a shopping workload, a projection that
//! counts deliveries, and the table's stream read as Lambda would get it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use es::dynamo::batch::StreamRecord;
use es::dynamo::DynamoStore;
use es::prelude::*;
use futures::future::join_all;

use crate::shop::*;

// The table's stream as es's batch code and Lambda take it.
pub use es_dynamo::testing::{lambda_event, stream_records};

/// A small deterministic generator, so a failing workload can be replayed.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed.wrapping_mul(6364136223846793005).wrapping_add(1))
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Runs a shopping workload on `store`: `products` products restocked,
/// `carts` carts filled, and then, per cart, a checkout, a walk-in
/// reservation and release, or nothing. Commands run 16 at a time.
/// Returns how many aggregates it wrote to.
pub async fn workload<S: EventStore>(store: &S, products: usize, carts: usize, seed: u64) -> usize {
    let mut rng = Lcg::new(seed);
    let skus: Vec<String> = (0..products).map(|p| format!("sku-{p}")).collect();
    for chunk in skus.chunks(16) {
        join_all(chunk.iter().map(|sku| {
            let amount = 5 + rng.below(20) as u32;
            async move {
                Product::execute(store, sku.clone(), |_| {
                    Ok::<_, ProductError>(ProductRestocked { amount })
                })
                .await
                .expect("restock");
            }
        }))
        .await;
    }
    // Per cart: its id, its lines (product, units), and what happens next.
    type Plan = (String, Vec<(String, u32)>, u64);
    let plans: Vec<Plan> = (0..carts)
        .map(|c| {
            let lines = (0..1 + rng.below(3))
                .map(|_| {
                    (
                        skus[rng.below(products as u64) as usize].clone(),
                        1 + rng.below(3) as u32,
                    )
                })
                .collect();
            (format!("cart-{c}"), lines, rng.below(3))
        })
        .collect();
    for chunk in plans.chunks(16) {
        join_all(chunk.iter().map(|(cart_id, lines, plan)| async move {
            let mut cart = Cart::load(store, cart_id.clone()).await.expect("load cart");
            for (sku, quantity) in lines {
                let _ = cart
                    .commit(ItemAdded {
                        sku: sku.clone(),
                        quantity: *quantity,
                    })
                    .await;
            }
            match plan {
                0 => {
                    // Sold out is a fine outcome: the view must show it too.
                    let _ = checkout(
                        store,
                        cart_id,
                        &Shipping::example("cust-1"),
                        es::Retry::attempts(30),
                    )
                    .await;
                }
                1 => {
                    let (sku, quantity) = &lines[0];
                    let reserved =
                        Product::execute(store, sku.clone(), |p| p.reserve(cart_id, *quantity))
                            .await;
                    if reserved.is_ok() && quantity % 2 == 1 {
                        Product::execute(store, sku.clone(), |_| {
                            Ok::<_, ProductError>(ProductReleased {
                                cart_id: cart_id.clone(),
                                quantity: *quantity,
                            })
                        })
                        .await
                        .expect("release");
                    }
                }
                _ => {}
            }
        }))
        .await;
    }
    products + carts
}

/// A projection that counts how many times each event reached a handler,
/// by aggregate key and version, without deduplicating anything.
#[derive(Default)]
pub struct Deliveries {
    pub seen: Mutex<BTreeMap<(String, u64), u32>>,
}

impl Deliveries {
    fn count(&self, at: &Envelope) {
        *self
            .seen
            .lock()
            .expect("lock")
            .entry((at.key(), at.version))
            .or_default() += 1;
    }

    pub fn counts(&self) -> BTreeMap<(String, u64), u32> {
        self.seen.lock().expect("lock").clone()
    }
}

#[es::projection]
impl Deliveries {
    #[on(ProductRestocked)]
    async fn restocked(&self, _: &ProductRestocked, at: &Envelope) {
        self.count(at);
    }
    #[on(ProductReserved)]
    async fn reserved(&self, _: &ProductReserved, at: &Envelope) {
        self.count(at);
    }
    #[on(ProductReleased)]
    async fn released(&self, _: &ProductReleased, at: &Envelope) {
        self.count(at);
    }
    #[on(ItemAdded)]
    async fn added(&self, _: &ItemAdded, at: &Envelope) {
        self.count(at);
    }
    #[on(ItemRemoved)]
    async fn removed(&self, _: &ItemRemoved, at: &Envelope) {
        self.count(at);
    }
    #[on(CartCheckedOut)]
    async fn checked_out(&self, _: &CartCheckedOut, at: &Envelope) {
        self.count(at);
    }
}

/// Every event in `store`, by aggregate key and version: what each must be
/// delivered once.
pub async fn every_event<S: EventStore>(store: &S) -> Vec<(String, u64)> {
    let mut all = Vec::new();
    let products: Vec<Root<Product, S>> = Product::find_all(store)
        .try_collect()
        .await
        .expect("products");
    for p in products {
        all.extend((1..=p.version()).map(|v| (format!("Product#{}", p.id()), v)));
    }
    let carts: Vec<Root<Cart, S>> = Cart::find_all(store).try_collect().await.expect("carts");
    for c in carts {
        all.extend((1..=c.version()).map(|v| (format!("Cart#{}", c.id()), v)));
    }
    all.sort();
    all
}

/// A store whose client has no endpoint: for a projector whose events all
/// arrive in batches from version 1, which never reads the store. A gap
/// would fail with a store error, not pass unseen.
pub fn offline_store(layout: es::dynamo::Layout) -> DynamoStore {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "events").with_layout(layout)
}

/// A projector of `projection` over an [`offline_store`], with its
/// positions in a fresh `MemoryViews`.
pub fn offline<P: Projection>(
    layout: es::dynamo::Layout,
    projection: P,
) -> Projector<DynamoStore, MemoryViews, P> {
    Projector::new(offline_store(layout), MemoryViews::new(), projection)
}

/// Decides whether a write of views `(kind, id)` fails, and with what: a
/// commit's rows, or the one row of a save.
type Fault = dyn Fn(&[(&str, &str)]) -> Option<&'static str> + Send + Sync;

/// A `MemoryViews` whose saves and commits fail when its fault says so for
/// a row they write, as a throttled or vanished view table would: a
/// transient error, nothing written.
#[derive(Clone)]
pub struct FaultyViews {
    inner: MemoryViews,
    fault: std::sync::Arc<Fault>,
}

impl FaultyViews {
    pub fn new(
        fault: impl Fn(&[(&str, &str)]) -> Option<&'static str> + Send + Sync + 'static,
    ) -> Self {
        FaultyViews {
            inner: MemoryViews::new(),
            fault: std::sync::Arc::new(fault),
        }
    }
}

impl ViewTable for FaultyViews {
    type Doc = serde_json::Value;

    fn encode<V: serde::Serialize>(
        &self,
        kind: &str,
        id: &str,
        state: &V,
    ) -> Result<Self::Doc, Error> {
        self.inner.encode(kind, id, state)
    }
    async fn positions(
        &self,
        projection: &str,
        aggregates: &[String],
    ) -> Result<HashMap<String, u64>, Error> {
        self.inner.positions(projection, aggregates).await
    }
    async fn commit(&self, commit: es::Commit<Self::Doc>) -> Result<es::Saved, Error> {
        let rows: Vec<(&str, &str)> = commit
            .rows
            .iter()
            .map(|r| (r.kind.as_str(), r.id.as_str()))
            .collect();
        if let Some(why) = (self.fault)(&rows) {
            return Err(es::StoreError::transient("TransactWriteItems", why).into());
        }
        self.inner.commit(commit).await
    }
    fn same_table(&self, other: &Self) -> bool {
        self.inner.same_table(&other.inner)
    }
    async fn load<V: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<es::ViewRow<V>>, Error> {
        self.inner.load(kind, id).await
    }
    async fn save<V: serde::Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        row: &es::ViewRow<V>,
    ) -> Result<es::Saved, Error> {
        if let Some(why) = (self.fault)(&[(kind, id)]) {
            return Err(es::StoreError::transient("PutItem", why).into());
        }
        self.inner.save(kind, id, row).await
    }
    async fn list<V: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        limit: Option<usize>,
        cursor: Option<es::store::Cursor>,
    ) -> Result<es::store::Page<(String, es::ViewRow<V>)>, Error> {
        self.inner.list(kind, limit, cursor).await
    }
    async fn checkpoint(&self, name: &str) -> Result<Option<String>, Error> {
        self.inner.checkpoint(name).await
    }
    async fn set_checkpoint(&self, name: &str, value: Option<&str>) -> Result<(), Error> {
        self.inner.set_checkpoint(name, value).await
    }
    fn stats(&self) -> &es::Stats {
        self.inner.stats()
    }
}

/// A projection that fails on the events `broken` names while it names
/// them: a handler with a bug, or a downstream that is away, for as long as
/// a test says.
pub struct Flaky<P> {
    pub inner: P,
    pub broken: Mutex<std::collections::BTreeSet<(String, String, u64)>>,
}

impl<P> Flaky<P> {
    pub fn new(inner: P) -> Self {
        Flaky {
            inner,
            broken: Mutex::default(),
        }
    }

    /// Breaks (or, with `false`, mends) one event.
    pub fn set(&self, aggregate: &str, id: &str, version: u64, broken: bool) {
        let key = (aggregate.to_owned(), id.to_owned(), version);
        let mut set = self.broken.lock().expect("lock");
        if broken {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }
}

impl<P: Projection<Error = Error>> Projection for Flaky<P> {
    const NAME: &'static str = P::NAME;
    type Error = Error;

    fn aggregates() -> Vec<&'static str> {
        P::aggregates()
    }

    fn personal(aggregate: &str, event: &str) -> Option<&'static es::erasure::Personal> {
        P::personal(aggregate, event)
    }

    fn project<'a, C: es::Codec>(
        &'a self,
        codec: &'a C,
        event: es::RawEvent<C::Payload>,
    ) -> impl std::future::Future<Output = Result<es::Projected, es::ProjectionError<Self::Error>>>
           + Send
           + 'a {
        let key = (
            event.aggregate.clone(),
            event.id.clone(),
            event.event.version,
        );
        let broken = self.broken.lock().expect("lock").contains(&key);
        async move {
            if broken {
                return Err(es::ProjectionError::Handler {
                    projection: P::NAME,
                    event: "any",
                    aggregate: "broken",
                    id: key.1,
                    version: key.2,
                    source: es::StoreError::transient("project", "the downstream is away").into(),
                });
            }
            self.inner.project(codec, event).await
        }
    }
}

/// The aggregates of a stream's records, by rule, as a set.
pub fn aggregates_of(records: &[StreamRecord]) -> std::collections::BTreeSet<(String, String)> {
    records
        .iter()
        .filter_map(|r| {
            match es::dynamo::records::kind_of(
                &r.event_name,
                &r.new_image,
                es::dynamo::Layout::SingleTable,
                None,
            ) {
                Ok(es::dynamo::records::RecordKind::Event { aggregate, id, .. }) => {
                    Some((aggregate, id))
                }
                _ => None,
            }
        })
        .collect()
}
