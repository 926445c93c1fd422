//! `#[personal]` and `#[subject]` on the fields of `#[derive(Event)]` and
//! `#[derive(Aggregate)]` types: which fields a commit seals, under whose
//! key, and what a reader sees once that subject is forgotten.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Attribute, Data, DeriveInput, Expr, Fields, LitStr, Type};

use crate::ast::Krate;
use crate::ctxt::Errors;

/// One `#[personal]` field.
struct Field<'a> {
    /// The name serde writes.
    name: String,
    ty: &'a Type,
    placeholder: Option<Expr>,
}

/// What the attributes declare, once checked.
pub(crate) struct Declared<'a> {
    subject: Option<(String, &'a Type)>,
    fields: Vec<Field<'a>>,
}

/// Reads and checks the `#[personal]` and `#[subject]` attributes of
/// `input`'s fields, reporting every misuse in `errors`.
pub(crate) fn declared<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Declared<'a> {
    let mut declared = Declared {
        subject: None,
        fields: Vec::new(),
    };
    let fields: Vec<&syn::Field> = match &input.data {
        Data::Struct(s) => s.fields.iter().collect(),
        Data::Enum(e) => e.variants.iter().flat_map(|v| &v.fields).collect(),
        Data::Union(_) => return declared,
    };
    let named = matches!(&input.data, Data::Struct(s) if matches!(s.fields, Fields::Named(_)));
    let rename_all = rename_all(&input.attrs, errors);
    let mut personal_attrs = Vec::new();
    let mut subject_attr: Option<&Attribute> = None;
    for field in fields {
        let personal = field.attrs.iter().find(|a| a.path().is_ident("personal"));
        let subject = field.attrs.iter().find(|a| a.path().is_ident("subject"));
        for attr in [personal, subject].into_iter().flatten() {
            if !named {
                errors.error_spanned(
                    attr,
                    "`#[personal]` and `#[subject]` are for the named fields of a struct: \
                     es seals a struct's fields by name",
                );
            }
        }
        if !named || (personal.is_none() && subject.is_none()) {
            continue;
        }
        let Some(ident) = &field.ident else { continue };
        let name = serde_name(field, rename_all.as_deref(), errors)
            .unwrap_or_else(|| apply_rule(&ident.unraw().to_string(), rename_all.as_deref()));
        if let (Some(p), Some(_)) = (personal, subject) {
            errors.error_spanned(
                p,
                "a field cannot be both `#[personal]` and `#[subject]`: the subject stays \
                 readable, so that a reader knows whose key opens the personal fields",
            );
            continue;
        }
        if let Some(attr) = subject {
            if let Err(e) = attr.meta.require_path_only() {
                errors.push(syn::Error::new(e.span(), "`#[subject]` takes no arguments"));
            }
            if let Some(first) = subject_attr {
                let _ = first;
                errors.error_spanned(
                    attr,
                    "a second `#[subject]`: one field names whose personal data this is, \
                     and the key of that subject seals every `#[personal]` field",
                );
                continue;
            }
            subject_attr = Some(attr);
            declared.subject = Some((name, &field.ty));
            continue;
        }
        if let Some(attr) = personal {
            personal_attrs.push(attr);
            let placeholder = placeholder(attr, errors);
            declared.fields.push(Field {
                name,
                ty: &field.ty,
                placeholder,
            });
        }
    }
    if declared.subject.is_none() {
        for attr in &personal_attrs {
            errors.error_spanned(
                attr,
                "a `#[personal]` field needs a `#[subject]` field beside it, naming whose data \
                 it is (such as `#[subject] customer: String`): its key seals the field",
            );
        }
    }
    if let (Some(attr), true) = (subject_attr, personal_attrs.is_empty()) {
        errors.error_spanned(
            attr,
            "`#[subject]` without any `#[personal]` field: mark the fields that hold the \
             subject's personal data `#[personal]`",
        );
    }
    declared
}

/// `#[personal]` or `#[personal(placeholder = expr)]`.
fn placeholder(attr: &Attribute, errors: &mut Errors) -> Option<Expr> {
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return None;
    }
    let mut found = None;
    let parsed = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("placeholder") {
            if found.is_some() {
                return Err(meta.error("`placeholder` is given twice"));
            }
            found = Some(meta.value()?.parse::<Expr>()?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown argument: `#[personal]` takes `placeholder = <expr>`, the value readers \
                 see once the subject is forgotten (the field type's `Default` without it)",
            ))
        }
    });
    if let Err(e) = parsed {
        errors.push(e);
    }
    found
}

