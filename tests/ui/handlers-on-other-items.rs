#[es::handlers]
mod products {}

#[es::handlers]
pub trait Products {}

#[es::handlers]
const PRODUCTS: u32 = 1;

#[es::handlers]
#[allow(unused_imports)]
use std::fmt;

#[es::handlers]
pub static STOCK: u32 = 1;

#[es::handlers]
pub type Stock = u32;

fn main() {}
