//! Generating the guarded function.
//!
//! The signature stays as written (only `mut` on a by-value binding moves into the
//! body). The guard is spliced around the body: the body becomes an `async move` block
//! that runs only after the check allowed it, so `return` and `?` in the body end the
//! body, not the guard, and the `tool_result` still goes out. The body is never copied.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens as _, format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Block, Expr, Path, Stmt, token};

use crate::model::{Field, Input, Shape, Tool, pinned_body};

/// The names of the generated locals. Mixed-site spans keep them apart from the user's
/// parameters and locals, whatever those are called.
struct Locals {
    call: syn::Ident,
    input: syn::Ident,
    run: syn::Ident,
    blocked: syn::Ident,
    result: syn::Ident,
    ret: syn::Ident,
}

impl Locals {
    fn new() -> Self {
        let local = |name: &str| format_ident!("__capsule_{}", name, span = Span::mixed_site());
        Self {
            call: local("call"),
            input: local("input"),
            run: local("run"),
            blocked: local("blocked"),
            result: local("result"),
            ret: local("ret"),
        }
    }
}

/// The function with the check spliced into its body.
pub(crate) fn guarded(tool: &Tool, krate: &Path) -> TokenStream {
    let private = quote!(#krate::__private);
    let mut function = tool.function.clone();

    match tool.shape {
        Shape::Async => {
            let body = &function.block;
            let guarded = guarded_body(tool, &private, body);
            function.block = Box::new(verbatim_block(body.brace_token, guarded));
        }
        Shape::Pinned => {
            if let Some(body) = pinned_body(&mut function.block) {
                let guarded = guarded_body(tool, &private, body);
                *body = verbatim_block(body.brace_token, guarded);
            }
        }
    }
    function.into_token_stream()
}

/// A block whose statements are `tokens`, spliced as they are.
fn verbatim_block(brace_token: token::Brace, tokens: TokenStream) -> Block {
    Block {
        brace_token,
        stmts: vec![Stmt::Expr(Expr::Verbatim(tokens), None)],
    }
}

/// The statements of the guarded body: check, run, report.
fn guarded_body(tool: &Tool, private: &TokenStream, body: &Block) -> TokenStream {
    let Locals {
        call,
        input,
        run,
        blocked,
        result,
        ret,
    } = &Locals::new();
    let stmts = &body.stmts;
    let name = &tool.name;
    let output = &tool.output;
    let output_span = output.span();

    let collect = collect_input(tool, private, input);
    let on_block = if let Some(handler) = &tool.on_block {
        quote_spanned!(handler.span()=> #private::on_block(#blocked, #handler))
    } else {
        quote_spanned!(output_span=> <#output as #private::FromBlocked>::from_blocked(#blocked))
    };
    let report = if tool.report_output {
        quote_spanned!(output_span=> #run.finish::<#output>(&#result);)
    } else {
        quote!(#run.finish_without_output();)
    };
    let rebinds = tool.rebinds.iter().map(|rebind| {
        let (cfgs, mut_token, ident) = (&rebind.cfgs, &rebind.mut_token, &rebind.ident);
        quote!(#(#cfgs)* let #mut_token #ident = #ident;)
    });

    // The first statement of the body's block fixes its return type to the function's,
    // so that `?` and `return` inside it convert as in the unannotated function, and a
    // type error points into the body rather than at this attribute.
    quote! {
        let #run = match #private::ToolCall::begin(#name) {
            ::core::option::Option::None => ::core::option::Option::None,
            ::core::option::Option::Some(#call) => {
                #collect
                match #call.check(#input).await {
                    ::core::result::Result::Ok(#run) => ::core::option::Option::Some(#run),
                    ::core::result::Result::Err(#blocked) => return #on_block,
                }
            }
        };

        let #result = async move {
            if let ::core::option::Option::Some(#ret) = ::core::option::Option::None::<#output> {
                return #ret;
            }
            #(#rebinds)*
            #(#stmts)*
        }
        .await;

        if let ::core::option::Option::Some(#run) = #run {
            #report
        }
        #result
    }
}

/// Builds the `input` local from the arguments that are sent.
fn collect_input(tool: &Tool, private: &TokenStream, input: &syn::Ident) -> TokenStream {
    match &tool.input {
        Input::Whole(Field { key, ident, .. }) => {
            let value = quote_spanned!(ident.span()=> &#ident);
            quote! {
                let #input = #private::Input::whole(#key, #value);
            }
        }
        Input::Fields(fields) if fields.is_empty() => {
            quote!(let #input = #private::Input::with_capacity(0);)
        }
        Input::Fields(fields) => {
            let capacity = fields.len();
            let fields = fields.iter().map(|Field { key, ident, cfgs }| {
                let value = quote_spanned!(ident.span()=> &#ident);
                quote!(#(#cfgs)* #input.field(#key, #value);)
            });
            quote! {
                let mut #input = #private::Input::with_capacity(#capacity);
                #(#fields)*
            }
        }
    }
}
