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
    // Opens the orders' sealed fields for their readers.
    vault: Option<es::erasure::Vault>,
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
            vault: es::EventStore::vault(store).cloned(),
        }
    }

    /// An order as its reader sees it: the customer, and their email and
    /// address opened, or `"[erased]"` and `null` once the customer is
    /// forgotten (`"forgotten": true`).
    pub async fn shipping(
        &self,
        order: &crate::views::OrderView,
    ) -> Result<serde_json::Value, es::Error> {
        let Some(vault) = &self.vault else {
            return Err(StoreError::permanent("open order", "the read side has no vault").into());
        };
        let email = match &order.email {
            Some(sealed) => vault.open::<String>(sealed).await?,
            None => None,
        };
        let address = match &order.address {
            Some(sealed) => vault.open::<crate::shop::Address>(sealed).await?,
            None => None,
        };
        let forgotten = email.is_none() && address.is_none();
        Ok(serde_json::json!({
            "customer": order.customer,
            "email": email.unwrap_or_else(|| "[erased]".to_owned()),
            "address": address,
            "forgotten": forgotten,
        }))
    }

    /// Views in a DynamoDB view table, which the projection function keeps
    /// from `store`'s events; `store`'s vault opens the orders' sealed
    /// fields.
    pub fn dynamo(store: &es::dynamo::DynamoStore, table: DynamoViews) -> Self {
        ReadSide {
            inner: Arc::new(Inner::Dynamo(ShopViews::new(table))),
            vault: es::EventStore::vault(store).cloned(),
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

    /// A checked-out cart's order view: where it ships, sealed. `None` when
    /// the cart has not checked out (or the projection has not caught up).
    pub async fn order(&self, id: &str) -> Result<Option<crate::views::OrderView>, es::Error> {
        match &*self.inner {
            Inner::Memory { projector, .. } => {
                self.catch_up().await?;
                projector.projection().orders.get(id).await
            }
            Inner::Dynamo(views) => views.orders.get(id).await,
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
