//! The routes: JSON in, JSON out, a [`Problem`] for every failure.
//!
//! | route | does |
//! |---|---|
//! | `POST /products/{id}/restock` `{"amount": n}` | adds stock |
//! | `POST /products/{id}/buy` `{"cart_id": "..", "quantity": n}` | reserves stock for the cart now |
//! | `POST /carts/{id}/items` `{"sku": "..", "quantity": n}` | puts a line in the cart, reserving nothing yet |
//! | `POST /carts/{id}/checkout` | reserves every line of the cart and closes it, atomically |
//! | `GET /products/{id}`, `GET /carts/{id}` | the current state; 404 with no events |
//! | `GET /products?limit=n&cursor=..` | a page of products, oldest first |
//! | `GET /products/{id}/stock`, `GET /carts/{id}/view` | the read side's view; 404 before the projection has one |
//!
//! Buying and checking out are two ways to reserve stock, as in the shopping
//! domain (`examples/shopping/shop.rs`): `buy` is the single-product
//! command, one conditional write on the product; a cart collects lines that
//! reserve nothing until `checkout` reserves them all in one transaction. So
//! `buy` does not add a line to the cart: checkout would reserve that stock
//! a second time.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use es::prelude::*;
use es::store::Cursor;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::problem::{shorten, Problem};
use crate::read_side::ReadSide;
use crate::shop::{self, Cart, CartError, ItemAdded, Product, ProductError, ProductRestocked};
use crate::trace::RequestIds;
use crate::App;

/// The most units one request may restock, buy or add: a bound that keeps
/// every count far from `u32::MAX` and catches a typo'd extra zero.
pub const MAX_QUANTITY: u64 = 1_000_000;
/// The most products on one page of `GET /products`.
pub const MAX_PAGE: usize = 100;
/// The page size when `limit` is not given.
pub const DEFAULT_PAGE: usize = 20;
/// The header whose value becomes the command's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

type Answer = Result<Json<serde_json::Value>, Problem>;

/// A product as the API shows it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ProductView {
    /// The product's id (its SKU).
    pub id: String,
    /// The version of its last event.
    pub version: u64,
    /// Units on the shelf.
    pub on_hand: u32,
    /// Units reserved, by cart id.
    pub reserved: BTreeMap<String, u32>,
}

impl ProductView {
    fn of<S>(root: &Root<Product, S>) -> Self
    where
        S: EventStore,
    {
        ProductView {
            id: root.id().to_owned(),
            version: root.version(),
            on_hand: root.on_hand,
            reserved: root.reserved.clone(),
        }
    }
}

/// A cart as the API shows it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CartView {
    /// The cart's id.
    pub id: String,
    /// The version of its last event.
    pub version: u64,
    /// Units wanted, by product id.
    pub lines: BTreeMap<String, u32>,
    /// Whether checkout reserved its lines and closed it.
    pub checked_out: bool,
}

impl CartView {
    fn of<S: EventStore>(root: &Root<Cart, S>) -> Self {
        CartView {
            id: root.id().to_owned(),
            version: root.version(),
            lines: root.lines.clone(),
            checked_out: root.checked_out,
        }
    }
}

/// The body of `POST /products/{id}/restock`.
#[derive(Deserialize)]
pub struct RestockBody {
    amount: serde_json::Number,
}

/// The body of `POST /products/{id}/buy`.
#[derive(Deserialize)]
pub struct BuyBody {
    cart_id: String,
    quantity: serde_json::Number,
}

/// The body of `POST /carts/{id}/items`.
#[derive(Deserialize)]
pub struct AddItemBody {
    sku: String,
    quantity: serde_json::Number,
}

/// The query of `GET /products`.
#[derive(Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// A count from a body: a whole number from 1 to [`MAX_QUANTITY`]. Taken as
/// any JSON number, so that `-1`, `0`, `2.5` and `1e30` all get the same
/// clear answer rather than a serde message about `u32`.
fn quantity(field: &'static str, n: &serde_json::Number) -> Result<u32, Problem> {
    n.as_u64()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .and_then(|q| u32::try_from(q).ok())
        .ok_or_else(|| {
            Problem::bad_request(
                "quantity-out-of-range",
                format!("`{field}` must be a whole number from 1 to {MAX_QUANTITY}, not {n}"),
            )
            .with("field", field)
        })
}

