//! Expansion of `#[derive(Event)]` and `#[derive(Aggregate)]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::DeriveInput;

use crate::ast::{self, Aggregate, Event, Krate};
use crate::ctxt::Errors;
use crate::{fallback, personal, valid};

pub(crate) fn derive_event(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let event = Event::from_syn(input, &mut errors);
    valid::event(&event, &mut errors);
    let personal = personal::declared(input, &mut errors);
    if !errors.is_empty() {
        return fallback::event(&event, &errors);
    }
    let ident = &input.ident;
    let name = event.name();
    let version = event.version();
    let aliases = event.aliases();
    let es = event.krate().plain();
    let upcast = if event.upcasts() {
        upcast(&event)
    } else {
        TokenStream::new()
    };
    let personal = personal.items(event.krate());
    event.krate().scoped(quote! {
        #[automatically_derived]
        impl #es::Event for #ident {
            const NAME: &'static str = #name;
            const VERSION: u32 = #version;
            const ALIASES: &'static [&'static str] = &[#(#aliases),*];
            #personal
            #upcast
        }
    })
}

/// `Event::upcast`: each old shape decodes as itself, then converts with
/// `From` into the next newer shape given, the newest into the event, so a
/// new version adds one conversion and the old ones stay as they were.
/// Other schemas go to the `with` function, or are refused.
///
/// Each conversion is written once, in a function of its own, spanned on the
/// shape it converts from: a missing `From` or `Deserialize` is reported at
/// that shape in `upcast(..)`, once.
fn upcast(event: &Event) -> TokenStream {
    let ident = &event.input.ident;
    let krate = event.krate();
    let es = krate.plain();
    let shapes = event.shapes();
    let step = |schema: u32| quote::format_ident!("__es_from_v{}", schema);
    let mut steps = TokenStream::new();
    let mut arms = TokenStream::new();
    for (i, (schema, ty)) in shapes.iter().enumerate() {
        let span = syn::spanned::Spanned::span(ty);
        let es_at = krate.at(span);
        let this = step(*schema);
        // The target is inferred from where the value goes, so that a
        // missing `From` is reported at this shape, not at the next one.
        let into = match shapes.get(i + 1) {
            Some((next, _)) => {
                let next_step = step(*next);
                quote_spanned!(span=> #next_step(::core::convert::From::from(__old)))
            }
            None => quote_spanned!(span=> ::core::convert::From::from(__old)),
        };
        steps.extend(quote_spanned! {span=>
            fn #this(__old: #ty) -> #ident {
                #into
            }
        });
        arms.extend(quote_spanned! {span=>
            #schema => <#ty as #es_at::__private::serde::Deserialize<'__de>>::deserialize(__deserializer)
                .map(#this),
        });
    }
    let other = match event.upcast_with() {
        Some(path) => {
            let span = syn::spanned::Spanned::span(path);
            let es_at = krate.at(span);
            quote_spanned!(span=> #es_at::__private::upcast_with::<Self, __D, _>(#path, __schema, __deserializer))
        }
        None => quote! {
            {
                let _ = __deserializer;
                ::core::result::Result::Err(<<__D as #es::__private::serde::Deserializer<'__de>>::Error
                    as #es::__private::serde::de::Error>::custom(
                    #es::__private::missing_upcaster::<Self>(__schema),
                ))
            }
        },
    };
    quote! {
        fn upcast<'__de, __D: #es::__private::serde::Deserializer<'__de>>(
            __schema: u32,
            __deserializer: __D,
        ) -> ::core::result::Result<Self, <__D as #es::__private::serde::Deserializer<'__de>>::Error> {
            #steps
            match __schema {
                #arms
                _ => #other,
            }
        }
    }
}

pub(crate) fn derive_aggregate(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let aggregate = Aggregate::from_syn(input, &mut errors);
    valid::aggregate(&aggregate, &mut errors);
    let personal = personal::declared(input, &mut errors);
    if !errors.is_empty() {
        return fallback::aggregate(&aggregate, &errors);
    }
    let ident = &input.ident;
    let name = aggregate.name();
    let error = aggregate.error_type();
    let every = aggregate.snapshot_every();
    let schema = aggregate.snapshot_schema();
    let es = aggregate.krate().at(ident.span());
    let handlers = quote_spanned!(ident.span()=> <Self as #es::Handlers>);
    let snapshots = if every > 0 {
        let span = ast::key_span(&aggregate.attrs.snapshot_every).unwrap_or_else(Span::call_site);
        snapshot_state(aggregate.krate(), span)
    } else {
        TokenStream::new()
    };
    // The whole impl is spanned on the type's name, so that a missing
    // supertrait, such as `Default` (a new aggregate starts from it), is
    // reported there, once, rather than at the derive and the name both.
    let personal = personal.items(aggregate.krate());
    let code = quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #es::Aggregate for #ident {
            #personal
            const NAME: &'static str = #name;
            const SNAPSHOT_EVERY: u64 = #every;
            const SNAPSHOT_SCHEMA: u32 = #schema;
            type Event = #handlers::Event;
            type Error = #error;

            fn apply(&mut self, __event: &Self::Event) -> ::core::result::Result<(), Self::Error> {
                #handlers::dispatch(self, __event)
            }

            #snapshots
        }
    };
    aggregate.krate().scoped(code)
}

/// Snapshots go through the state's own serde impls. The code is spanned on
/// `snapshot_every`, so a missing `Serialize` or `Deserialize` is reported
/// there: that key is what asks for them.
fn snapshot_state(krate: Krate, span: Span) -> TokenStream {
    let es = krate.at(span);
    // `<__S as Serializer>`, not `__S::`: see `handlers::event_set`.
    let ser = quote_spanned!(span=> <__S as #es::__private::serde::Serializer>);
    let de = quote_spanned!(span=> <__D as #es::__private::serde::Deserializer<'__de>>);
    quote_spanned! {span=>
        fn serialize_state<__S: #es::__private::serde::Serializer>(
            &self,
            __serializer: __S,
        ) -> ::core::result::Result<#ser::Ok, #ser::Error> {
            #es::__private::serde::Serialize::serialize(self, __serializer)
        }

        fn deserialize_state<'__de, __D: #es::__private::serde::Deserializer<'__de>>(
            __deserializer: __D,
        ) -> ::core::result::Result<Self, #de::Error> {
            <Self as #es::__private::serde::Deserialize<'__de>>::deserialize(__deserializer)
        }
    }
}
