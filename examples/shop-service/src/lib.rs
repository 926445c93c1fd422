//! The shopping service: the shopping domain of `examples/shopping` as an
//! HTTP API, one axum [`Router`] that runs on AWS Lambda (through
//! `lambda_http`, behind an API Gateway HTTP API) and on a local socket alike.
//!
//! ```no_run
//! # async fn serve() -> std::io::Result<()> {
//! let app = shop_service::router(es::MemoryStore::new());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! The routes are in [`routes`]; every failure is a [`problem::Problem`],
//! answered as `application/problem+json`; [`trace`] carries the request
//! and trace ids into each event's metadata and into the JSON logs.
//!
//! The read side: the shop's views ([`views`], shared with the `shopping`
//! example) are kept by the projection function ([`projection`], the
//! `shop-projection` binary) and read by the API through a
//! [`read_side::ReadSide`], given with [`App::with_views`]:
//!
//! ```no_run
//! # async fn serve() -> std::io::Result<()> {
//! use shop_service::{read_side::ReadSide, App};
//! let store = es::MemoryStore::new();
//! let app = App::new(store.clone())
//!     .with_views(ReadSide::memory(&store))
//!     .router();
//! # let _ = app; Ok(()) }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod deadline;
pub mod expiry;
mod hot_routes;
pub mod idempotency;
pub mod keys;
pub mod problem;
pub mod projection;
pub mod publisher;
pub mod read_side;
pub mod routes;
pub mod trace;

/// The shopping domain, shared with the `shopping` example and the tests:
/// `Product`, `Cart` and the atomic `checkout`.
#[path = "../../shopping/shop.rs"]
#[allow(missing_docs)]
pub mod shop;

/// Hot products: a product's stock split over bucket aggregates, shared
/// with the tests and the flash-sale bench.
#[path = "../../shopping/hot.rs"]
#[allow(missing_docs)]
pub mod hot;

/// The shop's read side, shared with the `shopping` example: `ShopViews`,
/// one projection that keeps a `stock` view per product and a `cart` view
/// per cart.
#[path = "../../shopping/views.rs"]
#[allow(missing_docs)]
pub mod views;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use es::EventStore;

use read_side::ReadSide;

/// The largest request body accepted. Bodies here are a few small fields;
/// anything larger is refused with 413 before it is parsed.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What every handler shares: the store, how commands retry, the views,
/// how long a buy holds stock, and the clock that says when.
#[derive(Clone)]
pub struct App<S> {
    /// The event store.
    pub store: S,
    /// The retry policy of every command.
    pub retry: es::Retry,
    /// The views the view routes read; without them, those routes are not
    /// served.
    pub views: Option<ReadSide>,
    /// How long a buy holds stock unless the cart checks out.
    pub hold: std::time::Duration,
    /// Now: the system's clock, or a test's.
    pub clock: std::sync::Arc<dyn es::Clock>,
    /// Hot products: SKU and number of buckets (see `hot_routes.rs`).
    pub hot: std::sync::Arc<std::collections::BTreeMap<String, u32>>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for App<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.store)
            .field("retry", &self.retry)
            .field("views", &self.views)
            .field("hold", &self.hold)
            .field("hot", &self.hot)
            .finish_non_exhaustive()
    }
}

impl<S: EventStore> App<S> {
    /// The service on `store`, with es's default retry policy and no views.
    pub fn new(store: S) -> Self {
        App {
            store,
            retry: es::Retry::default(),
            views: None,
            hold: shop::DEFAULT_HOLD,
            clock: std::sync::Arc::new(es::SystemClock),
            hot: Default::default(),
        }
    }

    /// Makes each product of `hot` (SKU and number of buckets, as
    /// [`hot_products_from_env`] reads them) a hot product. Every process
    /// of the service must agree.
    pub fn with_hot_products(mut self, hot: std::collections::BTreeMap<String, u32>) -> Self {
        std::sync::Arc::make_mut(&mut self.hot).extend(hot);
        self
    }

    /// Makes `sku` a hot product, its stock split over `buckets` bucket
    /// aggregates (1 to 99). Every process of the service must agree.
    pub fn with_hot_product(mut self, sku: impl Into<String>, buckets: u32) -> Self {
        std::sync::Arc::make_mut(&mut self.hot).insert(sku.into(), buckets);
        self
    }

    /// The buckets of `sku` when it is a hot product.
    pub(crate) fn buckets(
        &self,
        sku: &str,
    ) -> Result<Option<es::buckets::Buckets<hot::ProductBucket>>, problem::Problem> {
        match self.hot.get(sku) {
            Some(&count) => Ok(Some(
                es::buckets::Buckets::new(sku, count).map_err(problem::Problem::from)?,
            )),
            None => Ok(None),
        }
    }

    /// Where the products' stock is kept: the hot products' in their
    /// buckets, the others' in their `Product` aggregates.
    pub fn shelves(&self) -> hot::HotShelves {
        hot::HotShelves::new(self.hot.clone())
    }

    /// Buys hold stock for `hold` (15 minutes by default).
    pub fn with_hold(mut self, hold: std::time::Duration) -> Self {
        self.hold = hold;
        self
    }

