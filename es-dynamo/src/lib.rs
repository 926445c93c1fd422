//! The DynamoDB event store for [es](https://docs.rs/es), in castore's table
//! layout, so that TypeScript services on castore and Rust services on es can
//! share one table.
//!
//! Users reach it as `es::dynamo::DynamoStore` (feature `dynamo`).
//!
//! ```no_run
//! use aws_config::BehaviorVersion;
//! use es_core::{conformance::model::*, AggregateExt};
//! use es_dynamo::{DynamoStore, Layout};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
//! let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "events");
//! let mut product = Product::load(&store, "sku-1").await?;   // one consistent Query
//! product.commit(Restocked { amount: 10 }).await?;             // one conditional PutItem
//!
//! // A table made from castore's older, table-per-event-store definitions:
//! let legacy = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "products")
//!     .with_layout(Layout::TablePerAggregate);
//! # let _ = legacy;
//! # Ok(()) }
//! ```
//!
//! The table layout, its CloudFormation, Terraform and CDK definitions, a
//! least-privilege IAM policy and the measured cost of every operation are in
//! `docs/dynamodb.md`.

#![warn(missing_docs)]

mod cursor;
mod errors;
mod item;
mod layout;
mod payload;
mod read;
mod size;
mod store;
mod table;
pub mod testing;
mod trace;
mod write;

pub use layout::{attributes, Layout};
pub use size::item_size;
pub use store::DynamoStore;
