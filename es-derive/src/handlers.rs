//! Expansion of `#[es::handlers]`: the `{Aggregate}Event` enum, its
//! conversions and serde, the `Handlers` dispatch, and the compile-time checks
//! that every handled type is an event with a name of its own.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Ident, Path, ReturnType};

use crate::ast::{Handlers, Krate};
use crate::ctxt::Errors;
use crate::{fallback, valid};

/// One variant of the generated enum.
struct Variant<'a> {
    ident: &'a Ident,
    ty: &'a Path,
    /// Where errors about this event type belong: its `#[on(..)]`.
    span: Span,
    /// The handler the dispatch calls, unless its signature was reported
    /// invalid (then the arm is a stub, so the mistake is reported once).
    call: Option<(&'a Ident, Span)>,
}

impl Variant<'_> {
    /// `Enum::Variant`, all of it spanned on the type in `#[on(..)]`: if the
    /// enum's name is another type, such as a second block's enum or a type of
    /// the user's, the missing variant is reported there, once, as the
    /// compiler folds identical errors at one place.
    fn path(&self, enum_ident: &Ident) -> TokenStream {
        let mut enum_ident = enum_ident.clone();
        enum_ident.set_span(self.span);
        let ident = self.ident;
        quote_spanned!(self.span=> #enum_ident::#ident)
    }

    /// `Enum::Variant(args)`, a pattern or a constructor, spanned likewise:
    /// its parentheses too, or the compiler would span it from elsewhere.
    fn with(&self, enum_ident: &Ident, args: TokenStream) -> TokenStream {
        let path = self.path(enum_ident);
        quote_spanned!(self.span=> #path(#args))
    }
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(item)) => item,
        Ok(other) => return not_an_impl(&other, item),
        Err(error) => {
            let error = error.into_compile_error();
            return quote!(#error #item);
        }
    };
    let mut errors = Errors::default();
    let input = Handlers::from_syn(args, item, &mut errors);
    let callable = valid::handlers(&input, &mut errors);
    let enum_ident = match input.enum_ident() {
        Some(ident) if input.item.generics.params.is_empty() => ident,
        // A generic impl, or a self type with no name: there is no one enum
        // to generate, only the errors.
        _ => return fallback::handlers(&input.item, &errors),
    };
    // The first handler of each event type and of each variant name; the
    // others were reported as duplicates.
    let mut variants: Vec<Variant> = Vec::new();
    for (handler, &ok) in input.handlers.iter().zip(&callable) {
        let Some(ident) = handler.variant() else {
            continue;
        };
        if variants.iter().any(|v| v.ident == ident) || borrows(&handler.event) {
            continue;
        }
        let ret_span = match &handler.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => handler.sig.ident.span(),
        };
        // A trait impl's methods are not the handlers the user meant to write.
        let call = (ok && input.item.trait_.is_none()).then_some((&handler.sig.ident, ret_span));
        variants.push(Variant {
            ident,
            ty: &handler.event,
            span: handler.event.span(),
            call,
        });
    }
    let item = &input.item;
    // A visibility given with `vis = ..` keeps its own span: if it is more
    // private than the aggregate, the error belongs there.
    let vis = match &input.args.vis {
        Some(vis) => vis.value.to_token_stream(),
        None => quote_spanned!(enum_ident.span()=> pub),
    };
    let self_ty = &item.self_ty;
    let one_block = one_block(&enum_ident);
    let enum_def = enum_def(&vis, &enum_ident, self_ty, &variants);
    let clone_debug = clone_debug(&enum_ident, &variants);
    let krate = input.krate();
    let conversions = conversions(krate, self_ty, &enum_ident, &variants);
    let event_set = event_set(krate, &enum_ident, &variants);
    let dispatch = dispatch(&input, &enum_ident, &variants);
    let checks = checks(krate, self_ty, &variants);
    let alias = krate.alias();
    let errors = errors.to_compile_errors();
    quote! {
        #errors
        #item
        #one_block
        #enum_def
        const _: () = {
            #alias
            #clone_debug
            #conversions
            #event_set
            #dispatch
            #checks
        };
    }
}

