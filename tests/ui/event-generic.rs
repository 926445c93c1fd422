use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Renamed<T> {
    pub to: T,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Wrapped<T>(T)
where
    T: Clone;

fn main() {
    // Still events, so nothing else fails.
    assert_eq!(<Renamed<String> as Event>::NAME, "Renamed");
    assert_eq!(<Wrapped<u8> as Event>::NAME, "Wrapped");
}
