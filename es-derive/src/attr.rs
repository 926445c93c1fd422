//! Parsing of the macros' attributes: `#[event(..)]`, `#[aggregate(..)]`,
//! `#[es::handlers(..)]` and `#[on(..)]`.
//!
//! Parsing is syntax only, and it never stops at the first mistake: a bad key
//! or value is recorded and skipped up to the next comma, so every mistake in
//! every attribute is reported together. The rules about what a value may be
//! (a name without `#`, a version from 1) live in `valid.rs`.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitInt, LitStr, Meta, Path, Token, Type, Visibility};

use crate::ctxt::Errors;

// The attributes, and the keys each one takes.
pub(crate) const EVENT: &str = "event";
pub(crate) const AGGREGATE: &str = "aggregate";
pub(crate) const HANDLERS: &str = "es::handlers";
pub(crate) const ON: &str = "on";
pub(crate) const NAME: &str = "name";
pub(crate) const VERSION: &str = "version";
/// `#[event(aliases("ItemHeld"))]`: names the event was stored under before.
pub(crate) const ALIASES: &str = "aliases";
/// `#[event(upcast(v1 = ItemReservedV1, with = path))]`: readers of older schemas.
pub(crate) const UPCAST: &str = "upcast";
/// `upcast(with = path::to::fn)`: a function that reads any older schema.
pub(crate) const WITH: &str = "with";
const UPCAST_USAGE: &str = "`upcast(v1 = ItemReservedV1, v2 = ItemReservedV2)`, each old shape \
                            under the schema it was stored at, or `upcast(with = path::to::fn)`";
pub(crate) const ERROR: &str = "error";
pub(crate) const SNAPSHOT_EVERY: &str = "snapshot_every";
pub(crate) const SNAPSHOT_SCHEMA: &str = "snapshot_schema";
/// `#[es::handlers(event = OrderEvents)]`: the generated enum's name.
pub(crate) const EVENT_ENUM: &str = "event";
/// `#[es::handlers(vis = pub(crate))]`: the generated enum's visibility.
pub(crate) const VIS: &str = "vis";
/// `crate = my::es`, in any of the three: the path generated code reaches es
/// by, for a crate that re-exports es or depends on it under another name.
pub(crate) const CRATE: &str = "crate";
/// What `crate = ..` expects, in its errors: a path in module style (read
/// with `Path::parse_mod_style`), without generic arguments.
pub(crate) const CRATE_EXPECTED: &str =
    "a path to the es crate, like `crate = ::es` or `crate = my::reexported::es` (a path, not a string)";

/// A value written in an attribute, with the key it was given under, so that
/// errors and trait-bound checks can point at that key.
pub(crate) struct Keyed<T> {
    pub key: Ident,
    pub value: T,
}

/// `#[event(name = "..", version = N, aliases(".."), upcast(..), crate = path)]`.
#[derive(Default)]
pub(crate) struct EventAttrs {
    pub name: Option<Keyed<LitStr>>,
    pub version: Option<Keyed<LitInt>>,
    pub aliases: Option<Keyed<Vec<LitStr>>>,
    pub upcast: Option<Keyed<Upcast>>,
    pub krate: Option<Keyed<Path>>,
}

/// `upcast(v1 = ItemReservedV1, v2 = ItemReservedV2, with = path::to::fn)`.
#[derive(Default)]
pub(crate) struct Upcast {
    pub shapes: Vec<Shape>,
    pub with: Option<Keyed<Path>>,
}

/// `v1 = ItemReservedV1`: the shape payloads stored at schema 1 have.
pub(crate) struct Shape {
    /// `v1`, where errors about the schema belong.
    pub key: Ident,
    /// The schema in the key; `None` when it does not fit a `u32`.
    pub schema: Option<u32>,
    pub ty: Type,
}

/// `#[aggregate(name = "..", error = Type, snapshot_every = N, snapshot_schema = N, crate = path)]`.
#[derive(Default)]
pub(crate) struct AggregateAttrs {
    pub name: Option<Keyed<LitStr>>,
    pub error: Option<Keyed<Type>>,
    pub snapshot_every: Option<Keyed<LitInt>>,
    pub snapshot_schema: Option<Keyed<LitInt>>,
    pub krate: Option<Keyed<Path>>,
}

/// `#[es::handlers(event = Name, vis = pub(crate), crate = path)]`.
#[derive(Default)]
pub(crate) struct HandlersArgs {
    pub event: Option<Keyed<Ident>>,
    pub vis: Option<Keyed<Visibility>>,
    pub krate: Option<Keyed<Path>>,
}

