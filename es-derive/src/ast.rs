//! The macros' input in a small intermediate form: what was written, with the
//! defaults filled in, ready to be validated (`valid.rs`) and expanded.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt as _;
use syn::{Data, DeriveInput, Ident, ImplItem, ItemImpl, LitInt, Path, Signature, Type};

use crate::attr::{self, AggregateAttrs, EventAttrs, HandlersArgs, Keyed};
use crate::ctxt::Errors;

/// The path generated code reaches es by: the `crate = ..` of the
/// attribute, or `::es`.
#[derive(Clone, Copy)]
pub(crate) struct Krate<'a>(Option<&'a Path>);

impl<'a> Krate<'a> {
    fn new(given: &'a Option<Keyed<Path>>) -> Self {
        Krate(given.as_ref().map(|k| &k.value))
    }

    /// The path given with `crate = ..`, if any.
    pub(crate) fn from_path(given: Option<&'a Path>) -> Self {
        Krate(given)
    }

    /// The path, as tokens located at `span`, to be followed by `::Item`.
    ///
    /// The default, `::es`, is spanned on `span` entirely, as the generated
    /// code around it is. A given path is reached through the alias that
    /// [`Krate::alias`] declares, located at `span`: so an error about the
    /// generated code, such as a type that is not an `Event`, is reported
    /// where it is without `crate = ..` too, and a path that does not resolve
    /// is reported once, at the path, by the alias's `use`.
    pub(crate) fn at(self, span: Span) -> TokenStream {
        match self.0 {
            None => quote::quote_spanned!(span=> ::es),
            Some(_) => {
                let alias = Ident::new(ALIAS, span);
                quote::quote!(#alias)
            }
        }
    }

    /// The path as generated code outside any spanned context uses it.
    pub(crate) fn plain(self) -> TokenStream {
        self.at(Span::call_site())
    }

    /// `use path as __es;`, for a given path: the generated code that uses
    /// [`Krate::at`] goes in the same block, after it. Nothing for `::es`.
    pub(crate) fn alias(self) -> TokenStream {
        match self.0 {
            None => TokenStream::new(),
            Some(path) => {
                let alias = Ident::new(ALIAS, Span::call_site());
                quote::quote! {
                    #[allow(unused_imports)]
                    use #path as #alias;
                }
            }
        }
    }

    /// Code that uses [`Krate::at`], in a block of its own that declares
    /// the alias, when there is one: `const _: () = { use ..; code };`.
    pub(crate) fn scoped(self, code: TokenStream) -> TokenStream {
        match self.0 {
            None => code,
            Some(_) => {
                let alias = self.alias();
                quote::quote! {
                    const _: () = {
                        #alias
                        #code
                    };
                }
            }
        }
    }
}

/// The name a given `crate = path` is imported under, in generated code.
const ALIAS: &str = "__es";

/// A `#[derive(Event)]` type.
pub(crate) struct Event<'a> {
    pub input: &'a DeriveInput,
    pub attrs: EventAttrs,
}

/// A `#[derive(Aggregate)]` type.
pub(crate) struct Aggregate<'a> {
    pub input: &'a DeriveInput,
    pub attrs: AggregateAttrs,
}

/// An `#[es::handlers]` impl block.
pub(crate) struct Handlers {
    /// The impl block as the user wrote it, minus the `#[on(..)]` attributes,
    /// which are not real attributes once the macro has read them.
    pub item: ItemImpl,
    pub args: HandlersArgs,
    pub handlers: Vec<Handler>,
    /// How many `#[on(..)]` attributes there were, readable or not.
    pub marked: usize,
}

/// One `#[on(Event)] fn ..` in an `#[es::handlers]` block.
pub(crate) struct Handler {
    /// The event type, as written inside `#[on(..)]`.
    pub event: Path,
    pub sig: Signature,
    /// A `#[cfg(..)]` or `#[cfg_attr(..)]` on the handler, which es rejects.
    pub cfg: Option<syn::Attribute>,
}

