//! The routes: JSON in, JSON out, a [`Problem`] for every failure.
//!
//! | route | does |
//! |---|---|
//! | `POST /products/{id}/restock` `{"amount": n}` | adds stock |
//! | `POST /products/{id}/buy` `{"cart_id": "..", "quantity": n}` | reserves stock for the cart now |
//! | `POST /carts/{id}/items` `{"sku": "..", "quantity": n}` | puts a line in the cart, reserving nothing yet |
//! | `POST /carts/{id}/checkout` `{"customer": "..", "email": "..", "address": {..}}` | reserves every line of the cart and closes it, atomically; the email and address are sealed under the customer's key |
//! | `DELETE /customers/{id}` | forgets the customer: their email and addresses read as `[erased]` and empty everywhere, for good |
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
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use es::prelude::*;
use es::store::Cursor;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::idempotency::{key_reused, Fingerprint};
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
    /// What buys hold for the cart, by product id, each with its deadline
    /// (`until_millis`, milliseconds since the Unix epoch); left out when
    /// none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holds: BTreeMap<String, shop::Hold>,
    /// Holds that ran out, by product id, with when: the cart checks out
    /// only once they are bought again. Left out when none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lapsed: BTreeMap<String, u64>,
}

impl CartView {
    fn of<S: EventStore>(root: &Root<Cart, S>) -> Self {
        CartView {
            id: root.id().to_owned(),
            version: root.version(),
            lines: root.lines.clone(),
            checked_out: root.checked_out,
            holds: root.holds.clone(),
            lapsed: root.lapsed.clone(),
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

/// What a command did, for its answer.
struct Done<V> {
    version: u64,
    duplicate: bool,
    view: V,
}

impl<V: Serialize> Done<V> {
    fn answer(self, key: &str) -> Answer {
        command_answer(self.version, self.duplicate, key, self.view)
    }
}

/// For a repeat (`duplicate`) under `key`: checks the request against the
/// one that first ran, whose last event is at `version` of `root`.
async fn check_repeat<A: Aggregate, S: EventStore>(
    root: &Root<A, S>,
    version: u64,
    key: Option<&str>,
    fingerprint: &Fingerprint,
) -> Result<(), Problem>
where
    A::Error: Into<Problem> + std::fmt::Display,
{
    let Some(key) = key else { return Ok(()) };
    let first = std::pin::pin!(root.history_after(version.saturating_sub(1)))
        .try_next()
        .await?;
    match first {
        Some(first) => fingerprint.check(key, &first.metadata),
        None => Ok(()),
    }
}

/// For a repeat of a command across a product and a cart: the first run
/// must have written one of them, and its request must be this one.
async fn check_repeat_across<S: EventStore>(
    done: &es::Done,
    product: Option<&Root<Product, S>>,
    cart: &Root<Cart, S>,
    key: Option<&str>,
    fingerprint: &Fingerprint,
) -> Result<(), Problem> {
    if let Some((product, version)) =
        product.and_then(|p| Some((p, done.version_of(Product::NAME, p.id())?)))
    {
        return check_repeat(product, version, key, fingerprint).await;
    }
    if let Some(version) = done.version_of(Cart::NAME, cart.id()) {
        return check_repeat(cart, version, key, fingerprint).await;
    }
    Err(key_reused(
        key.unwrap_or_default(),
        "ran a command on other aggregates",
    ))
}

/// Runs a decision on a product, as an idempotent command when the request
/// has a key, with the request's ids (and fingerprint) in the events'
/// metadata.
async fn product_command<S: EventStore>(
    app: &App<S>,
    ids: &RequestIds,
    key: Option<String>,
    fingerprint: &Fingerprint,
    product_id: String,
    decide: impl FnMut(&Product) -> Result<shop::ProductEvent, ProductError> + Send,
) -> Result<Done<ProductView>, Problem> {
    id(Product::NAME, &product_id)?;
    // Loaded here rather than by the command, to carry the metadata: a
    // handle commits its own metadata with every event.
    let product = Product::load(&app.store, product_id.clone())
        .await?
        .with_metadata(fingerprint.stamp(ids.metadata(key.as_deref())));
    let mut command = Product::command(&app.store, product_id)
        .retry(app.retry)
        .on(product);
    if let Some(key) = key.clone() {
        command = command.idempotency_key(key);
    }
    let done = command.execute(decide).await?;
    if done.duplicate {
        check_repeat(&done.root, done.version, key.as_deref(), fingerprint).await?;
    }
    Ok(Done {
        version: done.version,
        duplicate: done.duplicate,
        view: ProductView::of(&done.root),
    })
}

/// `POST /products/{id}/restock`
pub async fn restock<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    fingerprint: Fingerprint,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<RestockBody>, JsonRejection>,
) -> Answer {
    let Path(product_id) = path?;
    let Json(body) = body?;
    let amount = quantity("amount", &body.amount)?;
    let key = idempotency_key(&headers)?;
    if let Some(buckets) = app.buckets(&product_id)? {
        return crate::hot_routes::restock(&app, &buckets, amount, key).await;
    }
    product_command(&app, &ids, key, &fingerprint, product_id, move |p| {
        // The handler would refuse it too; deciding it here lets a repeated
        // request answer as its first run did.
        p.on_hand
            .checked_add(amount)
            .ok_or(ProductError::TooManyUnits)?;
        Ok(ProductRestocked { amount }.into())
    })
    .await?
    .answer("product")
}

/// `POST /products/{id}/buy`
pub async fn buy<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    fingerprint: Fingerprint,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<BuyBody>, JsonRejection>,
) -> Answer {
    let Path(product_id) = path?;
    let Json(body) = body?;
    let quantity = quantity("quantity", &body.quantity)?;
    id(Cart::NAME, &body.cart_id)?;
    id(Product::NAME, &product_id)?;
    let key = idempotency_key(&headers)?;
    let cart_id = body.cart_id;
    // One command across the product and the cart: the product reserves
    // the units (a hot product, in its buckets: see hot_routes.rs), the
    // cart holds them until the deadline.
    let metadata = fingerprint.stamp(ids.metadata(key.as_deref()));
    let now = app.clock.now_millis();
    let done = shop::buy_on(
        &app.store,
        &app.shelves(),
        &shop::Purchase {
            sku: &product_id,
            cart_id: &cart_id,
            quantity,
            hold: app.hold,
            now_millis: now,
        },
        metadata,
        key.clone(),
    )
    .await?;
    let cart = Cart::load(&app.store, cart_id.clone()).await?;
    let (product, view) = match app.buckets(&product_id)? {
        Some(buckets) => (None, crate::hot_routes::view(&app, &buckets).await?),
        None => {
            let product = Product::load(&app.store, product_id.clone()).await?;
            let view = ProductView::of(&product);
            (Some(product), view)
        }
    };
    if done.duplicate {
        check_repeat_across(&done, product.as_ref(), &cart, key.as_deref(), &fingerprint).await?;
    }
    // A hot product's version is its buckets' sum, which no one commit has.
    let version = match product {
        Some(_) => done.version_of(Product::NAME, &product_id).unwrap_or(0),
        None => view.version,
    };
    Ok(Json(serde_json::json!({
        "version": version,
        "duplicate": done.duplicate,
        "product": view,
        "hold": cart.holds.get(&product_id),
    })))
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
    let mut items: Vec<ProductView> = products
        .iter()
        .filter(|p| !app.hot.contains_key(p.id()))
        .map(ProductView::of)
        .collect();
    // Hot products have no `Product` aggregate: they follow the last page.
    if page.next.is_none() {
        items.extend(crate::hot_routes::listed(&app).await?);
    }
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
    fingerprint: Fingerprint,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<AddItemBody>, JsonRejection>,
) -> Answer {
    let Path(cart_id) = path?;
    let Json(body) = body?;
    let quantity = quantity("quantity", &body.quantity)?;
    let key = idempotency_key(&headers)?;
    cart_command(&app, &ids, key, &fingerprint, cart_id, body.sku, quantity)
        .await?
        .answer("cart")
}

/// Adds `quantity` of `sku` to the cart `cart_id`, as an idempotent
/// command when the request has a key. The product must exist.
async fn cart_command<S: EventStore>(
    app: &App<S>,
    ids: &RequestIds,
    key: Option<String>,
    fingerprint: &Fingerprint,
    cart_id: String,
    sku: String,
    quantity: u32,
) -> Result<Done<CartView>, Problem> {
    id(Cart::NAME, &cart_id)?;
    id(Product::NAME, &sku)?;
    let exists = match app.buckets(&sku)? {
        Some(buckets) => crate::hot_routes::exists(app, &buckets).await?,
        None => Product::find_one(&app.store, sku.clone()).await?.is_some(),
    };
    if !exists {
        return Err(Problem::not_found(Product::NAME, &sku));
    }
    let cart = Cart::load(&app.store, cart_id.clone())
        .await?
        .with_metadata(fingerprint.stamp(ids.metadata(key.as_deref())));
    let mut command = Cart::command(&app.store, cart_id).retry(app.retry).on(cart);
    if let Some(key) = key.clone() {
        command = command.idempotency_key(key);
    }
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
    if done.duplicate {
        check_repeat(&done.root, done.version, key.as_deref(), fingerprint).await?;
    }
    Ok(Done {
        version: done.version,
        duplicate: done.duplicate,
        view: CartView::of(&done.root),
    })
}

/// An answer 201 Created, with `Location` and the created resource.
fn created<V: Serialize>(kind: &str, id: &str, done: Done<V>) -> Result<Response, Problem> {
    let location = format!("/{kind}s/{id}");
    let mut response = (
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": id,
            "version": done.version,
            "duplicate": done.duplicate,
            kind: done.view,
        })),
    )
        .into_response();
    let location = HeaderValue::from_str(&location).map_err(|_| {
        Problem::internal(format_args!("a Location that is no header: {location:?}"))
    })?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// The id a keyed create made when it ran before under `key`: its record
