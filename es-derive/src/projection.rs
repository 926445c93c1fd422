//! `#[es::projection]`: reads the `#[on(Event)]` handlers of a projection's
//! impl block, checks them, and implements `es::Projection`, whose `project`
//! routes each event to the handler of its aggregate and event type.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream, Parser};
use syn::spanned::Spanned as _;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ItemImpl, LitStr, Meta, Path, ReturnType, Signature, Token,
    Type,
};

use crate::ast::{path_text, Krate};
use crate::attr::{self, Keyed};
use crate::ctxt::Errors;

const USAGE: &str = "#[es::projection(name = \"StockView\", error = MyError)]";
const ON_USAGE: &str = "`#[on(..)]` in a projection takes the event type, and the aggregate when \
                        several aggregates handle that type: `#[on(ProductReserved)]` or \
                        `#[on(ProductReserved, aggregate = Product)]`";

/// `#[es::projection(name = "..", error = Type, crate = path)]`.
#[derive(Default)]
struct Args {
    name: Option<Keyed<LitStr>>,
    error: Option<Keyed<Type>>,
    krate: Option<Keyed<Path>>,
}

/// One `#[on(Event)] async fn ..(&self, e: &Event, at: &Envelope)`.
struct Handler {
    event: Path,
    /// The aggregate, when `#[on(.., aggregate = A)]` names it; otherwise it
    /// is inferred from the one aggregate whose handlers take the event.
    aggregate: Option<Type>,
    sig: Signature,
    /// Whether it takes the envelope, as a second parameter.
    envelope: bool,
    /// Whether its signature is one the generated code can call.
    callable: bool,
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(item)) => item,
        Ok(other) => {
            let error = syn::Error::new(
                crate::handlers::item_keyword(&other),
                "`#[es::projection]` goes on the impl block of a projection's `#[on(Event)]` handlers",
            )
            .into_compile_error();
            return quote!(#error #item);
        }
        Err(error) => {
            let error = error.into_compile_error();
            return quote!(#error #item);
        }
    };
    let mut errors = Errors::default();
    let args = parse_args(args, &mut errors);
    let krate_path = args.krate.as_ref().map(|k| &k.value);
    let handlers = read_handlers(&mut item, krate_path, &mut errors);
    if let Some(t) = &item.trait_ {
        errors.error_spanned(
            &t.1,
            "`#[es::projection]` goes on an inherent impl block (`impl StockView { .. }`), not a trait impl",
        );
    }
    if handlers.is_empty() && errors.is_empty() {
        errors.error_spanned(
            &item.self_ty,
            "a projection needs at least one handler: `#[on(SomeEvent)] async fn some(&self, e: &SomeEvent, at: &Envelope)`",
        );
    }
    duplicates(&handlers, &mut errors);
    let name = match &args.name {
        Some(name) => {
            let text = name.value.value();
            if text.is_empty() || text.contains('#') || text.starts_with('$') {
                errors.error_spanned(
                    &name.value,
                    "a projection name cannot be empty, contain `#` or start with `$`: it is part of the keys of its checkpoints",
                );
            }
            text
        }
        None => match self_ident(&item) {
            Some(ident) => ident.unraw().to_string(),
            None => {
                errors.error_spanned(
                    &item.self_ty,
                    "a projection is a named type: `impl StockView { .. }`, or give it `name = \"..\"`",
                );
                String::new()
            }
        },
    };
    let krate = Krate::from_path(krate_path);
    let errors_tokens = errors.to_compile_errors();
    if !errors.is_empty() && item.trait_.is_some() {
        return quote!(#errors_tokens #item);
    }
    let es = krate.plain();
    let error_ty = match &args.error {
        Some(error) => error.value.to_token_stream(),
        None => quote!(#es::Error),
    };
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    // One function per handler names its route, `fn() -> impl Route<Event =
    // E>`: the aggregate is inferred there, once, so a type that no
    // aggregate handles (or several do) is reported once, at its `#[on(..)]`.
    let route_fns: Vec<Ident> = (0..handlers.len())
        .map(|i| quote::format_ident!("__es_route_{}", i))
        .collect();
    let route_defs = handlers.iter().zip(&route_fns).map(|(h, f)| {
        let event = &h.event;
        let span = h.event.span();
        let es_at = krate.at(span);
        let aggregate = match &h.aggregate {
            Some(a) => a.to_token_stream(),
            None => quote_spanned!(span=> _),
        };
        quote_spanned! {span=>
            fn #f() -> impl #es_at::__private::Route<Event = #event> {
                #es_at::__private::which_aggregate::<#event, #aggregate>()
            }
        }
    });
    let routes = handlers.iter().zip(&route_fns).map(|(h, f)| {
        let event = &h.event;
        let call = if h.callable {
            let ident = &h.sig.ident;
            let ret_span = match &h.sig.output {
                ReturnType::Type(_, ty) => ty.span(),
                ReturnType::Default => h.sig.ident.span(),
            };
            let args = if h.envelope {
                quote!(&__event, &__envelope)
            } else {
                quote!(&__event)
            };
            let es_ret = krate.at(ret_span);
            quote_spanned! {ret_span=>
                <_ as #es_ret::__private::ProjectionResult<#error_ty>>::into_result(self.#ident(#args).await)
            }
        } else {
            quote!(::core::result::Result::Ok(()))
        };
        quote! {
            let __raw = match #es::__private::decode_as(#f(), __codec, __raw) {
                ::core::result::Result::Ok(::core::result::Result::Ok((__event, __envelope))) => {
                    let __outcome: ::core::result::Result<(), #error_ty> = #call;
                    return #es::__private::handled(
                        __NAME,
                        <#event as #es::Event>::NAME,
                        __envelope,
                        __outcome,
                    );
                }
                ::core::result::Result::Ok(::core::result::Result::Err(__raw)) => __raw,
                ::core::result::Result::Err(__error) => {
                    return ::core::result::Result::Err(#es::__private::unreadable(__NAME, __error));
                }
            };
        }
    });
    let checks = route_fns.iter().map(|f| {
        quote! {
            if let ::core::option::Option::Some(__checked) =
                #es::__private::check_ignored(#f(), __codec, &__raw)
            {
                return __checked.map_err(|__error| #es::__private::unreadable(__NAME, __error));
            }
        }
    });
    let names = route_fns
        .iter()
        .map(|f| quote!(#es::__private::aggregate_of(#f())));
    let personal = route_fns.iter().map(|f| {
        quote! {
            if let ::core::option::Option::Some(__personal) =
                #es::__private::personal_of(#f(), __aggregate, __event)
            {
                return __personal;
            }
        }
    });
    let alias = krate.alias();
    quote! {
        #errors_tokens
        #item
        const _: () = {
            #alias
            #(#route_defs)*

            #[automatically_derived]
            impl #impl_generics #es::Projection for #self_ty #where_clause {
                const NAME: &'static str = #name;
                type Error = #error_ty;

                fn aggregates() -> ::std::vec::Vec<&'static str> {
                    let mut __names: ::std::vec::Vec<&'static str> = ::std::vec::Vec::new();
                    #(
                        let __name = #names;
                        if !__names.contains(&__name) {
                            __names.push(__name);
                        }
                    )*
                    __names
                }

                #[allow(unreachable_code, unused_variables)]
                fn personal(
                    __aggregate: &str,
                    __event: &str,
                ) -> ::core::option::Option<&'static #es::erasure::Personal> {
                    #(#personal)*
                    ::core::option::Option::None
                }

                #[allow(unreachable_code, unused_variables)]
                fn project<'__a, __C: #es::Codec>(
                    &'__a self,
                    __codec: &'__a __C,
                    __raw: #es::RawEvent<<__C as #es::Codec>::Payload>,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<#es::Projected, #es::ProjectionError<#error_ty>>,
                > + ::core::marker::Send + '__a {
                    const __NAME: &str = #name;
                    async move {
                        #(#routes)*
                        #(#checks)*
                        ::core::result::Result::Ok(#es::Projected::NotListened)
                    }
                }
            }
        };
    }
}

