//! Generating the guarded function.
//!
//! The signature stays exactly as written. Inside, the body becomes an `async move`
//! block that runs only after the check allowed it, so `return` and `?` in the body
//! end the body, not the guard, and the `tool_result` still goes out.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{ItemFn, Path};

use crate::model::Tool;

/// The function with the check spliced into its body.
pub(crate) fn guarded(function: &ItemFn, tool: &Tool, krate: &Path) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let private = quote!(#krate::__private);

    // Mixed-site names cannot collide with the user's parameters or locals.
    let call = format_ident!("__capsule_call", span = Span::mixed_site());
    let input = format_ident!("__capsule_input", span = Span::mixed_site());
    let run = format_ident!("__capsule_run", span = Span::mixed_site());
    let blocked = format_ident!("__capsule_blocked", span = Span::mixed_site());
    let result = format_ident!("__capsule_result", span = Span::mixed_site());

    let name = &tool.name;
    let capacity = tool.fields.len();
    let fields = tool.fields.iter().map(|field| {
        let key = &field.key;
        let ident = &field.ident;
        let ty = &field.ty;
        quote_spanned!(syn::spanned::Spanned::span(ty)=> #input.field(#key, &#ident);)
    });

    // Name the return type where it can be named, so that a type that cannot carry a
    // block or be reported is flagged on the signature, not on the attribute.
    let (on_block, report) = match &tool.output {
        Some(ty) => (
            quote_spanned!(ty.span()=> <#ty as #private::FromBlocked>::from_blocked(#blocked)),
            quote_spanned!(ty.span()=> #run.finish::<#ty>(&#result)),
        ),
        None => (
            quote!(#private::blocked(#blocked)),
            quote!(#run.finish(&#result)),
        ),
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            let #run = match #private::ToolCall::begin(#name) {
                ::core::option::Option::None => ::core::option::Option::None,
                ::core::option::Option::Some(#call) => {
                    let mut #input = #private::Input::with_capacity(#capacity);
                    #(#fields)*
                    match #call.check(#input).await {
                        ::core::result::Result::Ok(#run) => ::core::option::Option::Some(#run),
                        ::core::result::Result::Err(#blocked) => return #on_block,
                    }
                }
            };

            let #result = async move #block.await;

            if let ::core::option::Option::Some(#run) = #run {
                #report;
            }
            #result
        }
    }
}
