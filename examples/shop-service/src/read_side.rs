//! The read side the API serves: the shop's views (`stock` per product,
//! `cart` per cart, from [`crate::views`]), read from a view table.
//!
//! The views are what the projection function writes; the API only reads
//! them. Where they come from depends on the store:
//!
//! - **DynamoDB**: a view table of its own (`ES_VIEW_TABLE`), kept from the
//!   events table's stream by the `shop-projection` function on Lambda, or
//!   by `shop-projection --dynamodb` locally. Reads are eventually
//!   consistent with the writes: a view lags its events by the stream's
//!   delay and the event source mapping's batching window.
//! - **Memory**: views in memory, kept from the [`MemoryStore`]'s change
//!   feed, which plays the stream's part. They are brought up to date on
//!   each read, not after each write: a write's answer never waits for the
//!   read side (the write path is the same on both stores), and a read sees
//!   every write answered before it.

use std::sync::Arc;

use es::dynamo::DynamoViews;
use es::{MemoryStore, MemoryViews, Projector, StoreError};

use crate::views::{CartView, ShopViews, Stock};

/// The shop's views as the API reads them. Clones share the table.
#[derive(Clone)]
pub struct ReadSide {
    inner: Arc<Inner>,
}

enum Inner {
    Memory {
        /// The views, with the store they are kept from.
        projector: Projector<MemoryStore, MemoryViews, ShopViews<MemoryViews>>,
        /// How far into the store's change feed the views are. The lock
        /// also keeps two reads from projecting the same events at once.
        position: tokio::sync::Mutex<u64>,
    },
    Dynamo(ShopViews<DynamoViews>),
}

impl std::fmt::Debug for ReadSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.inner {
            Inner::Memory { .. } => f.write_str("ReadSide::Memory"),
            Inner::Dynamo(views) => f
                .debug_tuple("ReadSide::Dynamo")
                .field(&views.stock.table().table())
                .finish(),
        }
    }
}

impl ReadSide {
    /// Views in memory, kept from `store`'s change feed: each read first
    /// projects whatever was committed since the last one.
    pub fn memory(store: &MemoryStore) -> Self {
        ReadSide {
            inner: Arc::new(Inner::Memory {
                projector: {
                    let table = MemoryViews::new();
                    Projector::new(store.clone(), table.clone(), ShopViews::new(table))
                },
                position: tokio::sync::Mutex::new(0),
            }),
        }
    }

    /// Views in a DynamoDB view table, which the projection function keeps.
    pub fn dynamo(table: DynamoViews) -> Self {
        ReadSide {
            inner: Arc::new(Inner::Dynamo(ShopViews::new(table))),
        }
    }

    /// A product's stock view, or `None` when no event of it has been
    /// projected (yet).
    pub async fn stock(&self, id: &str) -> Result<Option<Stock>, es::Error> {
        match &*self.inner {
            Inner::Memory { projector, .. } => {
                self.catch_up().await?;
                projector.projection().stock.get(id).await
            }
            Inner::Dynamo(views) => views.stock.get(id).await,
        }
    }

    /// A cart's view, or `None` when no event of it, nor any reservation
    /// for it, has been projected (yet).
    pub async fn cart(&self, id: &str) -> Result<Option<CartView>, es::Error> {
        match &*self.inner {
            Inner::Memory { projector, .. } => {
                self.catch_up().await?;
                projector.projection().carts.get(id).await
            }
            Inner::Dynamo(views) => views.carts.get(id).await,
        }
    }

    /// In memory, projects the events committed since the last read.
    async fn catch_up(&self) -> Result<(), es::Error> {
        let Inner::Memory {
            projector,
            position,
        } = &*self.inner
        else {
            return Ok(());
        };
        let mut position = position.lock().await;
        // On failure the position stays before the event that failed, so
        // the next read tries it again, as a stream would.
        projector
            .store()
            .catch_up(projector, &mut position)
            .await
            .map(drop)
            .map_err(|e| match e {
                es::ProjectionError::Handler { source, .. } => source,
                es::ProjectionError::Event { source, .. } => source,
                other => StoreError::permanent("project the change feed", other.to_string()).into(),
            })
    }
}