fn self_ident(item: &ItemImpl) -> Option<&Ident> {
    match &*item.self_ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

fn parse_args(args: TokenStream, errors: &mut Errors) -> Args {
    let mut parsed = Args::default();
    let parser = syn::meta::parser(|meta| {
        let Some(key) = meta.path.get_ident().cloned() else {
            return attr::unknown_key(&meta, USAGE, errors);
        };
        match key.to_string().as_str() {
            attr::NAME => {
                let value = attr::value(
                    &meta,
                    errors,
                    "a string, like `name = \"StockView\"`",
                    <LitStr as Parse>::parse,
                );
                attr::set(&mut parsed.name, &key, value, PROJECTION, errors);
            }
            attr::ERROR => {
                let value = attr::value(
                    &meta,
                    errors,
                    "the handlers' error type, like `error = ViewError`",
                    <Type as Parse>::parse,
                );
                attr::set(&mut parsed.error, &key, value, PROJECTION, errors);
            }
            attr::CRATE => {
                let value = attr::value(&meta, errors, attr::CRATE_EXPECTED, Path::parse_mod_style);
                attr::set(&mut parsed.krate, &key, value, PROJECTION, errors);
            }
            _ => return attr::unknown_key(&meta, USAGE, errors),
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    parsed
}

const PROJECTION: &str = "es::projection";

/// Reads and removes the `#[on(..)]` attributes, checking each handler.
fn read_handlers(item: &mut ItemImpl, krate: Option<&Path>, errors: &mut Errors) -> Vec<Handler> {
    let mut handlers = Vec::new();
    for impl_item in &mut item.items {
        let attrs = match impl_item {
            ImplItem::Fn(f) => &mut f.attrs,
            ImplItem::Const(c) => &mut c.attrs,
            ImplItem::Type(t) => &mut t.attrs,
            ImplItem::Macro(m) => &mut m.attrs,
            _ => continue,
        };
        let (on, rest): (Vec<_>, Vec<_>) = attrs.drain(..).partition(|a| attr::is_on(a, krate));
        *attrs = rest;
        let ImplItem::Fn(f) = impl_item else {
            for attr in &on {
                errors.error_spanned(
                    attr,
                    "`#[on(..)]` marks an event handler, which is a method: `#[on(SomeEvent)] async fn some(&self, e: &SomeEvent, at: &Envelope)`",
                );
            }
            continue;
        };
        let mut on = on.iter();
        let Some(first) = on.next() else {
            continue;
        };
        for extra in on {
            errors.error_spanned(
                extra,
                format_args!(
                    "`{}` already has an `#[on(..)]`: a handler handles one event type",
                    f.sig.ident
                ),
            );
        }
        let Some((event, aggregate)) = parse_on(first, errors) else {
            continue;
        };
        let (callable, envelope) = signature(&f.sig, errors);
        handlers.push(Handler {
            event,
            aggregate,
            sig: f.sig.clone(),
            envelope,
            callable,
        });
    }
    handlers
}

/// `#[on(Event)]` or `#[on(Event, aggregate = Aggregate)]`.
fn parse_on(attr: &Attribute, errors: &mut Errors) -> Option<(Path, Option<Type>)> {
    let Meta::List(list) = &attr.meta else {
        errors.error_spanned(&attr.meta, ON_USAGE);
        return None;
    };
    let parsed = (|input: ParseStream| {
        let event: Type = input.parse()?;
        let mut aggregate = None;
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: Ident = input.parse()?;
            if key != "aggregate" {
                return Err(syn::Error::new(key.span(), ON_USAGE));
            }
            input.parse::<Token![=]>()?;
            aggregate = Some(input.parse::<Type>()?);
            input.parse::<Option<Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error(ON_USAGE));
        }
        Ok((event, aggregate))
    })
    .parse2(list.tokens.clone());
    match parsed {
        Ok((Type::Path(path), aggregate)) if path.qself.is_none() => Some((path.path, aggregate)),
        Ok((other, _)) => {
            errors.error_spanned(
                other,
                "`#[on(..)]` takes an event type by its path, like `#[on(ProductRestocked)]`",
            );
            None
        }
        Err(error) if list.tokens.is_empty() => {
            let _ = error;
            errors.error_at(list.delimiter.span().join(), ON_USAGE);
            None
        }
        Err(error) => {
            errors.push(syn::Error::new(error.span(), ON_USAGE));
            None
        }
    }
}

/// `async fn name(&self, e: &Event)` or `async fn name(&self, e: &Event, at:
/// &Envelope)`, returning nothing, `()` or `Result<(), E>`. Returns whether
/// the generated code can call it, and whether it takes the envelope.
fn signature(sig: &Signature, errors: &mut Errors) -> (bool, bool) {
    let before = errors.count();
    if sig.asyncness.is_none() {
        errors.error_spanned(
            sig.fn_token,
            "a projection handler is `async`: `async fn some(&self, e: &SomeEvent, at: &Envelope)`, \
             since a read model lives somewhere (a table, an index, a queue)",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.error_spanned(unsafety, "a projection handler cannot be `unsafe`");
    }
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
    {
        errors.error_spanned(param, "a projection handler cannot be generic");
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) if r.mutability.is_some() => errors.error_spanned(
            r,
            "a projection handler takes `&self`, not `&mut self`: a driver projects several \
             aggregates at once; keep state in a view table (`es::Views`) or behind a lock",
        ),
        Some(other) => errors.error_spanned(
            other,
            "a projection handler takes `&self` first: `async fn some(&self, e: &SomeEvent, at: &Envelope)`",
        ),
        None => errors.error_spanned(
            &sig.ident,
            "a projection handler takes `&self` first: `async fn some(&self, e: &SomeEvent, at: &Envelope)`",
        ),
    }
    let rest: Vec<&FnArg> = inputs.collect();
    for arg in &rest {
        if let FnArg::Typed(t) = arg {
            if !matches!(&*t.ty, Type::Reference(r) if r.mutability.is_none()) {
                errors.error_spanned(
                    &t.ty,
                    "a projection handler takes the event and the envelope by shared reference: `e: &SomeEvent, at: &Envelope`",
                );
            }
        }
    }
    match rest.len() {
        1 | 2 => {}
        0 => errors.error_spanned(
            &sig.inputs,
            "a projection handler takes the event: `async fn some(&self, e: &SomeEvent)`, and optionally `at: &Envelope`",
        ),
        _ => errors.error_spanned(
            quote!(#(#rest),*),
            "a projection handler takes the event and, optionally, its envelope: `(&self, e: &SomeEvent, at: &Envelope)`",
        ),
    }
    (errors.count() == before, rest.len() == 2)
}

/// Each event type (with its aggregate) has one handler.
fn duplicates(handlers: &[Handler], errors: &mut Errors) {
    for (i, handler) in handlers.iter().enumerate() {
        let key = (
            path_text(&handler.event),
            handler
                .aggregate
                .as_ref()
                .map(|a| a.to_token_stream().to_string()),
        );
        let first = handlers[..i].iter().find(|h| {
            (
                path_text(&h.event),
                h.aggregate
                    .as_ref()
                    .map(|a| a.to_token_stream().to_string()),
            ) == key
        });
        if let Some(first) = first {
            errors.error_spanned(
                &handler.event,
                format_args!(
                    "`{}` already has a handler, `{}`: each event type has one handler",
                    key.0, first.sig.ident
                ),
            );
        }
    }
}
