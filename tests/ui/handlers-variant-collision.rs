use es::prelude::*;

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product {
    pub on_hand: u32,
}

mod carts {
    use serde::{Deserialize, Serialize};

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug)]
    #[event(name = "CartCreated")]
    pub struct Created;
}

mod products {
    use serde::{Deserialize, Serialize};

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug)]
    #[event(name = "ProductCreated")]
    pub struct Created;
}

#[es::handlers]
impl Product {
    #[on(carts::Created)]
    fn cart_created(&mut self, _: &carts::Created) {}

    #[on(products::Created)]
    fn created(&mut self, _: &products::Created) {}
}

fn main() {}
