use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub struct ItemReservedV1 {
    pub qty: u32,
}

#[derive(Deserialize)]
pub struct ItemReservedV2 {
    pub quantity: u32,
}

// The chain is V1 -> V2 -> ItemReserved: `From<ItemReservedV1>` for
// `ItemReservedV2` is missing, and reported at `ItemReservedV1`.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(version = 3, upcast(v1 = ItemReservedV1, v2 = ItemReservedV2))]
pub struct ItemReserved {
    pub quantity: u32,
    pub cart: String,
}

impl From<ItemReservedV2> for ItemReserved {
    fn from(old: ItemReservedV2) -> Self {
        ItemReserved {
            quantity: old.quantity,
            cart: String::new(),
        }
    }
}

fn main() {}
