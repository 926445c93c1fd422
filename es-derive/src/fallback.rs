//! What the macros emit when the input is invalid: the errors, plus a stub
//! impl, so that code using the type does not fail too and the user sees the
//! real mistake instead of a cascade (thiserror's `fallback.rs`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt as _;
use syn::{DeriveInput, ItemImpl};

use crate::ast::{Aggregate, Event};
use crate::ctxt::Errors;

pub(crate) fn event(event: &Event, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    let input = event.input;
    if matches!(input.data, syn::Data::Union(_)) {
        return errors;
    }
    let ident = &input.ident;
    let name = ident.unraw().to_string();
    let es = event.krate().plain();
    let bounds = quote! {
        #es::__private::serde::Serialize
            + #es::__private::serde::de::DeserializeOwned
            + ::core::clone::Clone
            + ::core::fmt::Debug
            + ::core::marker::Send
            + ::core::marker::Sync
            + 'static
    };
    let (impl_generics, ty_generics, where_clause) = stub_generics(input, bounds);
    let stub = event.krate().scoped(quote! {
        #[automatically_derived]
        impl #impl_generics #es::Event for #ident #ty_generics #where_clause {
            const NAME: &'static str = #name;
        }
    });
    quote! {
        #errors
        #stub
    }
}

pub(crate) fn aggregate(aggregate: &Aggregate, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    let input = aggregate.input;
    if aggregate.is_union() {
        return errors;
    }
    let ident = &input.ident;
    let name = ident.unraw().to_string();
    // The error type is kept when it was given: the handlers return it, and
    // a stand-in would make each of them a type error too.
    let error = aggregate.error_type();
    let es = aggregate.krate().plain();
    let bounds = quote! {
        ::core::default::Default
            + ::core::clone::Clone
            + ::core::fmt::Debug
            + ::core::marker::Send
            + ::core::marker::Sync
            + 'static
            + #es::Handlers
    };
    let (impl_generics, ty_generics, where_clause) = stub_generics(input, bounds);
    let stub = aggregate.krate().scoped(quote! {
        #[automatically_derived]
        impl #impl_generics #es::Aggregate for #ident #ty_generics #where_clause {
            const NAME: &'static str = #name;
            type Event = <Self as #es::Handlers>::Event;
            type Error = #error;

            fn apply(&mut self, _: &Self::Event) -> ::core::result::Result<(), Self::Error> {
                ::core::unreachable!()
            }
        }
    });
    quote! {
        #errors
        #stub
    }
}

/// An `#[es::handlers]` block that could not be expanded: the block itself,
/// without its `#[on(..)]` attributes, so its methods still exist.
pub(crate) fn handlers(item: &ItemImpl, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    quote! {
        #errors
        #item
    }
}

/// The type's generics, with the trait's supertraits added as a bound on the
/// type itself. The bound is higher-ranked, a workaround for trivial bounds
/// being unstable (rust-lang/rust#48214): a stub on a type that lacks a
/// supertrait simply does not apply, instead of being one more error.
fn stub_generics(
    input: &DeriveInput,
    bounds: TokenStream,
) -> (TokenStream, TokenStream, TokenStream) {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let existing = where_clause.into_iter().flat_map(|w| &w.predicates);
    let where_clause = quote! {
        where
            #(#existing,)*
            for<'__stub> #ident #ty_generics: #bounds
    };
    (quote!(#impl_generics), quote!(#ty_generics), where_clause)
}