/// An id from the path or a body, checked against es's limits (1 to 1024
/// bytes) before anything is read.
fn id(aggregate: &'static str, id: &str) -> Result<(), Problem> {
    es::store::check_id(aggregate, id).map_err(|e| match e {
        es::Error::InvalidId { reason, .. } => {
            Problem::bad_request("invalid-id", format!("{aggregate} id: {reason}"))
                .with("id", shorten(id))
        }
        other => other.into(),
    })
}

/// The `Idempotency-Key` header, if any. es checks its length.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        Problem::bad_request(
            "invalid-idempotency-key",
            "the Idempotency-Key header must be visible ASCII",
        )
    })?;
    es::store::check_idempotency_key(key).map_err(|e| match e {
        es::Error::InvalidKey { reason, .. } => {
            Problem::bad_request("invalid-idempotency-key", reason)
        }
        other => other.into(),
    })?;
    Ok(Some(key.to_owned()))
}

fn command_answer(version: u64, duplicate: bool, key: &str, view: impl Serialize) -> Answer {
    Ok(Json(serde_json::json!({
        "version": version,
        "duplicate": duplicate,
        key: view,
    })))
}

/// Runs a decision on a product, as an idempotent command when the request
/// has a key, with the request's ids in the events' metadata.
async fn product_command<S: EventStore>(
    app: &App<S>,
    ids: &RequestIds,
    headers: &HeaderMap,
    product_id: String,
    decide: impl FnMut(&Product) -> Result<shop::ProductEvent, ProductError> + Send,
) -> Answer {
    id(Product::NAME, &product_id)?;
    let key = idempotency_key(headers)?;
    // Loaded here rather than by the command, to carry the metadata: a
    // handle commits its own metadata with every event.
    let product = Product::load(&app.store, product_id.clone())
        .await?
        .with_metadata(ids.metadata(key.as_deref()));
    let mut command = Product::command(&app.store, product_id)
        .retry(app.retry)
        .on(product);
    if let Some(key) = key {
        command = command.idempotency_key(key);
    }
    let done = command.execute(decide).await?;
    command_answer(
        done.version,
        done.duplicate,
        "product",
        ProductView::of(&done.root),
    )
}

/// `POST /products/{id}/restock`
pub async fn restock<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<RestockBody>, JsonRejection>,
) -> Answer {
    let Path(product_id) = path?;
    let Json(body) = body?;
    let amount = quantity("amount", &body.amount)?;
    if let Some(buckets) = app.buckets(&product_id)? {
        let key = idempotency_key(&headers)?;
        return crate::hot_routes::restock(&app, &buckets, amount, key).await;
    }
    product_command(&app, &ids, &headers, product_id, move |p| {
        // The handler would refuse it too; deciding it here lets a repeated
        // request answer as its first run did.
        p.on_hand
            .checked_add(amount)
            .ok_or(ProductError::TooManyUnits)?;
        Ok(ProductRestocked { amount }.into())
    })
    .await
}

/// `POST /products/{id}/buy`
pub async fn buy<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<BuyBody>, JsonRejection>,
) -> Answer {
    let Path(product_id) = path?;
    let Json(body) = body?;
    let quantity = quantity("quantity", &body.quantity)?;
    id(Cart::NAME, &body.cart_id)?;
    let cart_id = body.cart_id;
    if let Some(buckets) = app.buckets(&product_id)? {
        let key = idempotency_key(&headers)?;
        return crate::hot_routes::buy(&app, &ids, &buckets, &cart_id, quantity, key).await;
    }
    product_command(&app, &ids, &headers, product_id, move |p| {
        Ok(p.reserve(&cart_id, quantity)?.into())
    })
    .await
}

