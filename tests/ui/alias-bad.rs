use es::prelude::*;
use serde::{Deserialize, Serialize};

// Every mistake is reported in one compile: an alias equal to the name, an
// alias listed twice, an empty one, and lists that are not lists of strings.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(name = "ItemReserved", aliases("ItemHeld", "ItemReserved", "Held", "ItemHeld", ""))]
pub struct ItemReserved {
    pub quantity: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aliases = "Held")]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aliases(Held), version = 0)]
pub struct Discontinued {}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aliases())]
pub struct Released {}

fn main() {}