/// names the aggregate it wrote. `None` when the key never ran; 422 when it
/// ran a command on another kind of aggregate.
async fn created_before<S: EventStore>(
    store: &S,
    key: &str,
    aggregate: &'static str,
) -> Result<Option<(String, u64)>, Problem> {
    let Some(record) = store.command(key).await? else {
        return Ok(None);
    };
    match record.outcome.iter().find(|(a, _, _)| a == aggregate) {
        Some((_, id, version)) => Ok(Some((id.clone(), *version))),
        None => Err(key_reused(key, "already ran another command")),
    }
}

/// `POST /products` `{"amount": n}`: a new product, with a server-made id
/// (a UUID v4) and `n` units on hand. 201 with `Location: /products/{id}`.
/// With an `Idempotency-Key`, a repeat creates nothing and answers with the
/// first run's id.
pub async fn create_product<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    fingerprint: Fingerprint,
    headers: HeaderMap,
    body: Result<Json<RestockBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(body) = body?;
    let amount = quantity("amount", &body.amount)?;
    let key = idempotency_key(&headers)?;
    create::<Product, _, _, _, _>(&app, &fingerprint, key.clone(), ProductView::of, |id| {
        product_command(&app, &ids, key.clone(), &fingerprint, id, move |_| {
            Ok(ProductRestocked { amount }.into())
        })
    })
    .await
}

