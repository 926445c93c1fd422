//! The stock domain the projection benches share (`benches/rebuild.rs`,
//! `benches/projection.rs`): a product restocked and reserved, and a stock
//! view kept from its events.

use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductRestocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductReserved {
    pub cart_id: String,
    pub quantity: u32,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "Product")]
pub struct Product {
    pub on_hand: u64,
}

#[es::handlers]
impl Product {
    #[on(ProductRestocked)]
    fn restocked(&mut self, e: &ProductRestocked) {
        self.on_hand += u64::from(e.amount);
    }

    #[on(ProductReserved)]
    fn reserved(&mut self, e: &ProductReserved) {
        self.on_hand = self.on_hand.saturating_sub(u64::from(e.quantity));
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Stock {
    pub on_hand: i64,
}

/// A stock view, updated exactly once per event, in memory or in DynamoDB.
pub struct StockView<T> {
    pub views: Views<Stock, T>,
}

#[es::projection]
impl<T: ViewTable> StockView<T> {
    #[on(ProductRestocked)]
    async fn restocked(&self, e: &ProductRestocked, at: &Envelope) -> Result<(), Error> {
        let amount = i64::from(e.amount);
        self.views
            .update(&at.id, at, |s| s.on_hand += amount)
            .await?;
        Ok(())
    }

    #[on(ProductReserved)]
    async fn reserved(&self, e: &ProductReserved, at: &Envelope) -> Result<(), Error> {
        let quantity = i64::from(e.quantity);
        self.views
            .update(&at.id, at, |s| s.on_hand -= quantity)
            .await?;
        Ok(())
    }
}
