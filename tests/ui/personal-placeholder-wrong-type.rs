use es::Event;
use serde::{Deserialize, Serialize};

// A placeholder must convert into the field's type.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct CheckedOut {
    #[subject]
    pub customer: String,
    #[personal(placeholder = 0)]
    pub email: String,
}

fn main() {}