/// An event type with a lifetime, `#[on(Named<'a>)]`, reported by `valid`:
/// it gets no variant, as one would only add errors about deserializing it.
fn borrows(event: &Path) -> bool {
    event.segments.iter().any(|s| match &s.arguments {
        syn::PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .any(|a| matches!(a, syn::GenericArgument::Lifetime(_))),
        _ => false,
    })
}

/// `#[es::handlers]` on a struct, fn or anything else but an impl block:
/// reported at the keyword that says what the item is.
fn not_an_impl(item: &syn::Item, tokens: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        item_keyword(item),
        "`#[es::handlers]` goes on the impl block that holds an aggregate's `#[on(..)]` handlers, \
         like `#[es::handlers] impl Product { .. }`",
    )
    .into_compile_error();
    quote!(#error #tokens)
}

/// The keyword an item starts with, where an error about the item belongs.
pub(crate) fn item_keyword(item: &syn::Item) -> Span {
    use syn::Item;
    match item {
        Item::Struct(s) => s.struct_token.span,
        Item::Enum(e) => e.enum_token.span,
        Item::Union(u) => u.union_token.span,
        Item::Fn(f) => f.sig.fn_token.span,
        Item::Mod(m) => m.mod_token.span,
        Item::Trait(t) => t.trait_token.span,
        Item::TraitAlias(t) => t.trait_token.span,
        Item::Const(c) => c.const_token.span,
        Item::Static(s) => s.static_token.span,
        Item::Type(t) => t.type_token.span,
        Item::Use(u) => u.use_token.span,
        Item::ExternCrate(e) => e.extern_token.span,
        Item::ForeignMod(f) => f.abi.extern_token.span,
        Item::Macro(m) => m.mac.path.span(),
        // Anything else: its first token.
        other => other.span(),
    }
}

/// An item named after the enum, first in the output: a second
/// `#[es::handlers]` block for the same aggregate defines it again, and the
/// first error the compiler reports is then the rule, by name, at the second
/// block's self type (where the enum's name comes from, as every item and
/// impl about the enum is spanned), rather than only at the enum and its impls.
fn one_block(enum_ident: &Ident) -> TokenStream {
    let marker = quote::format_ident!(
        "{}__one_es_handlers_block_per_aggregate",
        enum_ident.unraw(),
        span = enum_ident.span()
    );
    quote_spanned! {enum_ident.span()=>
        #[doc(hidden)]
        #[allow(dead_code, non_upper_case_globals)]
        const #marker: () = ();
    }
}

fn enum_def(
    vis: &TokenStream,
    enum_ident: &Ident,
    self_ty: &syn::Type,
    variants: &[Variant],
) -> TokenStream {
    let self_text = self_ty.to_token_stream().to_string().replace(' ', "");
    // Every token of the enum is spanned on its name, the docs too: the
    // compiler reports a clash at the span of the whole item.
    let span = enum_ident.span();
    let doc = format!(
        "Every event of [`{self_text}`], generated by `#[es::handlers]`.\n\n\
         Each event type converts into it with `From`. Stored, it is the event's \
         name as `type` and the event's own fields as `payload`."
    );
    let doc = syn::LitStr::new(&doc, span);
    let docs = variants.iter().map(|v| {
        let text = crate::ast::path_text(v.ty);
        syn::LitStr::new(&format!("See [`{text}`]."), span)
    });
    let idents = variants.iter().map(|v| v.ident);
    let tys = variants.iter().map(|v| v.ty);
    // Spanned on the enum's name (the self type, or `event = ..`), so that a
    // clash with another item of that name is reported there.
    quote_spanned! {span=>
        #[doc = #doc]
        // One variant per event type, named after it: the sizes and names
        // are the user's event types', not something to fix in the enum.
        #[allow(clippy::large_enum_variant, clippy::enum_variant_names)]
        #vis enum #enum_ident {
            #(
                #[doc = #docs]
                #idents(#tys),
            )*
        }
    }
}