    /// Reads the time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: impl es::Clock) -> Self {
        self.clock = std::sync::Arc::new(clock);
        self
    }

    /// The service with the view routes, `GET /products/{id}/stock` and
    /// `GET /carts/{id}/view`, reading `views`.
    pub fn with_views(mut self, views: ReadSide) -> Self {
        self.views = Some(views);
        self
    }

    /// The router: every route, the problem+json fallbacks, the body limit
    /// and the request tracking.
    pub fn router(self) -> Router {
        use routes::*;
        // The view routes have their own state, the read side: they never
        // touch the event store.
        let views = match &self.views {
            Some(views) => Router::new()
                .route("/products/{id}/stock", get(get_stock))
                .route("/carts/{id}/view", get(get_cart_view))
                .route("/carts/{id}/order", get(get_order))
                .with_state(views.clone()),
            None => Router::new(),
        };
        Router::new()
            .route("/health", get(health))
            .route(
                "/products",
                get(list_products::<S>).post(create_product::<S>),
            )
            .route("/products/{id}", get(get_product::<S>))
            .route("/products/{id}/restock", post(restock::<S>))
            .route("/products/{id}/buy", post(buy::<S>))
            .route("/carts", post(create_cart::<S>))
            .route("/carts/{id}", get(get_cart::<S>))
            .route("/carts/{id}/items", post(add_item::<S>))
            .route("/carts/{id}/checkout", post(checkout::<S>))
            .route("/customers/{id}", delete(forget_customer::<S>))
            .merge(views)
            // After the routes: it applies to those registered before it.
            .method_not_allowed_fallback(wrong_method)
            .fallback(no_route)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            // A keyed request's fingerprint, from its body.
            .layer(axum::middleware::from_fn(idempotency::fingerprint))
            // Every request answered before the function's time is up.
            .layer(axum::middleware::from_fn(deadline::deadline))
            // Outermost: ids for all, and a log line for every answer.
            .layer(axum::middleware::from_fn(trace::track))
            .with_state(self)
    }
}

/// The hot products named in `SHOP_HOT_PRODUCTS`: `sku=buckets` pairs,
/// comma-separated (`mug=8,tee=4`); none when it is unset or empty.
///
/// A pair that does not parse, a count outside 1 to 99 or a SKU named twice
/// is an error that names it, and the binaries refuse to start on it:
/// leaving a product out would sell it from its `Product` aggregate while
/// its stock sits in its buckets, and answer "sold out" with stock left.
pub fn hot_products_from_env() -> Result<std::collections::BTreeMap<String, u32>, String> {
    let spec = match std::env::var("SHOP_HOT_PRODUCTS") {
        Ok(spec) => spec,
        Err(std::env::VarError::NotPresent) => return Ok(Default::default()),
        Err(e) => return Err(format!("SHOP_HOT_PRODUCTS: {e}")),
    };
    parse_hot_products(&spec).map_err(|e| format!("SHOP_HOT_PRODUCTS={spec:?}: {e}"))
}

/// `mug=8,tee=4` as SKUs and their numbers of buckets.
fn parse_hot_products(spec: &str) -> Result<std::collections::BTreeMap<String, u32>, String> {
    let mut hot = std::collections::BTreeMap::new();
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((sku, count)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not `sku=buckets`"));
        };
        let (sku, count) = (sku.trim(), count.trim());
        if sku.is_empty() {
            return Err(format!("{pair:?} names no SKU"));
        }
        let count = count
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=es::buckets::MAX_BUCKETS).contains(n))
            .ok_or_else(|| {
                format!(
                    "{pair:?}: {count:?} is not a number of buckets from 1 to {}",
                    es::buckets::MAX_BUCKETS
                )
            })?;
        if hot.insert(sku.to_owned(), count).is_some() {
            return Err(format!("{sku:?} is named twice"));
        }
    }
    Ok(hot)
}

/// The router on `store`, without the view routes: `App::new(store).router()`.
pub fn router<S: EventStore>(store: S) -> Router {
    App::new(store).router()
}

/// Resolves on SIGTERM (what Lambda, ECS, Kubernetes and systemd send to
/// stop a process) or Ctrl-C, with the signal's name. Where a handler
/// cannot be installed, it waits for the other.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            return tokio::select! {
                Ok(()) = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = terminate.recv() => "SIGTERM",
            };
        }
    }
    match tokio::signal::ctrl_c().await {
        Ok(()) => "Ctrl-C",
        Err(_) => std::future::pending().await,
    }
}

/// Sets up logging: one JSON object per line on stdout, as CloudWatch Logs
/// reads it, at the level `RUST_LOG` names (`info` by default; `tracing`'s
/// target syntax, e.g. `info,es=debug`). Safe to call twice.
pub fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let format = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true);
    let _ = tracing_subscriber::registry()
        .with(format.with_filter(filter))
        .try_init();
}

#[cfg(test)]
mod hot_products {
    use super::parse_hot_products;

    #[test]
    fn pairs_parse_and_mistakes_are_named() {
        let hot = parse_hot_products(" mug=8, tee = 4 ,").expect("parses");
        assert_eq!(
            hot.into_iter().collect::<Vec<_>>(),
            [("mug".to_owned(), 8), ("tee".to_owned(), 4)]
        );
        assert!(parse_hot_products("").expect("empty").is_empty());
        for (spec, said) in [
            ("mug", "\"mug\" is not `sku=buckets`"),
            ("=4", "\"=4\" names no SKU"),
            (
                "mug=0",
                "\"mug=0\": \"0\" is not a number of buckets from 1 to 99",
            ),
            ("mug=100", "from 1 to 99"),
            ("mug=eight", "\"eight\" is not a number"),
            ("mug=8,mug=4", "\"mug\" is named twice"),
        ] {
            let error = parse_hot_products(spec).expect_err(spec);
            assert!(error.contains(said), "{spec}: {error}");
        }
    }
}
