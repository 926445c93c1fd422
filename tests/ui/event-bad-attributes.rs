use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(name = "", version = "2")]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(name = Reserved, version = 4294967296)]
pub struct Reserved;

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(name = "Released")]
#[event(name = "Released", version)]
pub struct Released;

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event]
pub struct Closed;

fn main() {}
