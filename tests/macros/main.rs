//! What `#[derive(Event)]`, `#[derive(Aggregate)]` and `#[es::handlers]`
//! generate, exercised through the public API and the in-memory store. One
//! test binary: `main.rs` has the design's product and what its generated
//! enum does; the other files, one topic each.

mod defaults;
mod paths;
mod snapshots;

use std::convert::Infallible;

use es::prelude::*;
use es::{EventSet, Handlers};
use serde::{Deserialize, Serialize};
use serde_json::json;

// ---- The product of the README's first example -------------------------------

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
