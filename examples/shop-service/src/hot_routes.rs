//! The routes of hot products: products whose stock is split over bucket
//! aggregates (`examples/shopping/hot.rs`, `es::buckets`), so that a flash
//! sale on one SKU is not held to one aggregate's write rate.
//!
//! A product is hot when the service is told so ([`crate::App::with_hot_product`],
//! or `SHOP_HOT_PRODUCTS`, e.g. `mug=8,tee=4`: a SKU and its number of
//! buckets). Clients see no difference: `restock`, `buy` and `GET` take and
//! answer the same JSON. `version` is the sum of the buckets' versions,
//! which grows with every change, as a product's does. Restocking spreads
//! the units over the buckets in one atomic commit; a purchase reserves from
//! the bucket its cart picks, and from the others when that one runs short;
//! "sold out" is said only when all the buckets together hold too little.
//!
//! A hot product must be hot from its first restock: stock already in its
//! `Product` aggregate is not moved into buckets. Carts cannot check out a
//! hot product (the checkout transaction reserves from `Product`
//! aggregates); buy it with `POST /products/{id}/buy`.

use axum::Json;
use es::buckets::Buckets;
use es::EventStore;

use crate::hot::{hot_product, ProductBucket};
use crate::problem::Problem;
use crate::routes::ProductView;
use crate::shop::ProductError;
use crate::trace::RequestIds;
use crate::App;

type Answer = Result<Json<serde_json::Value>, Problem>;

/// The product as its buckets add up, in the shape of any product's view.
async fn view<S: EventStore>(
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

/// `POST /products/{id}/buy` of a hot product.
pub(crate) async fn buy<S: EventStore>(
    app: &App<S>,
    ids: &RequestIds,
    buckets: &Buckets<ProductBucket>,
    cart_id: &str,
    quantity: u32,
    key: Option<String>,
) -> Answer {
    let buckets = buckets.clone().with_retry(app.retry);
    let mut reserve = buckets
        .reserve(&app.store, quantity)
        .spread_by(cart_id)
        .metadata(ids.metadata(key.as_deref()));
    if let Some(key) = key {
        reserve = reserve.idempotency_key(key);
    }
    let done = reserve
        .execute(|bucket, units| bucket.reserve(cart_id, units))
        .await?;
    answer(view(app, &buckets).await?, done.duplicate)
}