/// `GET /products/{id}`
pub async fn get_product<S: EventStore>(
    State(app): State<App<S>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(product_id) = path?;
    id(Product::NAME, &product_id)?;
    if let Some(buckets) = app.buckets(&product_id)? {
        return crate::hot_routes::get(&app, &buckets).await;
    }
    match Product::find_one(&app.store, product_id.clone()).await? {
        Some(product) => Ok(Json(serde_json::json!(ProductView::of(&product)))),
        None => Err(Problem::not_found(Product::NAME, &product_id)),
    }
}

/// `GET /products?limit=n&cursor=..`: one page of products, oldest first,
/// and `next`, the cursor of the next page, or `null` after the last one.
pub async fn list_products<S: EventStore>(
    State(app): State<App<S>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Answer {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::bad_request(
            "invalid-query",
            format!("`limit` must be from 1 to {MAX_PAGE}, not {limit}"),
        ));
    }
    let cursor = match &query.cursor {
        Some(c) => Some(Cursor::new(decode_cursor(c).ok_or_else(bad_cursor)?)),
        None => None,
    };
    let given = cursor.is_some();
    let page = match app.store.list_ids(Product::NAME, Some(limit), cursor).await {
        Ok(page) => page,
        // Both stores refuse a cursor they did not hand out with a permanent
        // error that says so; that is the client's mistake, not the store's.
        Err(es::Error::Store(e))
            if given && !e.is_retryable() && e.to_string().contains("invalid cursor") =>
        {
            return Err(bad_cursor())
        }
        Err(e) => return Err(e.into()),
    };
    let store = &app.store;
    let loads = page.items.into_iter().map(|id| Product::load(store, id));
    let products: Vec<Root<Product, S>> = stream::iter(loads)
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let items: Vec<ProductView> = products.iter().map(ProductView::of).collect();
    Ok(Json(serde_json::json!({
        "items": items,
        "next": page.next.map(|c| encode_cursor(c.as_str())),
    })))
}

fn bad_cursor() -> Problem {
    Problem::bad_request(
        "invalid-cursor",
        "`cursor` must be a `next` value from an earlier page",
    )
}

/// Cursors are handed out hex-encoded: opaque to clients, and safe in a URL
/// whatever characters the ids in them have.
fn encode_cursor(raw: &str) -> String {
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) || hex.is_empty() {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// `POST /carts/{id}/items`: a line in the cart. The product must exist.
pub async fn add_item<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<AddItemBody>, JsonRejection>,
) -> Answer {
    let Path(cart_id) = path?;
    let Json(body) = body?;
    let quantity = quantity("quantity", &body.quantity)?;
    id(Cart::NAME, &cart_id)?;
    id(Product::NAME, &body.sku)?;
    let key = idempotency_key(&headers)?;
    let exists = match app.buckets(&body.sku)? {
        Some(buckets) => crate::hot_routes::exists(&app, &buckets).await?,
        None => Product::find_one(&app.store, body.sku.clone())
            .await?
            .is_some(),
    };
    if !exists {
        return Err(Problem::not_found(Product::NAME, &body.sku));
    }
    let cart = Cart::load(&app.store, cart_id.clone())
        .await?
        .with_metadata(ids.metadata(key.as_deref()));
    let mut command = Cart::command(&app.store, cart_id).retry(app.retry).on(cart);
    if let Some(key) = key {
        command = command.idempotency_key(key);
    }
    let sku = body.sku;
    let done = command
        .execute(move |cart| {
            // The handler's own checks, made in the decision so a repeated
            // request answers as its first run did.
            if cart.checked_out {
                return Err(CartError::CheckedOut);
            }
            let line = cart.lines.get(&sku).copied().unwrap_or(0);
            line.checked_add(quantity).ok_or(CartError::TooManyUnits)?;
            Ok(ItemAdded {
                sku: sku.clone(),
                quantity,
            })
        })
        .await?;
    command_answer(
        done.version,
        done.duplicate,
        "cart",
        CartView::of(&done.root),
    )
}

