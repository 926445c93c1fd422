//! What `#[derive(Event)]`, `#[derive(Aggregate)]` and `#[es::handlers]`
//! generate, exercised through the public API and the in-memory store.

use std::convert::Infallible;

use es::prelude::*;
use es::{EventSet, Handlers};
use serde::{Deserialize, Serialize};
use serde_json::json;

// ---- The DESIGN §1 product ---------------------------------------------------

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductRestocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "ProductReserved", version = 1)]
pub struct ProductReserved {
    pub cart_id: String,
    pub quantity: u32,
}

/// A unit struct: stored without fields.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "product.discontinued", version = 3)]
pub struct ProductDiscontinued;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProductError {
    #[error("a restock must add at least one unit")]
    EmptyRestock,
    #[error("sold out: {available} on hand, {requested} requested")]
    SoldOut { available: u32, requested: u32 },
    #[error("the product is discontinued")]
    Discontinued,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "Product", error = ProductError, snapshot_every = 50)]
pub struct Product {
    pub on_hand: u32,
    pub discontinued: bool,
}

#[es::handlers]
impl Product {
    #[on(ProductRestocked)]
    fn restocked(&mut self, e: &ProductRestocked) -> Result<(), ProductError> {
        if e.amount == 0 {
            return Err(ProductError::EmptyRestock);
        }
        self.on_hand += e.amount;
        Ok(())
    }

    #[on(ProductReserved)]
    fn reserved(&mut self, e: &ProductReserved) -> Result<(), ProductError> {
        if self.discontinued {
            return Err(ProductError::Discontinued);
        }
        if self.on_hand < e.quantity {
            return Err(ProductError::SoldOut {
                available: self.on_hand,
                requested: e.quantity,
            });
        }
        self.on_hand -= e.quantity;
        Ok(())
    }

    /// A handler that cannot fail returns nothing.
    #[on(ProductDiscontinued)]
    fn discontinued(&mut self, _: &ProductDiscontinued) {
        self.discontinued = true;
    }

    /// Not a handler: the block may hold other methods too.
    pub fn is_available(&self) -> bool {
        !self.discontinued && self.on_hand > 0
    }
}

impl Product {
    pub fn reserve(&self, cart_id: &str, quantity: u32) -> Result<ProductReserved, ProductError> {
        if self.on_hand < quantity {
            return Err(ProductError::SoldOut {
                available: self.on_hand,
                requested: quantity,
            });
        }
        Ok(ProductReserved {
            cart_id: cart_id.to_owned(),
            quantity,
        })
    }
}

fn reserved(cart_id: &str, quantity: u32) -> ProductReserved {
    ProductReserved {
        cart_id: cart_id.to_owned(),
        quantity,
    }
}

#[tokio::test]
async fn the_design_example_runs_end_to_end() -> Result<(), es::Error<ProductError>> {
    let store = MemoryStore::new();
    let mut product = Product::load(&store, "sku-1").await?;
    assert_eq!(product.version(), 0);

    assert_eq!(product.commit(ProductRestocked { amount: 10 }).await?, 1);
    product.commit_all([reserved("c1", 2)]).await?;
    assert_eq!(product.on_hand, 8);
    assert_eq!(product.version(), 2);
    assert!(product.is_available());

    let one = Product::find_one(&store, "sku-1")
        .await?
        .expect("sku-1 has events");
    assert_eq!(
        (one.version(), one.state()),
        (
            2,
            &Product {
                on_hand: 8,
                discontinued: false
            }
        )
    );
    assert!(Product::find_one(&store, "sku-404").await?.is_none());

    Product::load(&store, "sku-2")
        .await?
        .commit(ProductRestocked { amount: 1 })
        .await?;
    let all: Vec<_> = Product::find_all(&store).try_collect().await?;
    let ids: Vec<_> = all
        .iter()
        .map(|p| (p.id().to_owned(), p.version(), p.on_hand))
        .collect();
    assert_eq!(
        ids,
        [("sku-1".to_owned(), 2, 8), ("sku-2".to_owned(), 1, 1)]
    );

    let done = Product::execute(&store, "sku-1", |p| p.reserve("c2", 1)).await?;
    assert_eq!((done.version, done.root.on_hand, done.attempts), (3, 7, 1));
    Ok(())
}

