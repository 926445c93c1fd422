//! The macros of [es](https://docs.rs/es): `#[derive(Event)]`,
//! `#[derive(Aggregate)]` and `#[es::handlers]`. Use them through the `es`
//! crate, which re-exports them; the code they generate refers to `::es`, or
//! to the path given with `crate = ..` in each macro's attribute.
//!
//! The structure follows thiserror's: `ast` reads the input, `attr` parses
//! the attributes, `valid` checks the rules, `expand` and `handlers` generate
//! code, and `fallback` stands in when the input is invalid, so that every
//! mistake is reported once, at the token that is wrong.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod handlers;
mod personal;
mod projection;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Implements `es::Event` for a struct or an enum.
///
/// ```
/// use es::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(name = "ProductReserved", version = 2)] // both optional
/// pub struct ProductReserved { pub cart_id: String, pub quantity: u32 }
///
/// assert_eq!(<ProductReserved as es::Event>::NAME, "ProductReserved");
/// assert_eq!(<ProductReserved as es::Event>::VERSION, 2);
/// ```
///
/// - `name`: the stored event name, the `type` attribute. Defaults to the
///   type's name. Any non-empty string; it must not change once events are
///   stored, and it must be unique among one aggregate's events (checked when
///   the aggregate's `#[es::handlers]` compiles).
/// - `version`: the payload's schema version, from 1 (the default). Items
///   record the version they were written with; raise it when the shape
///   changes, and give upcasters for the older versions still stored.
/// - `aliases("..", ..)`: names the event was stored under before a rename.
///   An item stored under one loads, projects and streams as this event; new
///   items are written under `name`. An alias differs from `name` and is
///   listed once; one that is another event's name or alias in the same
///   aggregate fails to compile (checked by `#[es::handlers]`).
/// - `upcast(v1 = OldShape1, v2 = OldShape2, with = path::to::fn)`: how to
///   read items of older schemas, each one at most once. `vN = Type` reads a
///   payload stored at schema `N` as `Type`, a plain `Deserialize` type with
///   the old shape, then converts it with `From` into the next newer shape
///   given, and the newest into the event. So raising the version adds one
///   `From` and leaves the older ones as they were. `with = f` reads any
///   older schema that no `vN` covers: `f` is a `fn(serde_json::Value, u32)
///   -> Result<Self, E>` taking the stored payload as JSON and its schema,
///   where `E: Display` says why it cannot. A schema with neither is refused
///   when read, with an error naming the missing upcaster, and a schema newer
///   than `version` is always refused: it may mean what this build cannot
///   know. Stored items are never rewritten.
/// - `crate`: the path the generated code reaches es by, `::es` by default,
///   for a crate that re-exports es or depends on it under another name (as
///   serde's `#[serde(crate = "..")]`). It is a path, not a string:
///
/// ```
/// // A framework that re-exports es, as its users would see it:
/// mod framework {
///     pub use ::es as runtime;
/// }
///
/// use framework::runtime;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(runtime::Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(crate = framework::runtime)]
/// pub struct ProductRestocked { pub amount: u32 }
///
/// #[derive(runtime::Aggregate, Clone, Debug, Default)]
/// #[aggregate(crate = framework::runtime)]
/// pub struct Product { pub on_hand: u32 }
///
/// #[runtime::handlers(crate = framework::runtime)]
/// impl Product {
///     #[framework::runtime::on(ProductRestocked)]
///     fn restocked(&mut self, e: &ProductRestocked) {
///         self.on_hand += e.amount;
///     }
/// }
///
/// assert_eq!(<ProductRestocked as runtime::Event>::NAME, "ProductRestocked");
/// let event: ProductEvent = ProductRestocked { amount: 1 }.into();
/// assert!(matches!(event, ProductEvent::ProductRestocked(_)));
/// ```
///
/// Schema evolution, a rename and two changes of shape:
///
/// ```
/// use es::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// /// Version 1, stored as `ProductHeld`: `qty`.
/// #[derive(Deserialize)]
/// pub struct ProductReservedV1 { pub qty: u32 }
///
/// /// Version 2: `qty` became `quantity`.
/// #[derive(Deserialize)]
/// pub struct ProductReservedV2 { pub quantity: u32 }
///
/// impl From<ProductReservedV1> for ProductReservedV2 {
///     fn from(v1: ProductReservedV1) -> Self {
///         ProductReservedV2 { quantity: v1.qty }
///     }
/// }
///
/// /// Version 3, the current one: reservations name their cart.
/// #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(
///     name = "ProductReserved",
///     version = 3,
///     aliases("ProductHeld"),
///     upcast(v1 = ProductReservedV1, v2 = ProductReservedV2)
/// )]
/// pub struct ProductReserved { pub quantity: u32, pub cart_id: Option<String> }
///
/// impl From<ProductReservedV2> for ProductReserved {
///     fn from(v2: ProductReservedV2) -> Self {
///         ProductReserved { quantity: v2.quantity, cart_id: None }
///     }
/// }
///
/// /// Version 1 stored the amount as a string; a function reads it.
/// #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(version = 2, upcast(with = restocked_v1))]
/// pub struct ProductRestocked { pub amount: u32 }
///
/// fn restocked_v1(payload: serde_json::Value, _schema: u32) -> Result<ProductRestocked, String> {
///     let amount = payload["amount"].as_str().ok_or("`amount` is not a string")?;
///     let amount = amount.parse().map_err(|e| format!("`amount` {amount:?}: {e}"))?;
///     Ok(ProductRestocked { amount })
/// }
///
/// # #[derive(Aggregate, Clone, Debug, Default)]
/// # pub struct Product { pub on_hand: u32, pub reserved: u32 }
/// # #[es::handlers]
/// # impl Product {
/// #     #[on(ProductRestocked)]
/// #     fn restocked(&mut self, e: &ProductRestocked) { self.on_hand += e.amount; }
/// #     #[on(ProductReserved)]
/// #     fn reserved(&mut self, e: &ProductReserved) { self.reserved += e.quantity; }
/// # }
/// use es::store::{Append, Commit, StoredEvent};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // Items as older builds wrote them: never rewritten, read as they are.
/// let store = MemoryStore::new();
/// let old = |version, name: &str, schema, payload| StoredEvent {
///     version,
///     name: name.to_owned(),
///     schema,
///     timestamp: "2026-01-01T00:00:00.000Z".to_owned(),
///     payload: Some(payload),
///     metadata: None,
///     snapshot: None,
/// };
/// store.commit(Commit {
///     appends: vec![Append {
///         aggregate: "Product",
///         id: "sku-1".to_owned(),
///         expected: 0,
///         events: vec![
///             old(1, "ProductRestocked", 1, serde_json::json!({ "amount": "10" })),
///             old(2, "ProductHeld", 1, serde_json::json!({ "qty": 2 })),
///             old(3, "ProductReserved", 2, serde_json::json!({ "quantity": 3 })),
///         ],
///     }],
///     command: None,
///     exact_conflict: true,
/// }).await?;
///
/// let product = Product::load(&store, "sku-1").await?;
/// assert_eq!((product.on_hand, product.reserved), (10, 5));
/// # Ok::<_, es::Error>(()) }).unwrap();
/// ```
///
/// Loads, `history()`, projections and stream records all read old items
/// this way, on every store. `docs/evolution.md` walks through a rename and
/// an upcast end to end.
///
/// Generic types are not supported: one stored name must stand for one type.
/// Nor are types that borrow: events are loaded back from the store, so each
/// is `'static` and `DeserializeOwned`. Unions are not supported.
///
/// The code the macros generate reaches serde through `es`, but an event's
/// own `Serialize` and `Deserialize` are the user's: depend on serde directly,
/// with its `derive` feature (`serde = { version = "1", features = ["derive"] }`).
#[proc_macro_derive(Event, attributes(event, personal, subject))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_event(&input).into()
}

