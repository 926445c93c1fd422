//! Projections, end to end: the shop's stock-and-carts view
//! (`examples/shopping/views.rs`) kept from the change feed in memory, from
//! the table's stream on DynamoDB Local (by the stream runner, and by the
//! Lambda entry point on events in the shape AWS documents), and rebuilt
//! from history. Every view is checked against a replay of the aggregates.
//!
//! One test binary: each links the AWS SDK. Run one part with a filter, e.g.
//! `cargo test --test projections dynamo::`.

#[path = "../../examples/shopping/hot.rs"]
#[allow(dead_code)]
mod hot;
#[path = "../../examples/shopping/shop.rs"]
#[allow(dead_code)]
mod shop;
#[path = "../../examples/shopping/views.rs"]
#[allow(dead_code)]
mod views;

mod common;
mod dynamo;
mod healing;
mod lambda;
mod memory;
mod routing;