impl<'a> Event<'a> {
    pub(crate) fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        Event {
            input,
            attrs: attr::event_attrs(&input.attrs, errors),
        }
    }

    /// The stored name: `#[event(name = ..)]`, or the type's name.
    pub(crate) fn name(&self) -> String {
        stored_name(&self.attrs.name, &self.input.ident)
    }

    /// The path to es: `#[event(crate = ..)]`, or `::es`.
    pub(crate) fn krate(&self) -> Krate<'_> {
        Krate::new(&self.attrs.krate)
    }

    /// The schema version; 1 unless given (an invalid one is reported by
    /// `valid.rs` and replaced by the default here).
    pub(crate) fn version(&self) -> u32 {
        number(&self.attrs.version).unwrap_or(1)
    }

    /// The former names, as given.
    pub(crate) fn aliases(&self) -> Vec<String> {
        self.attrs
            .aliases
            .as_ref()
            .map(|a| a.value.iter().map(syn::LitStr::value).collect())
            .unwrap_or_default()
    }

    /// The old shapes by schema, oldest first, once `valid.rs` has passed
    /// them: each converts into the next one, the newest into the event.
    pub(crate) fn shapes(&self) -> Vec<(u32, &Type)> {
        let mut shapes: Vec<(u32, &Type)> = self
            .attrs
            .upcast
            .iter()
            .flat_map(|u| &u.value.shapes)
            .filter_map(|s| Some((s.schema?, &s.ty)))
            .collect();
        shapes.sort_by_key(|(schema, _)| *schema);
        shapes
    }

    /// The `upcast(with = ..)` function, if any.
    pub(crate) fn upcast_with(&self) -> Option<&Path> {
        self.attrs
            .upcast
            .as_ref()?
            .value
            .with
            .as_ref()
            .map(|w| &w.value)
    }

    /// Whether `#[event(upcast(..))]` was given.
    pub(crate) fn upcasts(&self) -> bool {
        self.attrs.upcast.is_some()
    }
}

impl<'a> Aggregate<'a> {
    pub(crate) fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        Aggregate {
            input,
            attrs: attr::aggregate_attrs(&input.attrs, errors),
        }
    }

    /// The stored name: `#[aggregate(name = ..)]`, or the type's name.
    pub(crate) fn name(&self) -> String {
        stored_name(&self.attrs.name, &self.input.ident)
    }

    /// The path to es: `#[aggregate(crate = ..)]`, or `::es`.
    pub(crate) fn krate(&self) -> Krate<'_> {
        Krate::new(&self.attrs.krate)
    }

    /// Snapshot every this many versions; 0, the default, never.
    pub(crate) fn snapshot_every(&self) -> u64 {
        number(&self.attrs.snapshot_every).unwrap_or(0)
    }

    pub(crate) fn snapshot_schema(&self) -> u32 {
        number(&self.attrs.snapshot_schema).unwrap_or(1)
    }

    /// The domain error: `#[aggregate(error = ..)]`, or `Infallible` for an
    /// aggregate whose handlers cannot fail.
    pub(crate) fn error_type(&self) -> TokenStream {
        match &self.attrs.error {
            Some(error) => quote::ToTokens::to_token_stream(&error.value),
            None => quote::quote!(::core::convert::Infallible),
        }
    }

    pub(crate) fn is_union(&self) -> bool {
        matches!(self.input.data, Data::Union(_))
    }
}

