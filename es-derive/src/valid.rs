//! The rules the input must follow beyond syntax. Each check records its
//! error on the offending token and carries on, so that every mistake is
//! reported in one compile.

use std::collections::HashMap;

use syn::{Data, DeriveInput, FnArg, GenericArgument, PathArguments, ReturnType, Type};

use crate::ast::{self, Aggregate, Event, Handler, Handlers};
use crate::attr::Keyed;
use crate::ctxt::Errors;

/// An event type with lifetimes, at its derive or its `#[on(..)]`.
const BORROWS: &str = "an event type cannot borrow: events are loaded back from the store, \
                       so each one is `'static` and `DeserializeOwned`, owning its data";

pub(crate) fn event(event: &Event, errors: &mut Errors) {
    shape(
        event.input,
        "Event",
        "an event's stored name must stand for one type",
        Some(BORROWS),
        errors,
    );
    if let Some(name) = &event.attrs.name {
        if name.value.value().is_empty() {
            errors.error_spanned(&name.value, "an event name cannot be empty");
        }
    }
    at_least_one(&event.attrs.version, "event versions start at 1", errors);
    aliases(event, errors);
    upcasters(event, errors);
}

/// Each alias is a former name: not empty, not the current name, listed once.
/// Clashes with other events' names are checked by the aggregate's
/// `#[es::handlers]`, which knows them all.
fn aliases(event: &Event, errors: &mut Errors) {
    let Some(aliases) = &event.attrs.aliases else {
        return;
    };
    let name = event.name();
    let mut seen: Vec<String> = Vec::new();
    for alias in &aliases.value {
        let text = alias.value();
        if text.is_empty() {
            errors.error_spanned(
                alias,
                "an alias cannot be empty: it is a name events were stored under",
            );
        } else if text == name {
            errors.error_spanned(
                alias,
                format_args!(
                    "`{text}` is this event's name already: an alias is a name it was stored under \
                     before a rename, so it differs from `name`"
                ),
            );
        } else if seen.contains(&text) {
            errors.error_spanned(alias, format_args!("the alias `{text}` is listed twice"));
        }
        seen.push(text);
    }
}

/// Upcasters read schemas older than the event's version, each schema once.
fn upcasters(event: &Event, errors: &mut Errors) {
    let Some(upcast) = &event.attrs.upcast else {
        return;
    };
    // An invalid `version` is reported on its own; nothing to compare with.
    let version = match &event.attrs.version {
        None => 1,
        Some(given) => match given.value.base10_parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => return,
        },
    };
    if version == 1 {
        errors.error_spanned(
            &upcast.key,
            "this event is at version 1, the first schema: there is nothing older to upcast from; \
             when its shape changes, raise `version` and upcast from the older schemas",
        );
        return;
    }
    if upcast.value.shapes.is_empty() && upcast.value.with.is_none() {
        errors.error_spanned(
            &upcast.key,
            "`upcast(..)` names no upcaster: give old shapes, `upcast(v1 = ItemReservedV1)`, \
             or a function, `upcast(with = path::to::fn)`",
        );
    }
    let mut seen: Vec<u32> = Vec::new();
    for shape in &upcast.value.shapes {
        let key = &shape.key;
        match shape.schema {
            None => errors.error_spanned(key, "the schema in `vN` must fit in a u32"),
            Some(0) => errors.error_spanned(key, "schemas start at 1: `v0` names none"),
            Some(schema) if schema >= version => errors.error_spanned(
                key,
                format_args!(
                    "`{key}` is not older than this event's version {version}: upcasters read \
                     older schemas; the current one is the event's own type"
                ),
            ),
            Some(schema) if seen.contains(&schema) => errors.error_spanned(
                key,
                format_args!("`{key}` is given twice: one shape per schema"),
            ),
            Some(schema) => seen.push(schema),
        }
    }
}

