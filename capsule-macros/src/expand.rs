//! Generating the guarded function.
//!
//! The signature stays as written (only `mut` on a by-value binding moves into the
//! body). The guard is spliced around the body: the body becomes an `async move` block
//! that runs only after the check allowed it, so `return` and `?` in the body end the
//! body, not the guard, and the `tool_result` still goes out. The body is never copied.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens as _, format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Block, Expr, Path, Stmt, token};

use crate::model::{Field, Input, Shape, Tool, last_span, pinned_body};

/// The names of the generated locals. Mixed-site spans keep them apart from the user's
/// parameters and locals, whatever those are called.
struct Locals {
    call: syn::Ident,
    input: syn::Ident,
    run: syn::Ident,
    blocked: syn::Ident,
    result: syn::Ident,
    ret: syn::Ident,
    future: syn::Ident,
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
            future: local("future"),
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
        future,
    } = &Locals::new();
    let stmts = &body.stmts;
    let name = &tool.name;
    let output = &tool.output;
    let (output_start, output_end) = (output.span(), last_span(output).unwrap_or(output.span()));

    let collect = collect_input(tool, private, input);
    let begin = if let Some(options) = check_options(tool, private) {
        quote!(#private::ToolCall::begin_with(#name, #options))
    } else {
        quote!(#private::ToolCall::begin(#name))
    };
    let on_block = if let Some(handler) = &tool.on_block {
        quote_spanned!(handler.span()=> #private::on_block::<#output, _>(#blocked, #handler))
    } else {
        let head = respan(quote!(#private::blocked::<), output_start);
        let tail = respan(quote!(>(#blocked)), output_end);
        quote!(#head #output #tail)
    };
    let report = if tool.report_output {
        let head = respan(quote!(#private::ToolRun::finish::<), output_start);
        let tail = respan(quote!(>(#run, &#result);), output_end);
        quote!(#head #output #tail)
    } else {
        quote!(#run.finish_without_output();)
    };
    let rebinds = tool.rebinds.iter().map(|rebind| {
        let (cfgs, mut_token, ident) = (&rebind.cfgs, &rebind.mut_token, &rebind.ident);
        quote!(#(#cfgs)* let #mut_token #ident = #ident;)
    });
    // An async block captures the fields it names one by one; naming `mut self` whole
    // keeps an assignment to one of its fields from reading as a value never read.
    let whole_self = tool
        .mut_self
        .iter()
        .map(|self_token| quote!(let _ = &#self_token;));

    // The first statement of the body's block fixes its return type to the function's,
    // so that `?` and `return` inside it convert as in the unannotated function, and a
    // type error points into the body rather than at this attribute. The body's future
    // is made after the arguments were serialised and before the check, so that with no
    // client configured the function is little more than that future awaited.
    quote! {
        let #call = match #begin {
            ::core::option::Option::None => ::core::option::Option::None,
            ::core::option::Option::Some(#call) => {
                #collect
                ::core::option::Option::Some(#call.check(#input))
            }
        };

        let #future = async move {
            if let ::core::option::Option::Some(#ret) = ::core::option::Option::None::<#output> {
                return #ret;
            }
            #(#rebinds)*
            #(#whole_self)*
            #(#stmts)*
        };

        match #call {
            ::core::option::Option::None => #future.await,
            ::core::option::Option::Some(#call) => match #call.await {
                ::core::result::Result::Ok(#run) => {
                    let #result = #future.await;
                    #report
                    #result
                }
                ::core::result::Result::Err(#blocked) => #on_block,
            },
        }
    }
}

/// The tool's own deadline, failure policy and mode, when any is set.
fn check_options(tool: &Tool, private: &TokenStream) -> Option<TokenStream> {
    let options = &tool.options;
    if options.is_empty() {
        return None;
    }

    let deadline = options
        .timeout_ms
        .as_ref()
        .map(|millis| quote!(.deadline(::core::time::Duration::from_millis(#millis))));
    let policy = options.fail_closed.map(|closed| {
        let policy = if closed { quote!(Closed) } else { quote!(Open) };
        quote!(.failure_policy(#private::FailurePolicy::#policy))
    });
    let mode = options
        .monitor
        .then(|| quote!(.mode(#private::Mode::Monitor)));
    Some(quote!(#private::CheckOptions::new() #deadline #policy #mode))
}

/// Builds the `input` local from the arguments that are sent.
fn collect_input(tool: &Tool, private: &TokenStream, input: &syn::Ident) -> TokenStream {
    match &tool.input {
        Input::Whole(Field {
            key, ident, start, ..
        }) => {
            let value = quote_spanned!(*start=> &#ident);
            quote! {
                let #input = #private::Input::whole(#key, #value);
            }
        }
        Input::Fields(fields) if fields.is_empty() => {
            quote!(let #input = #private::Input::with_capacity(0);)
        }
        Input::Fields(fields) => {
            let capacity = fields.len();
            let fields = fields.iter().map(|field| {
                let Field {
                    key,
                    ident,
                    start,
                    cfgs,
                } = field;
                // Every token of the call sits on the parameter, so that an argument that
                // is not `Serialize` is reported there and nowhere else.
                let here = syn::Ident::new(&input.to_string(), input.span().located_at(*start));
                quote_spanned!(*start=> #(#cfgs)* #here.field(#key, &#ident);)
            });
            quote! {
                let mut #input = #private::Input::with_capacity(#capacity);
                #(#fields)*
            }
        }
    }
}

/// `tokens`, every one of them located at `span`, so that an error about the expression
/// they form points at the user's tokens that `span` comes from.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(other.span().located_at(span));
                other
            }
        })
        .collect()
}