impl Handlers {
    /// Reads the handlers and strips their `#[on(..)]` attributes. An `#[on]`
    /// that sits on something other than a method is recorded and dropped; one
    /// that cannot be read is recorded, and its method is kept as the handler
    /// of its parameter's type, `e: &Type`, when it has one.
    pub(crate) fn from_syn(args: TokenStream, mut item: ItemImpl, errors: &mut Errors) -> Self {
        let args = attr::handlers_args(args, errors);
        let mut handlers: Vec<Handler> = Vec::new();
        let mut guessed: Vec<Handler> = Vec::new();
        let mut marked = 0;
        let krate = args.krate.as_ref().map(|k| &k.value);
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
            marked += on.len();
            let ImplItem::Fn(f) = impl_item else {
                for attr in &on {
                    errors.error_spanned(attr, "`#[on(..)]` marks an event handler, which is a method: `#[on(SomeEvent)] fn some(&mut self, e: &SomeEvent)`");
                }
                continue;
            };
            let events: Vec<_> = on
                .iter()
                .filter_map(|a| attr::on_type(a, errors).map(|p| (a, p)))
                .collect();
            let cfg = f
                .attrs
                .iter()
                .find(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
                .cloned();
            let mut events = events.into_iter();
            if let Some((_, event)) = events.next() {
                handlers.push(Handler {
                    event,
                    sig: f.sig.clone(),
                    cfg,
                });
            } else if let Some(event) = event_parameter(&f.sig).filter(|_| !on.is_empty()) {
                // No `#[on(..)]` could be read, and that was reported: the
                // parameter's type stands in, so the handler is kept.
                guessed.push(Handler {
                    event,
                    sig: f.sig.clone(),
                    cfg,
                });
            }
            for (attr, _) in events {
                errors.error_spanned(
                    attr,
                    format_args!(
                        "`{}` already has an `#[on(..)]`: a handler handles one event type",
                        f.sig.ident
                    ),
                );
            }
        }
        // A guess never makes an error of its own: it is dropped when its
        // type already has a handler.
        for handler in guessed {
            let text = handler.event_text();
            if !handlers.iter().any(|h| h.event_text() == text) {
                handlers.push(handler);
            }
        }
        Handlers {
            item,
            args,
            handlers,
            marked,
        }
    }

    /// The path to es: `#[es::handlers(crate = ..)]`, or `::es`.
    pub(crate) fn krate(&self) -> Krate<'_> {
        Krate::new(&self.args.krate)
    }

    /// The aggregate's type name, the last segment of `impl Product`'s path.
    pub(crate) fn self_ident(&self) -> Option<&Ident> {
        match &*self.item.self_ty {
            Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
            _ => None,
        }
    }

    /// The generated enum's name: `event = ..`, or `{Aggregate}Event`.
    pub(crate) fn enum_ident(&self) -> Option<Ident> {
        if let Some(event) = &self.args.event {
            return Some(event.value.clone());
        }
        let ident = self.self_ident()?;
        Some(Ident::new(&format!("{}Event", ident.unraw()), ident.span()))
    }
}

impl Handler {
    /// The enum variant: the event type's name, the last segment of its path.
    pub(crate) fn variant(&self) -> Option<&Ident> {
        self.event.segments.last().map(|s| &s.ident)
    }

    /// The event's path as written, for messages and docs.
    pub(crate) fn event_text(&self) -> String {
        path_text(&self.event)
    }
}

/// A method's event parameter, `e: &T`: its first parameter that is not
/// `self`.
pub(crate) fn event_arg(sig: &Signature) -> Option<&syn::PatType> {
    sig.inputs.iter().find_map(|a| match a {
        syn::FnArg::Typed(t) => Some(t),
        syn::FnArg::Receiver(_) => None,
    })
}

/// `T` in a method's `e: &T` parameter, when `T` is a plain path.
fn event_parameter(sig: &Signature) -> Option<Path> {
    match &*event_arg(sig)?.ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) if p.qself.is_none() => Some(p.path.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// A path as the user would write it, without the spaces `to_string` adds.
pub(crate) fn path_text(path: &Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "")
}

fn stored_name(given: &Option<Keyed<syn::LitStr>>, ident: &Ident) -> String {
    match given {
        Some(name) => name.value.value(),
        // `r#Type` is stored as `Type`.
        None => ident.unraw().to_string(),
    }
}

fn number<N: std::str::FromStr>(given: &Option<Keyed<LitInt>>) -> Option<N>
where
    N::Err: std::fmt::Display,
{
    given.as_ref().and_then(|n| n.value.base10_parse().ok())
}

/// The span of an attribute key, when it was given.
pub(crate) fn key_span<T>(keyed: &Option<Keyed<T>>) -> Option<Span> {
    keyed.as_ref().map(|k| k.key.span())
}