/// `GET /carts/{id}`
pub async fn get_cart<S: EventStore>(
    State(app): State<App<S>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(cart_id) = path?;
    id(Cart::NAME, &cart_id)?;
    match Cart::find_one(&app.store, cart_id.clone()).await? {
        Some(cart) => Ok(Json(serde_json::json!(CartView::of(&cart)))),
        None => Err(Problem::not_found(Cart::NAME, &cart_id)),
    }
}

/// `POST /carts/{id}/checkout`: the shopping domain's atomic checkout.
///
/// A checkout is one transaction across the cart and its products, which
/// es's idempotency records do not cover (they are per command on one
/// aggregate). It needs none: a checked-out cart refuses a second
/// checkout. With an `Idempotency-Key`, the key is stored as the events'
/// command id, so a repeated request finds its own `CartCheckedOut` and
/// gets the first answer instead of that refusal.
pub async fn checkout<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(cart_id) = path?;
    id(Cart::NAME, &cart_id)?;
    let key = idempotency_key(&headers)?;
    let metadata = ids.metadata(key.as_deref());
    let result = shop::checkout_with(&app.store, &cart_id, app.retry, metadata).await;
    let (attempts, duplicate) = match result {
        Ok(attempts) => (attempts, false),
        // A rejection, from the cart or a product, of a cart that turns out
        // to be checked out already: the checkout ran before. Once by this
        // very request (the same key) is a success; otherwise the cart's
        // state is the reason, whichever product would also refuse now.
        Err(
            e @ (shop::CheckoutError::Cart(es::Error::Rejected(_))
            | shop::CheckoutError::Product(es::Error::Rejected(_))),
        ) => match checked_out_by(&app.store, &cart_id).await? {
            Some(by) if key.is_some() && by == key => (0, true),
            Some(_) => return Err(CartError::CheckedOut.into()),
            None => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let cart = Cart::load(&app.store, cart_id).await?;
    Ok(Json(serde_json::json!({
        "version": cart.version(),
        "duplicate": duplicate,
        "attempts": attempts,
        "cart": CartView::of(&cart),
    })))
}

/// For a checked-out cart, the idempotency key (if any) of the request
/// that checked it out: the command id of its last event, `CartCheckedOut`,
/// which nothing follows. `None` for a cart still open.
async fn checked_out_by<S: EventStore>(
    store: &S,
    cart_id: &str,
) -> Result<Option<Option<String>>, Problem> {
    let cart = Cart::load(store, cart_id).await?;
    if !cart.checked_out {
        return Ok(None);
    }
    let history: Vec<_> = cart.history().try_collect().await?;
    Ok(Some(
        history
            .into_iter()
            .last()
            .and_then(|last| last.metadata.command_id),
    ))
}

/// `GET /products/{id}/stock`: the product's stock view, `{"on_hand",
/// "reserved"}`, as the projection keeps it (eventually consistent on
/// DynamoDB; see [`crate::read_side`]). 404 while it has none.
pub async fn get_stock(
    State(views): State<ReadSide>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(product_id) = path?;
    id(Product::NAME, &product_id)?;
    match views.stock(&product_id).await? {
        Some(stock) => Ok(Json(serde_json::json!(stock))),
        None => Err(Problem::view_not_found("stock", &product_id)),
    }
}

/// `GET /carts/{id}/view`: the cart's view, `{"lines", "reserved",
/// "checked_out"}`, where `reserved` is what products hold for the cart
/// (from `buy` as well as `checkout`). 404 while it has none.
pub async fn get_cart_view(
    State(views): State<ReadSide>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(cart_id) = path?;
    id(Cart::NAME, &cart_id)?;
    match views.cart(&cart_id).await? {
        Some(cart) => Ok(Json(serde_json::json!(cart))),
        None => Err(Problem::view_not_found("cart", &cart_id)),
    }
}

/// Any path no route matches.
pub async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    Problem::no_route(method.as_str(), uri.path())
}

/// A route that exists, asked with a method it does not take.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    Problem::wrong_method(method.as_str(), uri.path())
}

/// `GET /health`: the process is up. Reads nothing.
pub async fn health() -> StatusCode {
    StatusCode::NO_CONTENT
}
