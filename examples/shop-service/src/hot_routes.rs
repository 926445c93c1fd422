//! The routes of hot products: products whose stock is split over bucket
//! aggregates (`examples/shopping/hot.rs`, `es::buckets`), so that a flash
//! sale on one SKU is not held to one aggregate's write rate.
//!
//! A product is hot when the service is told so ([`crate::App::with_hot_product`],
//! or `SHOP_HOT_PRODUCTS` through [`crate::hot_products_from_env`], e.g. `mug=8,tee=4`: a SKU and its number of
//! buckets). Clients see no difference: `restock`, `buy` and `GET` take and
//! answer the same JSON. `version` is the sum of the buckets' versions,
//! which grows with every change, as a product's does. Restocking spreads
//! the units over the buckets in one atomic commit; a purchase reserves from
//! the bucket its cart picks, and from the others when that one runs short;
//! "sold out" is said only when all the buckets together hold too little.
//!
//! A buy holds the units for the cart until the deadline, as any buy does,
//! and the hold's expiry gives them back to the buckets that gave them. A
//! cart's checkout reserves a hot line from the buckets, in the same atomic
//! commit as its other lines (`HotShelves` in `hot.rs`). `GET /products`
//! lists the hot products after the last page of the others; the read
//! side's `stock` view of a hot product sums its buckets' events.
//!
//! A hot product must be hot from its first restock: stock already in its
//! `Product` aggregate is not moved into buckets.

use axum::Json;
use es::buckets::Buckets;
use es::EventStore;

use crate::hot::{hot_product, ProductBucket};
use crate::problem::Problem;
use crate::routes::ProductView;
use crate::shop::ProductError;
use crate::App;

type Answer = Result<Json<serde_json::Value>, Problem>;

/// The product as its buckets add up, in the shape of any product's view.
pub(crate) async fn view<S: EventStore>(
    app: &App<S>,
    buckets: &Buckets<ProductBucket>,
) -> Result<ProductView, Problem> {
    let product = hot_product(&app.store, buckets).await?;
    Ok(ProductView {
        id: buckets.item().to_owned(),
        version: product.version,
        on_hand: product.on_hand,
        reserved: product.reserved,
    })
}

fn answer(view: ProductView, duplicate: bool) -> Answer {
    Ok(Json(serde_json::json!({
        "version": view.version,
        "duplicate": duplicate,
        "product": view,
    })))
}

/// `GET /products/{id}` of a hot product; 404 before any event.
pub(crate) async fn get<S: EventStore>(app: &App<S>, buckets: &Buckets<ProductBucket>) -> Answer {
    let view = view(app, buckets).await?;
    if view.version == 0 {
        return Err(Problem::not_found(
            <crate::shop::Product as es::Aggregate>::NAME,
            buckets.item(),
        ));
    }
    Ok(Json(serde_json::json!(view)))
}

/// Whether a hot product has any event.
pub(crate) async fn exists<S: EventStore>(
    app: &App<S>,
    buckets: &Buckets<ProductBucket>,
) -> Result<bool, Problem> {
    Ok(view(app, buckets).await?.version > 0)
}

/// `POST /products/{id}/restock` of a hot product.
pub(crate) async fn restock<S: EventStore>(
    app: &App<S>,
    buckets: &Buckets<ProductBucket>,
    amount: u32,
    key: Option<String>,
) -> Answer {
    let current = view(app, buckets).await?;
    current
        .on_hand
        .checked_add(amount)
        .ok_or(ProductError::TooManyUnits)?;
    let buckets = buckets.clone().with_retry(app.retry);
    let duplicate = match key {
        Some(key) => buckets.restock_once(&app.store, amount, &key).await?,
        None => {
            buckets.restock(&app.store, amount).await?;
            false
        }
    };
    answer(view(app, &buckets).await?, duplicate)
}

/// The hot products that have any event, as `GET /products` lists them
/// after the last page of the others.
pub(crate) async fn listed<S: EventStore>(app: &App<S>) -> Result<Vec<ProductView>, Problem> {
    let mut views = Vec::new();
    for (sku, &count) in app.hot.iter() {
        let buckets = Buckets::<ProductBucket>::new(sku, count)?;
        let view = view(app, &buckets).await?;
        if view.version > 0 {
            views.push(view);
        }
    }
    Ok(views)
}