pub(crate) fn event_attrs(attrs: &[Attribute], errors: &mut Errors) -> EventAttrs {
    let mut parsed = EventAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(EVENT)) {
        let usage = "#[event(name = \"ProductReserved\", version = 1)]";
        parse_keys(attr, usage, errors, |key, meta, errors| {
            match key.to_string().as_str() {
                NAME => {
                    let value = value(
                        meta,
                        errors,
                        "a string, like `name = \"ProductReserved\"`",
                        <LitStr as Parse>::parse,
                    );
                    set(&mut parsed.name, key, value, EVENT, errors);
                    Ok(true)
                }
                VERSION => {
                    let value = value(
                        meta,
                        errors,
                        "a whole number, like `version = 2`",
                        <LitInt as Parse>::parse,
                    );
                    set(&mut parsed.version, key, value, EVENT, errors);
                    Ok(true)
                }
                ALIASES => {
                    let value = aliases(meta, errors);
                    set(&mut parsed.aliases, key, value, EVENT, errors);
                    Ok(true)
                }
                UPCAST => {
                    let value = upcast(meta, errors);
                    set(&mut parsed.upcast, key, value, EVENT, errors);
                    Ok(true)
                }
                CRATE => {
                    let value = value(meta, errors, CRATE_EXPECTED, Path::parse_mod_style);
                    set(&mut parsed.krate, key, value, EVENT, errors);
                    Ok(true)
                }
                _ => Ok(false),
            }
        });
    }
    parsed
}

