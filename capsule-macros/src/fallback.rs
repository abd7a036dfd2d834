//! What the attribute emits after a mistake: the error, and the item as written.
//!
//! Emitting the item keeps its callers compiling, so the user sees the one error that
//! says what to fix instead of a cascade of "cannot find function" errors.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens as _;
use syn::spanned::Spanned as _;
use syn::{Item, ItemFn, TraitItemFn};

/// The error, followed by the function as written. A `const async fn`, which no
/// compiler accepts, loses its `const` so that the error above stays the only one.
pub(crate) fn function(error: &syn::Error, mut function: ItemFn) -> TokenStream {
    if function.sig.asyncness.is_some() {
        function.sig.constness = None;
    }
    let mut out = error.to_compile_error();
    out.extend(function.into_token_stream());
    out
}

/// The attribute is on something that is not a function with a body.
pub(crate) fn not_a_function(item: TokenStream) -> TokenStream {
    let (span, message) = if let Ok(declaration) = syn::parse2::<TraitItemFn>(item.clone()) {
        (
            declaration.sig.fn_token.span,
            "#[capsule::tool] goes on a function with a body: put it on the method in the \
             `impl` block, not on its declaration in the trait",
        )
    } else {
        (
            syn::parse2::<Item>(item.clone()).map_or_else(|_| Span::call_site(), |i| keyword(&i)),
            "#[capsule::tool] goes on an `async fn` (a free function or a method), not on \
             this item",
        )
    };
    let mut out = syn::Error::new(span, message).to_compile_error();
    out.extend(item);
    out
}

/// The keyword that says what kind of item this is, where the error points.
fn keyword(item: &Item) -> Span {
    match item {
        Item::Const(item) => item.const_token.span,
        Item::Enum(item) => item.enum_token.span,
        Item::ExternCrate(item) => item.extern_token.span,
        Item::ForeignMod(item) => item.abi.extern_token.span,
        Item::Impl(item) => item.impl_token.span,
        Item::Macro(item) => item.mac.path.span(),
        Item::Mod(item) => item.mod_token.span,
        Item::Static(item) => item.static_token.span,
        Item::Struct(item) => item.struct_token.span,
        Item::Trait(item) => item.trait_token.span,
        Item::TraitAlias(item) => item.trait_token.span,
        Item::Type(item) => item.type_token.span,
        Item::Union(item) => item.union_token.span,
        Item::Use(item) => item.use_token.span,
        _ => Span::call_site(),
    }
}
