//! The macros of [es](https://docs.rs/es): `#[derive(Event)]`,
//! `#[derive(Aggregate)]` and `#[es::handlers]`. Use them through the `es`
//! crate, which re-exports them; the code they generate refers to `::es`.
//!
//! The structure follows thiserror's: `ast` reads the input, `attr` parses
//! the attributes, `valid` checks the rules, `expand` and `handlers` generate
//! code, and `fallback` stands in when the input is invalid, so that every
//! mistake is reported once, at the token that is wrong.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod handlers;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Implements `es::Event`. See the `es` crate.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_event(&input).into()
}

/// Implements `es::Aggregate`. See the `es` crate.
#[proc_macro_derive(Aggregate, attributes(aggregate))]
pub fn derive_aggregate(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_aggregate(&input).into()
}

/// Generates an aggregate's event enum and dispatch from its `#[on(Event)]`
/// handlers. See the `es` crate.
#[proc_macro_attribute]
pub fn handlers(args: TokenStream, item: TokenStream) -> TokenStream {
    handlers::expand(args.into(), item.into()).into()
}

/// Marks an event handler inside an `#[es::handlers]` impl block, which reads
/// and removes it. Anywhere else it is a mistake, reported here.
#[proc_macro_attribute]
pub fn on(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[on(..)]` marks an event handler and only works inside an `#[es::handlers]` impl block",
    );
    let mut tokens = error.into_compile_error();
    tokens.extend(proc_macro2::TokenStream::from(item));
    tokens.into()
}