/// Implements `es::Aggregate` for a struct, or an enum (a state machine).
///
/// ```
/// use es::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// # #[derive(Debug, thiserror::Error)]
/// # #[error("sold out")]
/// # pub struct ProductError;
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// # pub struct ProductRestocked { pub amount: u32 }
/// #[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
/// #[aggregate(name = "Product", error = ProductError, snapshot_every = 50)] // all optional
/// pub struct Product { pub on_hand: u32 }
///
/// #[es::handlers]
/// impl Product {
///     #[on(ProductRestocked)]
///     fn restocked(&mut self, e: &ProductRestocked) {
///         self.on_hand += e.amount;
///     }
/// }
///
/// assert_eq!(<Product as es::Aggregate>::NAME, "Product");
/// assert_eq!(<Product as es::Aggregate>::SNAPSHOT_EVERY, 50);
/// ```
///
/// - `name`: the stored aggregate name, the prefix of its key. Defaults to the
///   type's name. It cannot be empty, contain `#` (the key is `{name}#{id}`)
///   or start with `$` (es's own records).
/// - `error`: the domain error the handlers return. Defaults to
///   `core::convert::Infallible`, for an aggregate whose handlers cannot fail.
/// - `snapshot_every`: store a snapshot every this many versions, so a load
///   reads at most that many items. Defaults to 0, no snapshots. Snapshots use
///   the state's own `Serialize` and `Deserialize`.
/// - `snapshot_schema`: the snapshot's schema version, from 1 (the default).
///   Bump it when the state's shape changes: older snapshots are then ignored.
/// - `crate`: the path the generated code reaches es by, `::es` by default,
///   like `#[aggregate(crate = my::reexported::es)]`: a path, not a string.
///   See [`Event`](derive@Event) for an example.
///
/// The events and handlers come from an `#[es::handlers]` impl block. The
/// type must implement `Default`, `Clone` and `Debug`. Generic types and
/// unions are not supported.
///
/// With `snapshot_every`, the state needs `Serialize` and `Deserialize` of its
/// own: as for events, depend on serde directly, with its `derive` feature.
#[proc_macro_derive(Aggregate, attributes(aggregate, personal, subject))]
pub fn derive_aggregate(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_aggregate(&input).into()
}