/// `Clone` and `Debug`, as their derives would write them, but with each
/// variant's path spanned on its `#[on(..)]` (see [`Variant::path`]).
fn clone_debug(enum_ident: &Ident, variants: &[Variant]) -> TokenStream {
    let pats: Vec<_> = variants
        .iter()
        .map(|v| v.with(enum_ident, quote!(ref __event)))
        .collect();
    let clones = variants
        .iter()
        .map(|v| v.with(enum_ident, quote!(::core::clone::Clone::clone(__event))));
    let names = variants.iter().map(|v| v.ident.unraw().to_string());
    quote_spanned! {enum_ident.span()=>
        #[automatically_derived]
        impl ::core::clone::Clone for #enum_ident {
            #[inline]
            fn clone(&self) -> Self {
                match *self {
                    #(#pats => #clones,)*
                }
            }
        }

        #[automatically_derived]
        impl ::core::fmt::Debug for #enum_ident {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match *self {
                    #(#pats => __f.debug_tuple(#names).field(__event).finish(),)*
                }
            }
        }
    }
}

/// `From` each event type; `HandledBy` the aggregate, so a commit takes one
/// event and names the aggregate when it is not handled; and `IntoEvents` so a
/// decision can return one event, the enum, or (through es's blanket impls) a
/// `Vec`, array or `Option`.
fn conversions(
    krate: Krate,
    self_ty: &syn::Type,
    enum_ident: &Ident,
    variants: &[Variant],
) -> TokenStream {
    let each = variants.iter().map(|v| {
        let ty = v.ty;
        let es = krate.at(v.span);
        let from = v.with(enum_ident, quote!(__event));
        let into = v.with(enum_ident, quote!(self));
        // Spanned on the type in `#[on(..)]`: if two of them are one type
        // (through an alias, say), the conflicting impls are reported there.
        quote_spanned! {v.span=>
            #[automatically_derived]
            impl ::core::convert::From<#ty> for #enum_ident {
                fn from(__event: #ty) -> Self {
                    #from
                }
            }

            #[automatically_derived]
            impl #es::HandledBy<#self_ty, #enum_ident> for #ty {
                fn into_event(self) -> #enum_ident {
                    #into
                }
            }

            #[automatically_derived]
            impl #es::IntoEvents<#self_ty, #enum_ident> for #ty {
                fn into_events(self) -> ::std::vec::Vec<#enum_ident> {
                    ::std::vec![#into]
                }
            }

            // Tells a projection's `#[on(..)]` which aggregate's stream
            // this event comes from.
            #[automatically_derived]
            impl #es::__private::EventOf<#self_ty> for #ty {}
        }
    });
    let es = krate.at(enum_ident.span());
    let into_self = quote_spanned! {enum_ident.span()=>
        #[automatically_derived]
        impl #es::HandledBy<#self_ty, #enum_ident> for #enum_ident {
            fn into_event(self) -> #enum_ident {
                self
            }
        }

        #[automatically_derived]
        impl #es::IntoEvents<#self_ty, #enum_ident> for #enum_ident {
            fn into_events(self) -> ::std::vec::Vec<#enum_ident> {
                ::std::vec![self]
            }
        }
    };
    quote! {
        #(#each)*
        #into_self
    }
}