pub(crate) fn aggregate(aggregate: &Aggregate, errors: &mut Errors) {
    shape(
        aggregate.input,
        "Aggregate",
        "an aggregate's stored name must stand for one type",
        None,
        errors,
    );
    if let Some(name) = &aggregate.attrs.name {
        // The same rules as `es_core::store::check_name`, caught at compile time.
        let text = name.value.value();
        let reason = if text.is_empty() {
            Some("an aggregate name cannot be empty")
        } else if text.contains('#') {
            Some("an aggregate name cannot contain `#`, which separates the name from the id in the stored key `{name}#{id}`")
        } else if text.starts_with('$') {
            Some("an aggregate name cannot start with `$`: es reserves keys starting with `$` for its own records")
        } else {
            None
        };
        if let Some(reason) = reason {
            errors.error_spanned(&name.value, reason);
        }
    }
    if let Some(every) = &aggregate.attrs.snapshot_every {
        if every.value.base10_parse::<u64>().is_err() {
            errors.error_spanned(
                &every.value,
                "`snapshot_every` is a number of versions, from 0 (never) up to u64::MAX",
            );
        }
    }
    at_least_one(
        &aggregate.attrs.snapshot_schema,
        "snapshot schemas start at 1",
        errors,
    );
    if let Some(schema) = &aggregate.attrs.snapshot_schema {
        // An unparsable `snapshot_every` is reported on its own, not here.
        let no_snapshots = match &aggregate.attrs.snapshot_every {
            None => true,
            Some(every) => every.value.base10_parse::<u64>().ok() == Some(0),
        };
        if no_snapshots {
            errors.error_spanned(
                &schema.key,
                "`snapshot_schema` has no effect without snapshots: add `snapshot_every = N`",
            );
        }
    }
}

/// Checks the impl block, then each handler. Returns, for each handler,
/// whether the generated dispatch may call it: a handler with a bad signature
/// is reported once here rather than again as a type error in the dispatch.
pub(crate) fn handlers(input: &Handlers, errors: &mut Errors) -> Vec<bool> {
    let item = &input.item;
    if let Some((_, path, _)) = &item.trait_ {
        errors.error_spanned(
            path,
            "`#[es::handlers]` goes on the aggregate's own impl block, `impl Product { .. }`, not on a trait impl",
        );
    }
    let generic = !item.generics.params.is_empty() || item.generics.where_clause.is_some();
    if !item.generics.params.is_empty() {
        errors.error_spanned(
            &item.generics,
            "`#[es::handlers]` does not support generic impl blocks: aggregates are not generic",
        );
    } else if let Some(where_clause) = &item.generics.where_clause {
        // `impl Product where ..`: the clause is what to remove.
        errors.error_spanned(
            where_clause,
            "`#[es::handlers]` does not support `where` clauses: aggregates are not generic",
        );
    }
    match &*item.self_ty {
        Type::Path(_) if generic => {}
        Type::Path(path) if path.qself.is_none() => {
            if let Some(last) = path.path.segments.last() {
                if !last.arguments.is_empty() {
                    errors.error_spanned(
                        &last.arguments,
                        "`#[es::handlers]` does not support generic aggregates",
                    );
                }
            }
        }
        other => errors.error_spanned(
            other,
            "`#[es::handlers]` goes on the impl block of an aggregate type, like `impl Product { .. }`",
        ),
    }
    if input.handlers.is_empty() && input.marked == 0 {
        errors.error_spanned(
            &item.self_ty,
            "this `#[es::handlers]` block has no handlers: mark each one with the event it handles, \
             `#[on(SomeEvent)] fn some(&mut self, e: &SomeEvent)`",
        );
    }
    distinct_events(input, errors);
    input
        .handlers
        .iter()
        .map(|h| signature(h, errors))
        .collect()
}