/// `POST /carts` `{"sku": "..", "quantity": n}`: a new cart, with a
/// server-made id (a UUID v4) and its first line. 201 with
/// `Location: /carts/{id}`. With an `Idempotency-Key`, a repeat creates
/// nothing and answers with the first run's id.
pub async fn create_cart<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    fingerprint: Fingerprint,
    headers: HeaderMap,
    body: Result<Json<AddItemBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(body) = body?;
    let quantity = quantity("quantity", &body.quantity)?;
    id(Product::NAME, &body.sku)?;
    let key = idempotency_key(&headers)?;
    create::<Cart, _, _, _, _>(&app, &fingerprint, key.clone(), CartView::of, |id| {
        cart_command(
            &app,
            &ids,
            key.clone(),
            &fingerprint,
            id,
            body.sku.clone(),
            quantity,
        )
    })
    .await
}

/// Creates an aggregate of `A` with a server-made id (a UUID v4) through
/// `command`, answering 201 with its `view`. With an `Idempotency-Key`, a
/// repeat creates nothing and answers with the first run's id; a concurrent
/// repeat may take the key between the look and the write, so it looks
/// twice at most.
async fn create<A, S, V, F, Fut>(
    app: &App<S>,
    fingerprint: &Fingerprint,
    key: Option<String>,
    view: fn(&Root<A, S>) -> V,
    mut command: F,
) -> Result<Response, Problem>
where
    A: Aggregate,
    A::Error: Into<Problem> + std::fmt::Display,
    S: EventStore,
    V: Serialize,
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Done<V>, Problem>>,
{
    let kind = A::NAME.to_lowercase();
    for _ in 0..2 {
        if let Some(key) = &key {
            if let Some((id, version)) = created_before(&app.store, key, A::NAME).await? {
                let root = Root::<A, S>::load(&app.store, id.clone()).await?;
                check_repeat(&root, version, Some(key), fingerprint).await?;
                let done = Done {
                    version,
                    duplicate: true,
                    view: view(&root),
                };
                return created(&kind, &id, done);
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        match command(id.clone()).await {
            Ok(done) => return created(&kind, &id, done),
            Err(problem) if key.is_some() && problem.rule == "idempotency-key-reused" => continue,
            Err(problem) => return Err(problem),
        }
    }
    Err(Problem::unavailable(
        "store-busy",
        "the idempotency key was taken meanwhile; retry",
    ))
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
/// One command across the cart and its products ([`shop::checkout_as`]).
/// With an `Idempotency-Key`, the key's record is written in the same
/// transaction: a repeated request gets the first answer (after its
/// fingerprint is checked), not the refusal of a checked-out cart. A hold
/// that ran out refuses the checkout with 409 `hold-expired`.
pub async fn checkout<S: EventStore>(
    State(app): State<App<S>>,
    ids: RequestIds,
    fingerprint: Fingerprint,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<shop::Shipping>, JsonRejection>,
) -> Answer {
    let Path(cart_id) = path?;
    id(Cart::NAME, &cart_id)?;
    let Json(shipping) = body?;
    let key = idempotency_key(&headers)?;
    let metadata = fingerprint.stamp(ids.metadata(key.as_deref()));
    let now = app.clock.now_millis();
    let done = shop::checkout_on(
        &app.store,
        &app.shelves(),
        &cart_id,
        &shipping,
        app.retry,
        metadata,
        key.clone(),
        now,
    )
    .await?;
    let cart = Cart::load(&app.store, cart_id.clone()).await?;
    if done.duplicate {
        match done.version_of(Cart::NAME, &cart_id) {
            Some(version) => check_repeat(&cart, version, key.as_deref(), &fingerprint).await?,
            None => {
                return Err(key_reused(
                    key.as_deref().unwrap_or_default(),
                    "ran another command, not this cart's checkout",
                ))
            }
        }
    }
    Ok(Json(serde_json::json!({
        "version": cart.version(),
        "duplicate": done.duplicate,
        "attempts": done.attempts,
        "cart": CartView::of(&cart),
    })))
}

/// `DELETE /customers/{id}`: forgets the customer, by deleting their key
/// (see `es::erasure`). From then on every reader sees placeholders for
/// their email and addresses (`[erased]`, an empty address): loads, the
/// views, rebuilds, the stream's subscribers. A checkout for them is
/// refused with 410 `customer-forgotten`. 204, also when the customer was
/// forgotten before or never checked out.
///
/// Who may call it is the deployment's concern (an authorizer on the API):
/// the shop itself does not authenticate.
pub async fn forget_customer<S: EventStore>(
    State(app): State<App<S>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Path(customer) = path?;
    if let Err(why) = shop::check_customer(&customer) {
        return Err(Problem::bad_request(
            "invalid-id",
            format!("customer id {:?}: {why}", shorten(&customer)),
        ));
    }
    let Some(vault) = app.store.vault() else {
        return Err(Problem::internal(
            "the store has no vault for personal data",
        ));
    };
    vault.forget(&customer).await?;
    tracing::info!(customer = %customer, "customer forgotten");
    Ok(StatusCode::NO_CONTENT)
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

/// `GET /carts/{id}/order`: where a checked-out cart ships, from the order
/// view: `{"customer", "email", "address", "forgotten"}`. The view holds
/// the email and address sealed; they are opened here, and read as
/// `"[erased]"` and `null` once the customer is forgotten. 404 while the
/// view has none.
pub async fn get_order(
    State(views): State<ReadSide>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(cart_id) = path?;
    id(Cart::NAME, &cart_id)?;
    match views.order(&cart_id).await? {
        Some(order) => Ok(Json(views.shipping(&order).await?)),
        None => Err(Problem::view_not_found("order", &cart_id)),
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
