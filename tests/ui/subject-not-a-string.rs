use es::Event;
use serde::{Deserialize, Serialize};

// The subject names a key in the key table: it must be a string.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct CheckedOut {
    #[subject]
    pub customer: u64,
    #[personal]
    pub email: String,
}

fn main() {}