/// Each event type has one handler, and each becomes a distinct enum variant.
fn distinct_events(input: &Handlers, errors: &mut Errors) {
    let mut by_path: HashMap<String, &Handler> = HashMap::new();
    let mut by_variant: HashMap<String, &Handler> = HashMap::new();
    let enum_name = input
        .enum_ident()
        .map(|i| i.to_string())
        .unwrap_or_default();
    for handler in &input.handlers {
        let text = handler.event_text();
        if let Some(first) = by_path.get(&text) {
            errors.error_spanned(
                &handler.event,
                format_args!(
                    "`{text}` already has a handler, `{}`: each event has exactly one handler",
                    first.sig.ident
                ),
            );
            continue;
        }
        by_path.insert(text.clone(), handler);
        let Some(variant) = handler.variant() else {
            continue;
        };
        if let Some(first) = by_variant.get(&variant.to_string()) {
            errors.error_spanned(
                &handler.event,
                format_args!(
                    "`{}` and `{text}` would both be the variant `{enum_name}::{variant}`: \
                     if they are the same type, it already has a handler, `{}`, and each event \
                     has exactly one handler; if they are different types, import one under \
                     another name, like `use {text} as Other{variant};`",
                    first.event_text(),
                    first.sig.ident,
                ),
            );
            continue;
        }
        by_variant.insert(variant.to_string(), handler);
        if let Some(args) = handler
            .event
            .segments
            .iter()
            .find(|s| !s.arguments.is_empty())
        {
            let message = if only_lifetimes(&args.arguments) {
                BORROWS
            } else {
                "`#[on(..)]` takes a plain event type; alias a generic one with `type Name = ..;`"
            };
            errors.error_spanned(&args.arguments, message);
        }
    }
}

/// `fn name(&mut self, e: &Event)`, returning nothing, `()` or `Result<(), E>`.
fn signature(handler: &Handler, errors: &mut Errors) -> bool {
    let sig = &handler.sig;
    let event = ast::path_text(&handler.event);
    let before = errors.count();
    if let Some(cfg) = &handler.cfg {
        // The enum, its name list and the dispatch would all need the same
        // condition; a block of its own under the cfg does that plainly.
        errors.error_spanned(
            cfg,
            "a handler cannot be conditional: every event in history must have a handler; \
             to make events conditional, put the cfg on the whole aggregate",
        );
    }
    if let Some(asyncness) = &sig.asyncness {
        errors.error_spanned(
            asyncness,
            "a handler cannot be `async`: replaying history is synchronous",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.error_spanned(
            unsafety,
            "a handler cannot be `unsafe`: replaying history calls it with no way to uphold its safety conditions; \
             use an `unsafe` block inside it instead",
        );
    }
    // Named lifetimes are fine, `fn r<'a>(&'a mut self, e: &'a E)`: only
    // type and const parameters make a handler generic.
    let generic = sig
        .generics
        .params
        .iter()
        .any(|p| !matches!(p, syn::GenericParam::Lifetime(_)));
    if generic {
        errors.error_spanned(&sig.generics, "a handler cannot be generic");
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver)) => {
            let ok = matches!(&*receiver.ty, Type::Reference(r) if r.mutability.is_some());
            if !ok {
                let message = if matches!(&*receiver.ty, Type::Reference(_)) {
                    "a handler changes the state: take `&mut self`, not `&self`"
                } else {
                    "a handler borrows the state: take `&mut self`, not `self`"
                };
                errors.error_spanned(receiver, message);
            }
        }
        Some(other) => errors.error_spanned(
            other,
            format_args!("a handler is a method: its parameters are `(&mut self, e: &{event})`"),
        ),
        None => errors.error_at(
            sig.paren_token.span.join(),
            format_args!("a handler takes `(&mut self, e: &{event})`"),
        ),
    }
    match ast::event_arg(sig).map(|t| &*t.ty) {
        Some(Type::Reference(r)) if r.mutability.is_none() => {}
        Some(Type::Reference(r)) => errors.error_spanned(
            r,
            format_args!(
                "take the event by shared reference: `&{event}`; a handler cannot change its event"
            ),
        ),
        Some(ty) => {
            errors.error_spanned(ty, format_args!("take the event by reference: `&{event}`"))
        }
        None if matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) => errors.error_at(
            sig.paren_token.span.join(),
            format_args!("a handler takes the event it handles: `(&mut self, e: &{event})`"),
        ),
        None => {}
    }
    let extra: Vec<_> = sig.inputs.iter().skip(2).collect();
    if !extra.is_empty() {
        errors.error_spanned(
            quote::quote!(#(#extra)*),
            format_args!(
                "a handler takes exactly `(&mut self, e: &{event})`; remove the other parameters"
            ),
        );
    }
    if !returns_unit_or_result(&sig.output) {
        errors.error_spanned(
            &sig.output,
            "a handler returns nothing, `()` or `Result<(), E>` where `E` is the aggregate's error; \
             it changes the state through `&mut self` instead of returning it",
        );
    }
    errors.count() == before
}

