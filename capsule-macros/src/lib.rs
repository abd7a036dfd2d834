//! The `#[capsule::tool]` attribute of the Capsule agent SDK. Use it through the
//! `capsule` crate, which also holds what the attribute expands to.
//!
//! The attribute is built in three steps, one module each: `attr` parses its
//! arguments, `model` parses and checks the function, `expand` generates the guarded
//! function. After a mistake, `fallback` emits the error and the function as written.

mod attr;
mod expand;
mod fallback;
mod model;

use proc_macro::TokenStream;
use syn::ItemFn;

#[doc = include_str!("tool.md")]
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let Ok(function) = syn::parse2::<ItemFn>(item.clone()) else {
        return fallback::not_a_function(item).into();
    };

    let mut parsed = attr::Args::default();
    let parser = syn::meta::parser(|meta| parsed.parse_one(&meta));
    let args_result = syn::parse::Parser::parse(parser, args);

    // Mistakes in the arguments and in the function are reported together.
    let checked = match (args_result, model::Tool::from_fn(function.clone(), &parsed)) {
        (Ok(()), Ok(tool)) => Ok(tool),
        (Err(error), Ok(_)) | (Ok(()), Err(error)) => Err(error),
        (Err(mut error), Err(more)) => {
            error.combine(more);
            Err(error)
        }
    };

    match checked {
        Ok(tool) => {
            let krate = parsed.krate.unwrap_or_else(|| syn::parse_quote!(::capsule));
            expand::guarded(&tool, &krate).into()
        }
        Err(error) => fallback::function(&error, function).into(),
    }
}