#[tokio::test]
async fn commit_all_takes_events_of_several_types_atomically() -> Result<(), es::Error<ProductError>>
{
    let store = MemoryStore::new();
    let mut product = Product::load(&store, "sku-1").await?;
    let events: [ProductEvent; 3] = [
        ProductRestocked { amount: 5 }.into(),
        reserved("c1", 4).into(),
        ProductDiscontinued.into(),
    ];
    assert_eq!(product.commit_all(events).await?, 3);
    assert_eq!(
        product.state(),
        &Product {
            on_hand: 1,
            discontinued: true
        }
    );

    let events: [ProductEvent; 2] = [
        ProductRestocked { amount: 1 }.into(),
        reserved("c2", 1).into(),
    ];
    let err = product.commit_all(events).await;
    assert!(
        matches!(err, Err(es::Error::Rejected(ProductError::Discontinued))),
        "{err:?}"
    );
    assert_eq!(Product::load(&store, "sku-1").await?.version(), 3);
    Ok(())
}

#[tokio::test]
async fn a_rejected_event_writes_nothing() -> Result<(), es::Error<ProductError>> {
    let store = MemoryStore::new();
    let mut product = Product::load(&store, "sku-1").await?;
    product.commit(ProductRestocked { amount: 3 }).await?;
    let before = store.stats().snapshot();

    let err = product
        .commit(ProductRestocked { amount: 0 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, es::Error::Rejected(ProductError::EmptyRestock)),
        "{err:?}"
    );
    let err = product.commit(reserved("c1", 4)).await.unwrap_err();
    assert!(
        matches!(
            err,
            es::Error::Rejected(ProductError::SoldOut {
                available: 3,
                requested: 4
            })
        ),
        "{err:?}"
    );

    assert_eq!((store.stats().snapshot() - before).writes, 0);
    assert_eq!((product.version(), product.on_hand), (1, 3));
    let reloaded = Product::load(&store, "sku-1").await?;
    assert_eq!((reloaded.version(), reloaded.on_hand), (1, 3));
    Ok(())
}

#[test]
fn event_attributes_set_the_stored_name_and_version() {
    assert_eq!(
        (ProductRestocked::NAME, ProductRestocked::VERSION),
        ("ProductRestocked", 1)
    );
    assert_eq!(
        (ProductReserved::NAME, ProductReserved::VERSION),
        ("ProductReserved", 1)
    );
    assert_eq!(
        (ProductDiscontinued::NAME, ProductDiscontinued::VERSION),
        ("product.discontinued", 3)
    );

    let event = ProductEvent::from(ProductDiscontinued);
    assert_eq!((event.name(), event.schema()), ("product.discontinued", 3));
    let event = ProductEvent::from(ProductRestocked { amount: 1 });
    assert_eq!((event.name(), event.schema()), ("ProductRestocked", 1));
    assert_eq!(
        ProductEvent::NAMES,
        [
            "ProductRestocked",
            "ProductReserved",
            "product.discontinued"
        ]
    );
}

#[test]
fn aggregate_attributes_set_the_constants() {
    assert_eq!(<Product as Aggregate>::NAME, "Product");
    assert_eq!(Product::SNAPSHOT_EVERY, 50);
    assert_eq!(Product::SNAPSHOT_SCHEMA, 1);
    fn error_of<A: Aggregate<Error = ProductError>>() {}
    error_of::<Product>();
    fn event_of<A: Aggregate<Event = ProductEvent> + Handlers<Event = ProductEvent>>() {}
    event_of::<Product>();
}