/// `EventSet`, and serde as `{"type": name, "payload": {..}}`.
///
/// Every use of an event type is a qualified path spanned on the type in
/// `#[on(..)]`, such as `<T as ::es::Event>::NAME`. So a type that is not an
/// `Event` is reported there, and once: the compiler folds identical errors
/// at one place into one. (That is also why there is no separate assertion:
/// its error would carry a "required by" note and not fold in.)
fn event_set(krate: Krate, enum_ident: &Ident, variants: &[Variant]) -> TokenStream {
    // The traits of `<T as Trait>`, which `as_trait` spans, at the call site
    // as before; the rest of the code on the enum's name.
    let plain = krate.plain();
    let es = krate.at(enum_ident.span());
    // Named as `<__S as Serializer>`, not `__S::`, so that an es path that
    // does not resolve is not reported again as a missing associated type.
    let ser = quote_spanned!(enum_ident.span()=> <__S as #es::__private::serde::Serializer>);
    let de =
        quote_spanned!(enum_ident.span()=> <__D as #es::__private::serde::Deserializer<'__de>>);
    let any: Vec<_> = variants
        .iter()
        .map(|v| v.with(enum_ident, quote!(_)))
        .collect();
    let bound = variants
        .iter()
        .map(|v| v.with(enum_ident, quote!(ref __event)));
    let built: Vec<_> = variants
        .iter()
        .map(|v| v.with(enum_ident, quote!(__event)))
        .collect();
    let built2 = &built;
    let event_ty: Vec<_> = variants.iter().map(|v| v.ty).collect();
    let event: Vec<_> = variants
        .iter()
        .map(|v| as_trait(v, quote!(#plain::Event)))
        .collect();
    let event2 = &event;
    let serialize = variants
        .iter()
        .map(|v| as_trait(v, quote!(#plain::__private::serde::Serialize)));
    let deserialize = variants
        .iter()
        .map(|v| as_trait(v, quote!(#plain::__private::serde::Deserialize<'__de>)));
    quote_spanned! {enum_ident.span()=>
        #[automatically_derived]
        impl #es::EventSet for #enum_ident {
            const NAMES: &'static [&'static str] = &[#(#event::NAME),*];
            const ANY_PERSONAL: bool = false #(|| #event::PERSONAL.is_some())*;

            fn personal_of(__name: &str) -> ::core::option::Option<&'static #es::erasure::Personal> {
                #(
                    if __name == #event::NAME || #event::ALIASES.contains(&__name) {
                        return #event::PERSONAL;
                    }
                )*
                ::core::option::Option::None
            }

            fn name(&self) -> &'static str {
                match *self {
                    #(#any => #event::NAME,)*
                }
            }

            fn schema(&self) -> u32 {
                match *self {
                    #(#any => #event::VERSION,)*
                }
            }

            fn serialize_payload<__S: #es::__private::serde::Serializer>(
                &self,
                __serializer: __S,
            ) -> ::core::result::Result<#ser::Ok, #ser::Error> {
                match *self {
                    #(#bound => #serialize::serialize(__event, __serializer),)*
                }
            }

            fn deserialize_payload<'__de, __D: #es::__private::serde::Deserializer<'__de>>(
                __name: &str,
                __deserializer: __D,
            ) -> ::core::result::Result<::core::option::Option<Self>, #de::Error> {
                #(
                    if __name == #event::NAME || #event::ALIASES.contains(&__name) {
                        return #deserialize::deserialize(__deserializer)
                            .map(|__event| ::core::option::Option::Some(#built));
                    }
                )*
                let _ = __deserializer;
                ::core::result::Result::Ok(::core::option::Option::None)
            }

            fn deserialize_stored<'__de, __D: #es::__private::serde::Deserializer<'__de>>(
                __name: &str,
                __schema: u32,
                __deserializer: __D,
            ) -> ::core::result::Result<::core::option::Option<Self>, #de::Error> {
                #(
                    if __name == #event2::NAME || #event2::ALIASES.contains(&__name) {
                        return #es::__private::deserialize_event::<#event_ty, __D>(__schema, __deserializer)
                            .map(|__event| ::core::option::Option::Some(#built2));
                    }
                )*
                let _ = __deserializer;
                ::core::result::Result::Ok(::core::option::Option::None)
            }
        }

        #[automatically_derived]
        impl #es::__private::serde::Serialize for #enum_ident {
            fn serialize<__S: #es::__private::serde::Serializer>(
                &self,
                __serializer: __S,
            ) -> ::core::result::Result<#ser::Ok, #ser::Error> {
                #es::__private::serialize_tagged(self, __serializer)
            }
        }

        #[automatically_derived]
        impl<'__de> #es::__private::serde::Deserialize<'__de> for #enum_ident {
            fn deserialize<__D: #es::__private::serde::Deserializer<'__de>>(
                __deserializer: __D,
            ) -> ::core::result::Result<Self, #de::Error> {
                #es::__private::deserialize_tagged(__deserializer)
            }
        }
    }
}

