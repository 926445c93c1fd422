//! The DynamoDB event store for [es](https://docs.rs/es), in castore's table
//! layout, so that TypeScript services on castore and Rust services on es can
//! share one table.
//!
//! Users reach it as `es::dynamo::DynamoStore` (feature `dynamo` of `es`),
//! with aggregates defined as usual:
//!
//! ```no_run
//! use es::dynamo::{DynamoStore, Layout};
//! use es::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug)]
//! pub struct Restocked { pub amount: u32 }
//!
//! #[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
//! pub struct Product { pub on_hand: u32 }
//!
//! #[es::handlers]
//! impl Product {
//!     #[on(Restocked)]
//!     fn restocked(&mut self, e: &Restocked) {
//!         self.on_hand += e.amount;
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "events");
//! let mut product = Product::load(&store, "sku-1").await?; // one consistent Query
//! product.commit(Restocked { amount: 10 }).await?;          // one conditional PutItem
//!
//! // A table made from castore's older, table-per-event-store definitions:
//! let legacy = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "products")
//!     .with_layout(Layout::TablePerAggregate);
//! let product = Product::load(&legacy, "sku-1").await?;
//! # let _ = product;
//! # Ok(()) }
//! ```
//!
//! The table layout, its CloudFormation, Terraform and CDK definitions, a
//! least-privilege IAM policy and the measured cost of every operation are in
//! `docs/dynamodb.md`.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod batch;
mod cursor;
mod errors;
pub mod failures;
mod item;
pub mod keys;
#[cfg(feature = "kms")]
mod kms;
#[cfg(feature = "lambda")]
pub mod lambda;
mod layout;
mod payload;
#[cfg(feature = "publish")]
pub mod publish;
mod read;
pub mod records;
pub mod regions;
pub mod runner;
mod size;
mod store;
pub mod stream;
mod table;
/// Test helpers (feature `testing`): not for production code.
#[cfg(feature = "testing")]
pub mod testing;
pub mod timers;
mod trace;
mod views;
mod write;

pub use keys::{DynamoKeys, WrapStats};
#[cfg(feature = "kms")]
pub use kms::KmsWrap;
pub use layout::{attributes, Layout};
pub use records::DynamoCodec;
pub use regions::{Consistency, Replication};
pub use runner::StreamRunner;
pub use size::item_size;
pub use store::DynamoStore;
pub use stream::StreamEvent;
pub use timers::DynamoTimers;
pub use views::DynamoViews;