fn returns_unit_or_result(output: &ReturnType) -> bool {
    let ty = match output {
        ReturnType::Default => return true,
        ReturnType::Type(_, ty) => &**ty,
    };
    if is_unit(ty) {
        return true;
    }
    // `Result<(), E>`, or an alias such as `io::Result<()>` or
    // `DoorResult<()>`, as written: a macro cannot see through aliases, so
    // any `..Result` whose success type is `()` passes, and the type checker
    // has the last word on whether it is `Result<(), Self::Error>`.
    let Type::Path(path) = ty else { return false };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    if !last.ident.to_string().ends_with("Result") {
        return false;
    }
    match &last.arguments {
        PathArguments::None => true,
        PathArguments::AngleBracketed(args) => {
            matches!(args.args.first(), Some(GenericArgument::Type(ok)) if is_unit(ok))
                && args.args.len() <= 2
        }
        PathArguments::Parenthesized(_) => false,
    }
}

fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Paren(p) => is_unit(&p.elem),
        _ => false,
    }
}

/// `<'a>` or `<'a, 'b>`: arguments that are all lifetimes.
fn only_lifetimes(arguments: &PathArguments) -> bool {
    match arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .all(|a| matches!(a, GenericArgument::Lifetime(_))),
        _ => false,
    }
}

/// Types the derives cannot support, whatever their attributes say. A type
/// whose only parameters are lifetimes is reported with `why_not_borrowing`,
/// when given, rather than as generic.
fn shape(
    input: &DeriveInput,
    derive: &str,
    why_not_generic: &str,
    why_not_borrowing: Option<&str>,
    errors: &mut Errors,
) {
    if let Data::Union(u) = &input.data {
        errors.error_spanned(
            u.union_token,
            format_args!("`#[derive({derive})]` supports structs and enums, not unions"),
        );
    }
    let params = &input.generics.params;
    if !params.is_empty() {
        let lifetimes_only = params
            .iter()
            .all(|p| matches!(p, syn::GenericParam::Lifetime(_)));
        if let Some(why) = why_not_borrowing.filter(|_| lifetimes_only) {
            errors.error_spanned(&input.generics, why);
        } else {
            errors.error_spanned(
                &input.generics,
                format_args!(
                    "`#[derive({derive})]` does not support generic types: {why_not_generic}"
                ),
            );
        }
    } else if let Some(where_clause) = &input.generics.where_clause {
        // `struct S where ..` with no parameters: the clause is what to remove.
        errors.error_spanned(
            where_clause,
            format_args!("`#[derive({derive})]` does not support generic types or `where` clauses: {why_not_generic}"),
        );
    }
}

/// A `u32` of at least 1.
fn at_least_one(given: &Option<Keyed<syn::LitInt>>, message: &str, errors: &mut Errors) {
    let Some(given) = given else { return };
    match given.value.base10_parse::<u32>() {
        Ok(n) if n >= 1 => {}
        Ok(_) => errors.error_spanned(&given.value, message),
        Err(_) => errors.error_spanned(
            &given.value,
            format_args!("{message}, and must fit in a u32"),
        ),
    }
}
