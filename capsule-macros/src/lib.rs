//! The `#[capsule::tool]` attribute. Use it through the `capsule` crate.

mod attr;
mod expand;
mod model;

use proc_macro::TokenStream;
use syn::ItemFn;

/// Guards an `async fn` tool with a Capsule check.
///
/// Every call first sends a `tool_invocation` event whose `input` is a JSON object of
/// the arguments, keyed by parameter name (the receiver is never part of it), and
/// waits for the decision. On *block* the function returns
/// `Err(capsule::Blocked.into())` and its body does not run. On *allow* the body runs
/// and a `tool_result` event with the input and the output is queued without waiting.
///
/// The function must be `async` and return `Result<T, E>` where `T: Serialize`,
/// `E: Display + From<capsule::Blocked>`; every argument that is sent must be
/// `Serialize`.
///
/// # Arguments
///
/// - `name = "..."`: the tool name sent to Capsule (default: the function's name).
/// - `skip(a, b)`: leave these arguments out of the input; they need not be
///   `Serialize`.
/// - `crate = "..."`: the path of the `capsule` crate, when your `Cargo.toml` renames
///   it.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Db;
///
/// #[capsule::tool(name = "database_query", skip(db))]
/// async fn query(db: &Db, sql: String) -> anyhow::Result<u64> {
///     let _ = (db, sql);
///     Ok(42)
/// }
/// ```
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut parsed = attr::Args::default();
    let parser = syn::meta::parser(|meta| parsed.parse_one(&meta));
    let args_result = syn::parse::Parser::parse(parser, args);

    let item_tokens = proc_macro2::TokenStream::from(item.clone());
    let Ok(function) = syn::parse::<ItemFn>(item) else {
        let error = syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[capsule::tool] goes on an `async fn` (a free function or a method)",
        );
        let mut out = error.to_compile_error();
        out.extend(item_tokens);
        return out.into();
    };

    let tool = args_result.and_then(|()| model::Tool::from_fn(&function, &parsed));
    match tool {
        Ok(tool) => {
            let krate = parsed.krate.unwrap_or_else(|| syn::parse_quote!(::capsule));
            expand::guarded(&function, &tool, &krate).into()
        }
        Err(error) => {
            // Keep the function as written so the user sees this error, not a
            // cascade of "cannot find function" errors at its call sites.
            let mut out = error.to_compile_error();
            out.extend(item_tokens);
            out.into()
        }
    }
}
