use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub struct RestockedV1 {
    pub qty: u32,
}

// Every mistake is reported in one compile.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(
    version = 3,
    upcast(from = RestockedV1, v0 = RestockedV1, v1 = RestockedV1, v1 = RestockedV1, v3 = RestockedV1, v2 = "RestockedV1", with)
)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(version = 2, upcast = RestockedV1)]
pub struct Reserved {
    pub quantity: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(version = 2, upcast())]
pub struct Released {
    pub quantity: u32,
}

fn main() {}