/// `aliases("ItemHeld", "Held")`: a list of strings.
fn aliases(meta: &ParseNestedMeta, errors: &mut Errors) -> Option<Vec<LitStr>> {
    const EXPECTED: &str =
        "the event's former names as strings, like `aliases(\"ItemHeld\", \"Held\")`";
    if !meta.input.peek(syn::token::Paren) {
        errors.error_spanned(
            &meta.path,
            format_args!("`aliases` takes a list: {EXPECTED}"),
        );
        let _ = skip_value(meta.input);
        return None;
    }
    let list = match meta.input.parse::<proc_macro2::Group>() {
        Ok(group) => group,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let parser = Punctuated::<LitStr, Token![,]>::parse_terminated;
    match parser.parse2(list.stream()) {
        Ok(names) if names.is_empty() => {
            errors.error_at(
                list.span(),
                format_args!("`aliases()` names nothing: {EXPECTED}"),
            );
            None
        }
        Ok(names) => Some(names.into_iter().collect()),
        Err(error) => {
            errors.error_at(error.span(), format_args!("expected {EXPECTED}"));
            None
        }
    }
}

/// `upcast(v1 = ItemReservedV1, with = path::to::fn)`. Every mistake inside
/// is recorded and the list is kept with the entries that could be read.
fn upcast(meta: &ParseNestedMeta, errors: &mut Errors) -> Option<Upcast> {
    if !meta.input.peek(syn::token::Paren) {
        errors.error_spanned(
            &meta.path,
            format_args!("`upcast` takes a list: {UPCAST_USAGE}"),
        );
        let _ = skip_value(meta.input);
        return None;
    }
    let list = match meta.input.parse::<proc_macro2::Group>() {
        Ok(group) => group,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let mut parsed = Upcast::default();
    if list.stream().is_empty() {
        // `valid.rs` says what is missing, at the key.
        return Some(parsed);
    }
    let parser = syn::meta::parser(|inner| {
        let Some(key) = inner.path.get_ident().cloned() else {
            return upcast_key(&inner, errors);
        };
        let text = key.to_string();
        if text == WITH {
            let value = value(
                &inner,
                errors,
                "a function that reads an old payload, like `with = path::to::fn`",
                <Path as Parse>::parse,
            );
            set(&mut parsed.with, &key, value, "event(upcast", errors);
            return Ok(());
        }
        let Some(digits) = text
            .strip_prefix('v')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        else {
            return upcast_key(&inner, errors);
        };
        let value = value(
            &inner,
            errors,
            "the type of the old shape, like `v1 = ItemReservedV1`",
            <Type as Parse>::parse,
        );
        if let Some(ty) = value {
            parsed.shapes.push(Shape {
                schema: digits.parse().ok(),
                key,
                ty,
            });
        }
        Ok(())
    });
    // The list was taken whole before its contents are parsed: the keys
    // after `upcast(..)` are still parsed.
    if let Err(error) = parser.parse2(list.stream()) {
        errors.push(error);
    }
    Some(parsed)
}

fn upcast_key(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    errors.error_spanned(
        &meta.path,
        format_args!("unknown key `{key}` in `upcast(..)`; expected {UPCAST_USAGE}"),
    );
    skip_value(meta.input)
}

pub(crate) fn aggregate_attrs(attrs: &[Attribute], errors: &mut Errors) -> AggregateAttrs {
    let mut parsed = AggregateAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(AGGREGATE)) {
        let usage = "#[aggregate(name = \"Product\", error = ProductError, snapshot_every = 50)]";
        parse_keys(attr, usage, errors, |key, meta, errors| {
            match key.to_string().as_str() {
                NAME => {
                    let value = value(
                        meta,
                        errors,
                        "a string, like `name = \"Product\"`",
                        <LitStr as Parse>::parse,
                    );
                    set(&mut parsed.name, key, value, AGGREGATE, errors);
                }
                ERROR => {
                    let value = value(
                        meta,
                        errors,
                        "a type, like `error = ProductError`",
                        <Type as Parse>::parse,
                    );
                    set(&mut parsed.error, key, value, AGGREGATE, errors);
                }
                SNAPSHOT_EVERY => {
                    let expected = "a whole number of versions, like `snapshot_every = 50`";
                    let value = value(meta, errors, expected, <LitInt as Parse>::parse);
                    set(&mut parsed.snapshot_every, key, value, AGGREGATE, errors);
                }
                SNAPSHOT_SCHEMA => {
                    let expected = "a whole number, like `snapshot_schema = 2`";
                    let value = value(meta, errors, expected, <LitInt as Parse>::parse);
                    set(&mut parsed.snapshot_schema, key, value, AGGREGATE, errors);
                }
                CRATE => {
                    let value = value(meta, errors, CRATE_EXPECTED, Path::parse_mod_style);
                    set(&mut parsed.krate, key, value, AGGREGATE, errors);
                }
                _ => return Ok(false),
            }
            Ok(true)
        });
    }
    parsed
}

/// Parses the arguments of `#[es::handlers(..)]`, which come to the macro as
/// its own token stream rather than as an attribute.
pub(crate) fn handlers_args(args: TokenStream, errors: &mut Errors) -> HandlersArgs {
    let mut parsed = HandlersArgs::default();
    let usage = "#[es::handlers(event = ProductEvent, vis = pub(crate))]";
    let parser = syn::meta::parser(|meta| {
        let key = match meta.path.get_ident() {
            Some(key) => key.clone(),
            None => return unknown_key(&meta, usage, errors),
        };
        match key.to_string().as_str() {
            EVENT_ENUM => {
                let value = value(
                    &meta,
                    errors,
                    "the enum's name, like `event = ProductEvent`",
                    <Ident as Parse>::parse,
                );
                set(&mut parsed.event, &key, value, HANDLERS, errors);
            }
            VIS => {
                let value = value(
                    &meta,
                    errors,
                    "a visibility, like `vis = pub(crate)`",
                    visibility,
                );
                set(&mut parsed.vis, &key, value, HANDLERS, errors);
            }
            CRATE => {
                let value = value(&meta, errors, CRATE_EXPECTED, Path::parse_mod_style);
                set(&mut parsed.krate, &key, value, HANDLERS, errors);
            }
            _ => return unknown_key(&meta, usage, errors),
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    parsed
}

/// The event type of an `#[on(Type)]` attribute, or `None` (with the error
/// recorded) when it names no type by its path. `#[on(A, B)]` is an error,
/// recorded at `B`, but it still gives `A`, so the handler is kept and code
/// that converts an `A` into the enum does not fail too.
pub(crate) fn on_type(attr: &Attribute, errors: &mut Errors) -> Option<Path> {
    const USAGE: &str =
        "`#[on(..)]` takes the one event type the handler handles, like `#[on(ProductRestocked)]`";
    let list = match &attr.meta {
        Meta::List(list) => list,
        other => {
            errors.error_spanned(other, USAGE);
            return None;
        }
    };
    let types = match list.parse_args_with(Punctuated::<Type, Token![,]>::parse_terminated) {
        Ok(types) => types,
        Err(_) => {
            errors.error_spanned(&list.tokens, USAGE);
            return None;
        }
    };
    let mut types = types.into_iter();
    let first = match types.next() {
        Some(first) => first,
        None => {
            // An empty `#[on()]` has no tokens to point at; its delimiters will do.
            errors.error_at(list.delimiter.span().join(), USAGE);
            return None;
        }
    };
    let rest: Vec<Type> = types.collect();
    if !rest.is_empty() {
        errors.error_spanned(
            quote::quote!(#(#rest)*),
            "a handler handles one event type: give each other type a handler of its own, \
             `#[on(OtherEvent)] fn other(&mut self, e: &OtherEvent)`",
        );
    }
    match first {
        Type::Path(path) if path.qself.is_none() => Some(path.path),
        other => {
            errors.error_spanned(
                other,
                "`#[on(..)]` takes an event type by its path, like `#[on(ProductRestocked)]`",
            );
            None
        }
    }
}

/// Whether `attr` is `#[on(..)]`, by one of the paths that name es's `on`:
/// `on`, `es::on` or `es::prelude::on`, each with or without a leading `::`,
/// or, with `crate = path`, `path::on` or `path::prelude::on`.
pub(crate) fn is_on(attr: &Attribute, krate: Option<&Path>) -> bool {
    let path = attr.path();
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let no_arguments = path.segments.iter().all(|s| s.arguments.is_empty());
    let known = match segments.as_slice() {
        [on] => path.leading_colon.is_none() && on == ON,
        [es, on] => es == "es" && on == ON,
        [es, prelude, on] => es == "es" && prelude == "prelude" && on == ON,
        _ => false,
    };
    let through_krate = krate.is_some_and(|krate| {
        let prefix: Vec<String> = krate.segments.iter().map(|s| s.ident.to_string()).collect();
        let rest = segments.strip_prefix(prefix.as_slice()).unwrap_or_default();
        path.leading_colon.is_some() == krate.leading_colon.is_some()
            && (rest == [ON] || rest == ["prelude", ON])
    });
    (known || through_krate) && no_arguments
}

/// Runs `on_key` for each `key = value` in `attr`; it returns whether it knew
/// the key. Unknown keys and malformed lists are recorded, then skipped.
fn parse_keys(
    attr: &Attribute,
    usage: &str,
    errors: &mut Errors,
    mut on_key: impl FnMut(&Ident, &ParseNestedMeta, &mut Errors) -> syn::Result<bool>,
) {
    let name = attr.path().to_token_stream();
    if !matches!(attr.meta, Meta::List(_)) {
        errors.error_spanned(
            &attr.meta,
            format_args!("expected `{usage}`, or no `#[{name}]` at all for the defaults"),
        );
        return;
    }
    let result = attr.parse_nested_meta(|meta| {
        let known = match meta.path.get_ident() {
            Some(key) => on_key(&key.clone(), &meta, errors)?,
            None => false,
        };
        if known {
            Ok(())
        } else {
            unknown_key(&meta, usage, errors)
        }
    });
    if let Err(error) = result {
        errors.push(error);
    }
}

pub(crate) fn unknown_key(
    meta: &ParseNestedMeta,
    usage: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    errors.error_spanned(
        &meta.path,
        format_args!("unknown key `{key}`; expected `{usage}`"),
    );
    skip_value(meta.input)
}

/// Parses the value after `key =`, recording an error that names what was
/// `expected` when it is missing or malformed.
pub(crate) fn value<T>(
    meta: &ParseNestedMeta,
    errors: &mut Errors,
    expected: &str,
    parse: fn(ParseStream) -> syn::Result<T>,
) -> Option<T> {
    let key = meta.path.to_token_stream();
    if !meta.input.peek(Token![=]) {
        errors.error_spanned(
            &meta.path,
            format_args!("`{key}` needs a value: {expected}"),
        );
        let _ = skip_value(meta.input);
        return None;
    }
    let input = match meta.value() {
        Ok(input) => input,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let span = input.span();
    let parsed = parse(input)
        .ok()
        .filter(|_| input.is_empty() || input.peek(Token![,]));
    if parsed.is_none() {
        errors.error_at(span, format_args!("expected {expected}"));
        let _ = skip_value(input);
    }
    parsed
}

/// Stores a value, or records a duplicate key at its second occurrence.
pub(crate) fn set<T>(
    slot: &mut Option<Keyed<T>>,
    key: &Ident,
    value: Option<T>,
    attr: &str,
    errors: &mut Errors,
) {
    if slot.is_some() {
        errors.error_spanned(
            key,
            format_args!("duplicate key `{key}` in `#[{attr}(..)]`"),
        );
    } else if let Some(value) = value {
        *slot = Some(Keyed {
            key: key.clone(),
            value,
        });
    }
}

/// Skips the rest of a malformed value, up to the comma that ends it, so the
/// keys after it are still parsed. Groups are single token trees, so a comma
/// inside brackets does not stop it.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tree {
                if p.as_char() == ',' {
                    break;
                }
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// `vis = ` with nothing after it would parse as "private"; require a
/// visibility spelled out instead.
fn visibility(input: ParseStream) -> syn::Result<Visibility> {
    match input.parse()? {
        Visibility::Inherited => Err(input.error("expected a visibility")),
        vis => Ok(vis),
    }
}
