use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Held {
    pub quantity: u32,
}

/// Renamed from `Held`, but `Held` is still another event's name: an item
/// stored as `Held` could be either.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aliases("Held"))]
pub struct ItemReserved {
    pub quantity: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aliases("Gone", "Removed"))]
pub struct Released {}

/// Two events with one alias.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aliases("Removed"))]
pub struct Discontinued {}

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product {
    pub reserved: u32,
}

#[es::handlers]
impl Product {
    #[on(Held)]
    fn held(&mut self, e: &Held) {
        self.reserved += e.quantity;
    }

    #[on(ItemReserved)]
    fn reserved(&mut self, e: &ItemReserved) {
        self.reserved += e.quantity;
    }

    #[on(Released)]
    fn released(&mut self, _: &Released) {
        self.reserved = 0;
    }

    #[on(Discontinued)]
    fn discontinued(&mut self, _: &Discontinued) {}
}

fn main() {}
