//! The `#[capsule::tool]` attribute. Use it through the `capsule` crate.

mod attr;
mod expand;
mod fallback;
mod model;

use proc_macro::TokenStream;
use syn::ItemFn;

/// Guards an `async fn` tool with a Capsule check.
///
/// Every call first sends a `tool_invocation` event whose `input` is a JSON object of
/// the arguments, keyed by binding name (the receiver is never part of it), and waits
/// for the decision. On *block* the body does not run and the function returns the
/// block. On *allow* the body runs and a `tool_result` event is queued without waiting.
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let Ok(function) = syn::parse2::<ItemFn>(item.clone()) else {
        return fallback::not_a_function(item).into();
    };

    let mut parsed = attr::Args::default();
    let parser = syn::meta::parser(|meta| parsed.parse_one(&meta));
    let args_result = syn::parse::Parser::parse(parser, args);

    let mut errors = model::Errors::default();
    if let Err(error) = args_result {
        errors.push(error);
    }
    let tool = model::Tool::from_fn(function.clone(), &parsed);
    match (tool, errors.finish()) {
        (Ok(tool), Ok(())) => {
            let krate = parsed.krate.unwrap_or_else(|| syn::parse_quote!(::capsule));
            expand::guarded(&tool, &krate).into()
        }
        (Ok(_), Err(error)) => fallback::function(&error, function).into(),
        (Err(mut error), args_error) => {
            if let Err(args_error) = args_error {
                let mut all = args_error;
                all.combine(error);
                error = all;
            }
            fallback::function(&error, function).into()
        }
    }
}
