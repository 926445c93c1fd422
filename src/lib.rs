#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use es_core::*;
pub use es_derive::{handlers, on, projection, Aggregate, Event};

/// The DynamoDB event store, in castore's table layout.
#[cfg(feature = "dynamo")]
pub use es_dynamo as dynamo;

/// Everything a domain module needs: `use es::prelude::*;`.
pub mod prelude {
    pub use es_core::{
        Aggregate, AggregateExt, Envelope, Error, Event, EventStore, IntoEvents, MemoryStore,
        MemoryViews, Metadata, Projection, Projector, Retry, Root, Transaction, ViewTable, Views,
    };
    pub use es_derive::{handlers, on, projection, Aggregate, Event};
    pub use futures::{StreamExt as _, TryStreamExt as _};
}

/// Items the macros' generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use es_core::__private::*;
}

/// The examples of `docs/evolution.md`, compiled as doctests so the guide
/// cannot drift from the macros.
#[cfg(doctest)]
#[doc = include_str!("../docs/evolution.md")]
pub struct EvolutionGuide;