/// The container's `#[serde(rename_all = "..")]`, if any.
fn rename_all(attrs: &[Attribute], errors: &mut Errors) -> Option<String> {
    let mut rule = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                if let Ok(value) = meta.value() {
                    if let Ok(lit) = value.parse::<LitStr>() {
                        if RULES.contains(&lit.value().as_str()) {
                            rule = Some(lit.value());
                        } else {
                            errors.error_spanned(
                                &lit,
                                "es cannot tell the serialized names of this `rename_all` for \
                                 its `#[personal]` fields: rename them one by one",
                            );
                        }
                    } else {
                        errors.error_spanned(
                            &meta.path,
                            "es reads `rename_all = \"..\"` alone for `#[personal]` fields; \
                             rename them one by one with `#[serde(rename = \"..\")]`",
                        );
                    }
                }
            } else if let Ok(value) = meta.value() {
                // Skip any other `key = value` so the rest still parses.
                let _ = value.parse::<TokenStream>();
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.input.parse::<proc_macro2::Group>();
            }
            Ok(())
        });
    }
    rule
}

/// A field's own `#[serde(rename = "..")]`; refuses what would hide the
/// field from its name (flatten, skip).
fn serde_name(field: &syn::Field, rule: Option<&str>, errors: &mut Errors) -> Option<String> {
    let _ = rule;
    let mut name = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                match meta.value().and_then(|v| v.parse::<LitStr>()) {
                    Ok(lit) => name = Some(lit.value()),
                    Err(_) => errors.error_spanned(
                        &meta.path,
                        "es reads `rename = \"..\"` alone on a `#[personal]` or `#[subject]` \
                         field, not separate serialize and deserialize names",
                    ),
                }
            } else if meta.path.is_ident("flatten") || meta.path.is_ident("skip") {
                errors.error_spanned(
                    &meta.path,
                    "a `#[personal]` or `#[subject]` field cannot be flattened or skipped: es \
                     finds it in the payload by its name",
                );
            } else if let Ok(value) = meta.value() {
                let _ = value.parse::<TokenStream>();
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.input.parse::<proc_macro2::Group>();
            }
            Ok(())
        });
    }
    name
}

const RULES: &[&str] = &[
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

/// serde's `rename_all` rules, for a field written in snake_case.
fn apply_rule(field: &str, rule: Option<&str>) -> String {
    let pascal = || {
        field
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<String>()
    };
    match rule {
        Some("lowercase") => field.to_lowercase(),
        Some("UPPERCASE") | Some("SCREAMING_SNAKE_CASE") => field.to_uppercase(),
        Some("PascalCase") => pascal(),
        Some("camelCase") => {
            let p = pascal();
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or_default()
        }
        Some("kebab-case") => field.replace('_', "-"),
        Some("SCREAMING-KEBAB-CASE") => field.replace('_', "-").to_uppercase(),
        _ => field.to_owned(),
    }
}

impl Declared<'_> {
    /// `const PERSONAL: ..`, and the check that the subject is a string, for
    /// the trait impl; nothing when no field is personal.
    pub(crate) fn items(&self, krate: Krate) -> TokenStream {
        let Some((subject, subject_ty)) = &self.subject else {
            return TokenStream::new();
        };
        if self.fields.is_empty() {
            return TokenStream::new();
        }
        let es = krate.plain();
        let names = self.fields.iter().map(|f| &f.name);
        let arms = self.fields.iter().map(|f| {
            let name = &f.name;
            let ty = f.ty;
            let value = match &f.placeholder {
                Some(expr) => quote_spanned! {expr.span()=>
                    ::core::convert::Into::<#ty>::into(#expr)
                },
                None => quote_spanned! {ty.span()=>
                    <#ty as ::core::default::Default>::default()
                },
            };
            quote! {
                #name => {
                    let __value: #ty = #value;
                    #es::__private::serde_json::to_value(&__value).ok()
                }
            }
        });
        let check = quote_spanned! {subject_ty.span()=>
            fn __es_subject<__T: ?::core::marker::Sized + #es::erasure::Subject>() {}
            __es_subject::<#subject_ty>();
        };
        let span = Span::call_site();
        quote_spanned! {span=>
            const PERSONAL: ::core::option::Option<&'static #es::erasure::Personal> = {
                fn __es_placeholder(
                    __field: &str,
                ) -> ::core::option::Option<#es::__private::serde_json::Value> {
                    match __field {
                        #(#arms)*
                        _ => ::core::option::Option::None,
                    }
                }
                #[allow(dead_code)]
                fn __es_subject_is_a_string() {
                    #check
                }
                const __ES_PERSONAL: #es::erasure::Personal =
                    #es::erasure::Personal::new(#subject, &[#(#names),*], __es_placeholder);
                ::core::option::Option::Some(&__ES_PERSONAL)
            };
        }
    }
}