/// Generates an aggregate's event enum and dispatch from the `#[on(Event)]`
/// handlers of its impl block.
///
/// ```
/// use es::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// # #[derive(Debug, thiserror::Error)]
/// # #[error("a restock must add at least one unit")]
/// # pub struct ProductError;
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// # pub struct ProductRestocked { pub amount: u32 }
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// # pub struct ProductDiscontinued {}
/// # #[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
/// # #[aggregate(error = ProductError)]
/// # pub struct Product { pub on_hand: u32, pub discontinued: bool }
/// #[es::handlers]
/// impl Product {
///     #[on(ProductRestocked)]
///     fn restocked(&mut self, e: &ProductRestocked) -> Result<(), ProductError> {
///         if e.amount == 0 {
///             return Err(ProductError);
///         }
///         self.on_hand += e.amount;
///         Ok(())
///     }
///
///     #[on(ProductDiscontinued)]
///     fn discontinued(&mut self, _: &ProductDiscontinued) { // cannot fail
///         self.discontinued = true;
///     }
/// }
///
/// // The generated enum, with `From` for each event:
/// let event: ProductEvent = ProductRestocked { amount: 3 }.into();
/// assert!(matches!(event, ProductEvent::ProductRestocked(_)));
/// ```
///
/// It generates `pub enum ProductEvent`, with one variant per handled event
/// type, named after the last segment of its path, and:
/// - `From<E>`, `HandledBy<Product>` and `IntoEvents<Product>` for each event
///   type and for the enum, so a commit or a decision takes an event, a `Vec`,
///   an array or an `Option` of them, and an event without a handler is
///   reported as "`Product` has no handler for `E`";
/// - `EventSet`, `Clone`, `Debug`, and serde as `{"type": name, "payload": {..}}`;
/// - `Handlers`, which `#[derive(Aggregate)]` calls to apply an event;
/// - compile-time checks that each type is an `Event` and that no two share a
///   stored name.
///
/// A handler is `fn(&mut self, e: &E)` returning nothing, `()`, or
/// `Result<(), E>` where `E` is the aggregate's error (an alias whose name
/// ends in `Result`, like `io::Result<()>`, works too). Each event type has
/// exactly one handler, and all of an aggregate's handlers are in one block,
/// with no `#[cfg]` on them; a handler is neither `async`, `unsafe` nor
/// generic, though it may name lifetimes. The block may hold other methods
/// too. `#[on(..)]` is recognized as `on`, `es::on` or `es::prelude::on`,
/// with or without a leading `::`, and, with `crate = path`, as `path::on`
/// or `path::prelude::on`, the path spelled as in `crate = ..`.
///
/// Options: `#[es::handlers(event = ProductEvents, vis = pub(crate))]` set the
/// enum's name (default `{Aggregate}Event`) and visibility (default `pub`; it
/// cannot be more private than the aggregate). `crate = my::reexported::es`
/// sets the path the generated code reaches es by, `::es` by default, for a
/// crate that re-exports es or depends on it under another name; it is a
/// path, not a string. See [`Event`](derive@Event) for an example.
#[proc_macro_attribute]
pub fn handlers(args: TokenStream, item: TokenStream) -> TokenStream {
    handlers::expand(args.into(), item.into()).into()
}

