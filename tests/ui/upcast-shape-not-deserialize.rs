use es::prelude::*;
use serde::{Deserialize, Serialize};

/// An old shape is read from the store: it needs `Deserialize`.
pub struct RestockedV1 {
    pub qty: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(version = 2, upcast(v1 = RestockedV1))]
pub struct Restocked {
    pub amount: u32,
}

impl From<RestockedV1> for Restocked {
    fn from(old: RestockedV1) -> Self {
        Restocked { amount: old.qty }
    }
}

fn main() {}