/// `Handlers`: each variant runs its handler. What the handler returns
/// converts with `HandlerResult<Self::Error>`, the error type named rather
/// than inferred, spanned on the handler's return type: a handler returning
/// another error type is reported there, by `HandlerResult`'s message, and
/// each such handler on its own (not as "incompatible match arms").
///
/// With `vis = ..`, the items that expose the enum through the public
/// `Handlers` trait are spanned on that visibility: if it is more private
/// than the aggregate, the compiler reports it there.
fn dispatch(input: &Handlers, enum_ident: &Ident, variants: &[Variant]) -> TokenStream {
    let krate = input.krate();
    let self_ty = &input.item.self_ty;
    // The aggregate's name, in `impl Product` or `impl crate::Product`.
    let self_span = input
        .self_ident()
        .map_or_else(|| self_ty.span(), Ident::span);
    // `type Error` is spanned on the self type: a type without
    // `#[derive(Aggregate)]` is reported there, once, by `Aggregate`'s own
    // message. The handlers' results convert to `Self::Error`, that is
    // `<Self as Handlers>::Error`, not to `<Self as Aggregate>::Error`, which
    // would report a missing supertrait of `Aggregate` (`Default`, say) at
    // each handler besides the derive.
    let es = krate.at(self_span);
    let error_item = quote_spanned!(self_span=> type Error = <#self_ty as #es::Aggregate>::Error;);
    let arms = variants.iter().map(|v| {
        let pat = v.with(enum_ident, quote!(ref __event));
        // The event argument is spanned on the `#[on(..)]` type: if the
        // handler takes another type, the mismatch is reported there.
        let event = Ident::new("__event", v.span);
        let body = match v.call {
            // The result is bound first, so the conversion's argument is
            // the return type alone, not the call from the handler's name.
            Some((method, ret_span)) => {
                let es = krate.at(ret_span);
                quote_spanned! {ret_span=>
                {
                    #[allow(clippy::let_unit_value)]
                    let __result = <#self_ty>::#method(self, #event);
                    #es::__private::HandlerResult::<Self::Error>::into_result(__result)
                }
                }
            }
            None => quote!(::core::result::Result::Ok(())),
        };
        quote!(#pat => #body,)
    });
    let exposed = input
        .args
        .vis
        .as_ref()
        .map_or(self_span, |vis| vis.value.span());
    let items = quote_spanned! {exposed=>
        type Event = #enum_ident;

        fn dispatch(&mut self, __event: &#enum_ident) -> ::core::result::Result<(), Self::Error> {
            match *__event {
                #(#arms)*
            }
        }
    };
    quote_spanned! {self_span=>
        #[automatically_derived]
        impl #es::Handlers for #self_ty {
            #error_item
            #items
        }

    }
}

/// `<T as Trait>`, spanned on `T` in `#[on(..)]`.
fn as_trait(variant: &Variant, trait_path: TokenStream) -> TokenStream {
    let ty = variant.ty;
    quote_spanned!(variant.span=> <#ty as #trait_path>)
}

/// No two events of an aggregate share a stored name, which would make the
/// store unable to tell them apart. The check runs in a constant, so it fails
/// the build, at the second type's `#[on(..)]`.
fn checks(krate: Krate, self_ty: &syn::Type, variants: &[Variant]) -> TokenStream {
    let self_text = self_ty.to_token_stream().to_string().replace(' ', "");
    let plain = krate.plain();
    let mut checks = TokenStream::new();
    for (j, second) in variants.iter().enumerate() {
        let second_name = as_trait(second, quote!(#plain::Event));
        let es = krate.at(second.span);
        for first in &variants[..j] {
            let first_name = as_trait(first, quote!(#plain::Event));
            let message = format!(
                "`{}` and `{}`, both events of `{self_text}`, have the same event name, so the store \
                 could not tell them apart: if they are one type (through an alias), it already has a \
                 handler; if not, give one another name with `#[event(name = \"..\")]`",
                crate::ast::path_text(first.ty),
                crate::ast::path_text(second.ty),
            );
            // A name equal to an alias of the other, or two equal aliases,
            // is as ambiguous as two equal names: an item stored under it
            // could be either event. Checked only when the names differ, so
            // that equal names are reported once, by the check above.
            let alias_message = format!(
                "`{}` and `{}`, both events of `{self_text}`, share a name items are stored under \
                 (the name of one is an alias of the other, or both have the same alias), so the \
                 store could not tell which event such an item is: remove that alias from one of them",
                crate::ast::path_text(first.ty),
                crate::ast::path_text(second.ty),
            );
            checks.extend(quote_spanned! {second.span=>
                const _: () = if #es::__private::str_eq(#first_name::NAME, #second_name::NAME) {
                    ::core::panic!(#message)
                } else if #es::__private::names_overlap(
                    #first_name::NAME,
                    #first_name::ALIASES,
                    #second_name::NAME,
                    #second_name::ALIASES,
                ) {
                    ::core::panic!(#alias_message)
                };
            });
        }
    }
    checks
}
