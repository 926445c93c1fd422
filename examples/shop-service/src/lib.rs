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

/// The shop's read side, shared with the `shopping` example: `ShopViews`,
/// one projection that keeps a `stock` view per product and a `cart` view
/// per cart.
#[path = "../../shopping/views.rs"]
#[allow(missing_docs)]
pub mod views;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use es::EventStore;

use read_side::ReadSide;

/// The largest request body accepted. Bodies here are a few small fields;
/// anything larger is refused with 413 before it is parsed.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What every handler shares: the store, how commands retry, and the views.
#[derive(Clone, Debug)]
pub struct App<S> {
    /// The event store.
    pub store: S,
    /// The retry policy of every command.
    pub retry: es::Retry,
    /// The views the view routes read; without them, those routes are not
    /// served.
    pub views: Option<ReadSide>,
}

impl<S: EventStore> App<S> {
    /// The service on `store`, with es's default retry policy and no views.
    pub fn new(store: S) -> Self {
        App {
            store,
            retry: es::Retry::default(),
            views: None,
        }
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
                .with_state(views.clone()),
            None => Router::new(),
        };
        Router::new()
            .route("/health", get(health))
            .route("/products", get(list_products::<S>))
            .route("/products/{id}", get(get_product::<S>))
            .route("/products/{id}/restock", post(restock::<S>))
            .route("/products/{id}/buy", post(buy::<S>))
            .route("/carts/{id}", get(get_cart::<S>))
            .route("/carts/{id}/items", post(add_item::<S>))
            .route("/carts/{id}/checkout", post(checkout::<S>))
            .merge(views)
            // After the routes: it applies to those registered before it.
            .method_not_allowed_fallback(wrong_method)
            .fallback(no_route)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn(trace::track))
            .with_state(self)
    }
}

/// The router on `store`, without the view routes: `App::new(store).router()`.
pub fn router<S: EventStore>(store: S) -> Router {
    App::new(store).router()
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