#[test]
fn the_event_enum_serializes_as_type_and_payload() {
    let event = ProductEvent::from(reserved("c1", 2));
    let text = serde_json::to_string(&event).unwrap();
    assert_eq!(
        text,
        r#"{"type":"ProductReserved","payload":{"cart_id":"c1","quantity":2}}"#
    );
    let back: ProductEvent = serde_json::from_str(&text).unwrap();
    assert!(matches!(back, ProductEvent::ProductReserved(e) if e == reserved("c1", 2)));

    let unit = serde_json::to_string(&ProductEvent::from(ProductDiscontinued)).unwrap();
    assert_eq!(unit, r#"{"type":"product.discontinued","payload":null}"#);
    let back: ProductEvent = serde_json::from_str(&unit).unwrap();
    assert!(matches!(
        back,
        ProductEvent::ProductDiscontinued(ProductDiscontinued)
    ));

    // castore omits the payload of an event without fields.
    let back: ProductEvent = serde_json::from_str(r#"{"type":"product.discontinued"}"#).unwrap();
    assert!(matches!(
        back,
        ProductEvent::ProductDiscontinued(ProductDiscontinued)
    ));
}

#[test]
fn the_event_enum_decodes_whatever_the_key_order() {
    let back: ProductEvent = serde_json::from_str(
        r#"{"payload":{"quantity":2,"cart_id":"c1"},"type":"ProductReserved"}"#,
    )
    .unwrap();
    assert!(matches!(back, ProductEvent::ProductReserved(e) if e == reserved("c1", 2)));
    // A serde_json::Value sorts its keys, so `payload` comes first here.
    let value = serde_json::to_value(ProductEvent::from(reserved("c2", 3))).unwrap();
    let back: ProductEvent = serde_json::from_value(value).unwrap();
    assert!(matches!(back, ProductEvent::ProductReserved(e) if e == reserved("c2", 3)));
    let err = serde_json::from_str::<ProductEvent>(r#"{"payload":{"amount":1}}"#).unwrap_err();
    assert!(err.to_string().starts_with("missing field `type`"), "{err}");
}

#[test]
fn the_event_enum_clones_and_debugs_like_a_derive() {
    let event = ProductEvent::from(reserved("c1", 2));
    let copy = event.clone();
    assert_eq!(
        format!("{copy:?}"),
        r#"ProductReserved(ProductReserved { cart_id: "c1", quantity: 2 })"#
    );
    assert_eq!(
        format!("{:?}", ProductEvent::from(ProductDiscontinued)),
        "ProductDiscontinued(ProductDiscontinued)"
    );
}

#[test]
fn an_unknown_event_type_fails_to_deserialize() {
    let err =
        serde_json::from_str::<ProductEvent>(r#"{"type":"Restocked","payload":{"amount":1}}"#)
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown variant `Restocked`, expected one of `ProductRestocked`, `ProductReserved`, \
         `product.discontinued` at line 1 column 30"
    );
    let err = serde_json::from_str::<ProductEvent>(
        r#"{"type":"ProductRestocked","payload":{"amount":"x"}}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: string \"x\", expected u32 at line 1 column 50"
    );
}

#[tokio::test]
async fn a_unit_struct_event_round_trips_through_the_store() -> Result<(), es::Error<ProductError>>
{
    let store = MemoryStore::new();
    let mut product = Product::load(&store, "sku-1").await?;
    product.commit(ProductDiscontinued).await?;
    let reloaded = Product::load(&store, "sku-1").await?;
    assert_eq!((reloaded.version(), reloaded.discontinued), (1, true));
    let history: Vec<_> = reloaded.history().try_collect().await?;
    assert_eq!(history.len(), 1);
    assert!(matches!(
        history[0].event,
        ProductEvent::ProductDiscontinued(ProductDiscontinued)
    ));
    assert_eq!(history[0].event.name(), "product.discontinued");
    Ok(())
}

#[test]
fn given_when_then_runs_the_generated_handlers() {
    Product::given([ProductRestocked { amount: 2 }])
        .when(reserved("c1", 3))
        .then_error(ProductError::SoldOut {
            available: 2,
            requested: 3,
        })
        .then_state(|p| assert_eq!(p.on_hand, 2));

    Product::given([ProductRestocked { amount: 2 }])
        .when_command(|p| p.reserve("c1", 2))
        .then_events([reserved("c1", 2)])
        .then_state(|p| assert_eq!(p.on_hand, 0));

    let past: Vec<ProductEvent> = vec![
        ProductRestocked { amount: 1 }.into(),
        ProductDiscontinued.into(),
    ];
    Product::given(past)
        .when(reserved("c1", 1))
        .then_error(ProductError::Discontinued);

    Product::given(ProductRestocked { amount: 1 })
        .when(ProductDiscontinued)
        .then_ok()
        .then_state_eq(Product {
            on_hand: 1,
            discontinued: true,
        });
}

#[tokio::test]
async fn a_decision_returns_one_event_a_vec_an_option_or_an_array(
) -> Result<(), es::Error<ProductError>> {
    let store = MemoryStore::new();
    let single = Product::execute(&store, "sku-1", |_| Ok(ProductRestocked { amount: 1 })).await?;
    assert_eq!(single.version, 1);
    let the_enum = Product::execute(&store, "sku-1", |_| {
        Ok(ProductEvent::from(ProductRestocked { amount: 1 }))
    })
    .await?;
    assert_eq!(the_enum.version, 2);
    let vec = Product::execute(&store, "sku-1", |_| {
        Ok(vec![
            ProductEvent::from(ProductRestocked { amount: 1 }),
            reserved("c1", 1).into(),
        ])
    })
    .await?;
    assert_eq!(vec.version, 4);
    let none = Product::execute(&store, "sku-1", |_| Ok(None::<ProductRestocked>)).await?;
    assert_eq!(none.version, 4);
    let some = Product::execute(&store, "sku-1", |_| Ok(Some(reserved("c2", 1)))).await?;
    assert_eq!(some.version, 5);
    let array = Product::execute(&store, "sku-1", |_| {
        Ok([
            ProductRestocked { amount: 2 },
            ProductRestocked { amount: 3 },
        ])
    })
    .await?;
    assert_eq!((array.version, array.root.on_hand), (7, 6));
    Ok(())
}

// ---- Snapshots ---------------------------------------------------------------

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

// ---- Defaults and options ----------------------------------------------------

mod doors {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Opened;

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Closed;
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Locked {
    pub code: u32,
}

type DoorResult<T> = Result<T, Infallible>;

/// An enum aggregate, a state machine, with no `#[aggregate(..)]` at all:
/// its name is the type's, it never fails and takes no snapshots.
/// Its event enum is as private as it is, with `vis`.
#[derive(Aggregate, Clone, Debug, Default, PartialEq)]
pub(crate) enum Door {
    #[default]
    Closed,
    Open,
    Locked(u32),
}

#[es::handlers(vis = pub(crate))]
impl Door {
    #[on(doors::Opened)]
    fn opened(&mut self, _: &doors::Opened) -> DoorResult<()> {
        *self = Door::Open;
        Ok(())
    }

    #[es::on(doors::Closed)]
    #[allow(clippy::unused_unit)]
    fn closed(&mut self, _: &doors::Closed) -> () {
        *self = Door::Closed;
    }

    #[on(Locked)]
    fn locked(&mut self, e: &Locked) -> Result<(), Infallible> {
        *self = Door::Locked(e.code);
        Ok(())
    }
}

#[test]
fn without_attributes_the_names_are_the_types_and_nothing_fails() {
    assert_eq!(<Door as Aggregate>::NAME, "Door");
    assert_eq!((Door::SNAPSHOT_EVERY, Door::SNAPSHOT_SCHEMA), (0, 1));
    fn infallible<A: Aggregate<Error = Infallible>>() {}
    infallible::<Door>();
    assert_eq!(DoorEvent::NAMES, ["Opened", "Closed", "Locked"]);

    Door::given([DoorEvent::from(doors::Opened)])
        .when(doors::Closed)
        .then_state_eq(Door::Closed);
    Door::given([doors::Opened])
        .when(Locked { code: 7 })
        .then_state_eq(Door::Locked(7));
}

#[test]
fn variants_are_named_after_the_last_segment_of_the_event_path() {
    let events = [
        DoorEvent::from(doors::Opened),
        DoorEvent::from(doors::Closed),
        DoorEvent::from(Locked { code: 1 }),
    ];
    assert!(matches!(
        events,
        [
            DoorEvent::Opened(doors::Opened),
            DoorEvent::Closed(doors::Closed),
            DoorEvent::Locked(Locked { code: 1 })
        ]
    ));
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

// ---- Without the prelude -----------------------------------------------------

/// `#[on(..)]` needs no import: `#[es::handlers]` reads and removes it.
///
/// The module is private, so clippy lints its items as it would a binary's:
/// the events all start with `Order`, as events often do, and the generated
/// enum must not trip `enum_variant_names` for it.
mod without_the_prelude {
    use serde::{Deserialize, Serialize};

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct OrderPlaced;

    /// An enum is an event too: its payload is the enum, as serde writes it.
    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub enum OrderPaymentChanged {
        Card { last4: String },
        Cash,
    }

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct OrderShipped;

    #[derive(es::Aggregate, Clone, Debug, Default, PartialEq)]
    pub struct Order {
        pub placed: bool,
        pub by_card: bool,
        pub shipped: bool,
    }

    #[es::handlers]
    impl Order {
        #[on(OrderPlaced)]
        fn placed(&mut self, _: &OrderPlaced) {
            self.placed = true;
        }

        #[on(OrderPaymentChanged)]
        fn payment_changed(&mut self, e: &OrderPaymentChanged) {
            self.by_card = matches!(e, OrderPaymentChanged::Card { .. });
        }

        #[on(OrderShipped)]
        fn shipped(&mut self, _: &OrderShipped) {
            self.shipped = true;
        }
    }

    #[test]
    fn handlers_work_without_importing_on() {
        use es::{AggregateExt as _, EventSet as _};
        let card = OrderPaymentChanged::Card {
            last4: "4242".into(),
        };
        let past: [OrderEvent; 2] = [OrderPlaced.into(), OrderPaymentChanged::Cash.into()];
        Order::given(past).when(card.clone()).then_state_eq(Order {
            placed: true,
            by_card: true,
            shipped: false,
        });
        let text = serde_json::to_string(&OrderEvent::from(card)).unwrap();
        assert_eq!(
            text,
            r#"{"type":"OrderPaymentChanged","payload":{"Card":{"last4":"4242"}}}"#
        );
        assert_eq!(
            OrderEvent::NAMES,
            ["OrderPlaced", "OrderPaymentChanged", "OrderShipped"]
        );
    }
}

// ---- Every path to `on`, and lifetimes -----------------------------------------

/// `#[es::handlers]` knows `on` by each path that names it: `on`, `es::on`,
/// `es::prelude::on`, with or without a leading `::`. A handler may name its
/// lifetimes: they are not the generics es rejects.
mod on_paths {
    use serde::{Deserialize, Serialize};

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Opened;

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Closed;

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Painted {
        pub color: String,
    }

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Oiled;

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Named {
        pub name: String,
    }

    #[derive(es::Aggregate, Clone, Debug, Default, PartialEq)]
    pub struct Gate {
        pub open: bool,
        pub color: String,
        pub oiled: u32,
        pub name: String,
    }

    #[es::handlers]
    impl Gate {
        #[::es::on(Opened)]
        fn opened(&mut self, _: &Opened) {
            self.open = true;
        }

        #[es::prelude::on(Closed)]
        fn closed(&mut self, _: &Closed) {
            self.open = false;
        }

        #[::es::prelude::on(Painted)]
        fn painted<'a>(&'a mut self, e: &'a Painted) {
            self.color.clone_from(&e.color);
        }

        #[es::on(Oiled)]
        fn oiled(&mut self, _: &Oiled) {
            self.oiled += 1;
        }

        #[on(Named)]
        fn named<'s, 'e: 's>(&'s mut self, e: &'e Named) {
            self.name.clone_from(&e.name);
        }
    }

    #[test]
    fn every_path_to_on_marks_a_handler() {
        use es::{AggregateExt as _, EventSet as _};
        assert_eq!(
            GateEvent::NAMES,
            ["Opened", "Closed", "Painted", "Oiled", "Named"]
        );
        let past: [GateEvent; 4] = [
            Opened.into(),
            Painted {
                color: "green".into(),
            }
            .into(),
            Oiled.into(),
            Named {
                name: "north".into(),
            }
            .into(),
        ];
        Gate::given(past).when(Closed).then_state_eq(Gate {
            open: false,
            color: "green".into(),
            oiled: 1,
            name: "north".into(),
        });
    }
}

// ---- Through a re-export: `crate = ..` -------------------------------------------

/// A crate that re-exports es, as a framework built on it might, uses the
/// macros through that re-export with `crate = path` on each attribute.
mod through_a_reexport {
    use serde::{Deserialize, Serialize};

    /// es, re-exported: the generated code reaches it as `runtime::es`.
    mod runtime {
        pub use ::es;
    }

    use runtime::es::AggregateExt as _;

    #[derive(runtime::es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(crate = runtime::es, name = "TicketOpened", version = 2)]
    pub struct Opened {
        pub seats: u32,
    }

    #[derive(runtime::es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(crate = runtime::es)]
    pub struct Booked {
        pub seats: u32,
    }

    #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    #[error("only {left} seats left")]
    pub struct Full {
        pub left: u32,
    }

    #[derive(runtime::es::Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
    #[aggregate(name = "Ticket", error = Full, snapshot_every = 2, crate = runtime::es)]
    pub struct Ticket {
        pub left: u32,
    }

    // `on` by its path through the re-export, or by its own name.
    #[runtime::es::handlers(crate = runtime::es)]
    impl Ticket {
        #[runtime::es::on(Opened)]
        fn opened(&mut self, e: &Opened) {
            self.left = e.seats;
        }

        #[on(Booked)]
        fn booked(&mut self, e: &Booked) -> Result<(), Full> {
            if e.seats > self.left {
                return Err(Full { left: self.left });
            }
            self.left -= e.seats;
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_macros_work_through_the_path_given_with_crate(
    ) -> Result<(), runtime::es::Error<Full>> {
        use runtime::es::{Aggregate as _, Event as _, EventSet as _, EventStore as _};
        assert_eq!((Opened::NAME, Opened::VERSION), ("TicketOpened", 2));
        assert_eq!((Ticket::NAME, Ticket::SNAPSHOT_EVERY), ("Ticket", 2));
        assert_eq!(TicketEvent::NAMES, ["TicketOpened", "Booked"]);

        let store = runtime::es::MemoryStore::new();
        let mut ticket = Ticket::load(&store, "t-1").await?;
        ticket.commit(Opened { seats: 5 }).await?;
        ticket
            .commit_all([Booked { seats: 2 }, Booked { seats: 1 }])
            .await?;
        let err = ticket.commit(Booked { seats: 3 }).await.unwrap_err();
        assert!(
            matches!(err, runtime::es::Error::Rejected(Full { left: 2 })),
            "{err:?}"
        );

        // Loaded back from the snapshot at version 2 and the event after it:
        // one page of `snapshot_every` items, versions 3 and 2, and no replay.
        let before = store.stats().snapshot();
        let reloaded = Ticket::load(&store, "t-1").await?;
        let cost = store.stats().snapshot() - before;
        assert_eq!((reloaded.version(), reloaded.left), (3, 2));
        assert_eq!((cost.reads, cost.items_read), (1, 2));
        let text = serde_json::to_string(&TicketEvent::from(Booked { seats: 1 })).unwrap();
        assert_eq!(text, r#"{"type":"Booked","payload":{"seats":1}}"#);
        Ok(())
    }
}

/// es under another name, `crate::counting::rt`, whose `__private` is es's
/// but for `serialize_tagged`, which counts its calls: the generated enum's
/// `Serialize` reaches es through the path given with `crate = ..`, not `::es`.
mod counting {
    pub mod rt {
        pub use ::es::*;

        pub mod __private {
            use std::sync::atomic::{AtomicUsize, Ordering};

            pub use ::es::__private::*;

            pub static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

            pub fn serialize_tagged<E: ::es::EventSet, S: serde::Serializer>(
                event: &E,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                SERIALIZED.fetch_add(1, Ordering::SeqCst);
                ::es::__private::serialize_tagged(event, serializer)
            }
        }
    }

    use serde::{Deserialize, Serialize};

    #[derive(rt::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(crate = crate::counting::rt)]
    pub struct Rang;

    #[derive(rt::Aggregate, Clone, Debug, Default, PartialEq)]
    #[aggregate(crate = crate::counting::rt)]
    pub struct Bell {
        pub rung: u32,
    }

    #[rt::handlers(crate = crate::counting::rt)]
    impl Bell {
        #[crate::counting::rt::prelude::on(Rang)]
        fn rang(&mut self, _: &Rang) {
            self.rung += 1;
        }
    }

    #[tokio::test]
    async fn generated_code_goes_through_the_given_path() -> Result<(), rt::Error> {
        use std::sync::atomic::Ordering;

        use rt::AggregateExt as _;

        let store = rt::MemoryStore::new();
        let mut bell = Bell::load(&store, "b").await?;
        bell.commit_all([Rang, Rang]).await?;
        assert_eq!(Bell::load(&store, "b").await?.rung, 2);

        let before = rt::__private::SERIALIZED.load(Ordering::SeqCst);
        let text = serde_json::to_string(&BellEvent::from(Rang)).unwrap();
        assert_eq!(text, r#"{"type":"Rang","payload":null}"#);
        assert_eq!(rt::__private::SERIALIZED.load(Ordering::SeqCst), before + 1);
        Ok(())
    }
}
