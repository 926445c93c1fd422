use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub struct RestockedV0 {
    pub qty: u32,
}

/// Version 1 is the first schema: there is nothing older to upcast from.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(upcast(v1 = RestockedV0))]
pub struct Restocked {
    pub amount: u32,
}

fn main() {
    // The type is still an event: no second error here.
    assert_eq!(<Restocked as Event>::VERSION, 1);
}