/// Implements `es::Projection` from the `#[on(Event)]` handlers of a
/// projection's impl block.
///
/// ```
/// use es::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// # pub struct ProductRestocked { pub amount: u32 }
/// # #[derive(Aggregate, Clone, Debug, Default)]
/// # pub struct Product { pub on_hand: u32 }
/// # #[es::handlers]
/// # impl Product {
/// #     #[on(ProductRestocked)]
/// #     fn restocked(&mut self, e: &ProductRestocked) { self.on_hand += e.amount; }
/// # }
/// #[derive(Serialize, Deserialize, Clone, Debug, Default)]
/// pub struct Stock { pub on_hand: u64 }
///
/// pub struct StockView<T> { pub views: Views<Stock, T> }
///
/// #[es::projection]
/// impl<T: ViewTable> StockView<T> {
///     #[on(ProductRestocked)]
///     async fn restocked(&self, e: &ProductRestocked, at: &Envelope) -> Result<(), es::Error> {
///         let amount = u64::from(e.amount);
///         self.views.update(&at.id, at, |stock| stock.on_hand += amount).await?;
///         Ok(())
///     }
/// }
///
/// assert_eq!(<StockView<MemoryViews> as Projection>::NAME, "StockView");
/// assert_eq!(<StockView<MemoryViews> as Projection>::aggregates(), ["Product"]);
/// ```
///
/// A handler is `async fn(&self, e: &E)` or `async fn(&self, e: &E, at:
/// &Envelope)`, returning nothing, `()`, or `Result<(), Error>` where `Error`
/// is the projection's error type. It takes `&self`, because drivers project
/// several aggregates at once (each one's events in order): state lives in a
/// view table or behind a lock.
///
/// Each `#[on(E)]` reads `E` from the stream of the aggregate whose
/// `#[es::handlers]` handle `E`, so events of different aggregates that share
/// a stored name are never confused. Items stored under any of `E`'s
/// `aliases(..)` reach the same handler, upcast from older schemas as a load
/// reads them. When several aggregates handle the same
/// type, name one: `#[on(E, aggregate = Product)]`. The projection listens to
/// the aggregates of its handlers; it decodes every event of those, and skips
/// the events of any other without decoding them.
///
/// Options: `name = ".."`, the name its checkpoints are kept under (default:
/// the type's name); `error = Type`, the handlers' error type (default
/// `es::Error`); and `crate = path`, as for the other macros.
#[proc_macro_attribute]
pub fn projection(args: TokenStream, item: TokenStream) -> TokenStream {
    projection::expand(args.into(), item.into()).into()
}

/// Marks an event handler inside an `#[es::handlers]` impl block, which reads
/// and removes it. Anywhere else it is a mistake, reported as such.
#[proc_macro_attribute]
pub fn on(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[on(..)]` marks an event handler and only works inside an `#[es::handlers]` impl block",
    );
    let mut tokens = error.into_compile_error();
    tokens.extend(proc_macro2::TokenStream::from(item));
    tokens.into()
}
