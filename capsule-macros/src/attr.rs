//! Parsing the arguments of `#[capsule::tool(...)]`.
//!
//! Every argument may be given once. An unknown or repeated argument is an error spanned
//! on the argument, never a warning, so a typo cannot silently change what is sent.

use syn::meta::ParseNestedMeta;
use syn::{Expr, Ident, LitInt, LitStr, Path, Token};

/// The attribute's arguments, as written.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "..."`: the tool name sent to Capsule.
    pub(crate) name: Option<LitStr>,
    /// `skip(a, b)`: bindings left out of the input.
    pub(crate) skip: Option<Vec<Ident>>,
    /// `skip_all`: send an empty input object.
    pub(crate) skip_all: Option<Ident>,
    /// `input = args`: send this one argument as the whole input object.
    pub(crate) input: Option<Ident>,
    /// `skip_output`: leave the output out of `tool_result`.
    pub(crate) skip_output: Option<Ident>,
    /// `on_block = expr`: turns a block into the function's return value.
    pub(crate) on_block: Option<Expr>,
    /// `crate = "..."`: the path of the `capsule` crate when it is renamed.
    pub(crate) krate: Option<Path>,
    /// `timeout_ms = N`: this tool's decision deadline.
    pub(crate) timeout_ms: Option<LitInt>,
    /// `fail_closed` or `fail_open`: this tool's failure policy.
    pub(crate) failure_policy: Option<Ident>,
    /// `monitor`: report this tool's blocks without enforcing them.
    pub(crate) monitor: Option<Ident>,
}

const EXPECTED: &str = "expected one of `name = \"...\"`, `skip(arg, ...)`, `skip_all`, \
                        `input = arg`, `skip_output`, `on_block = ...`, `timeout_ms = N`, \
                        `fail_closed`, `fail_open`, `monitor` or `crate = \"...\"`";

impl Args {
    /// Reads one `key`, `key = value` or `key(...)` argument.
    pub(crate) fn parse_one(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let path = &meta.path;
        if path.is_ident("name") {
            reject_repeat(meta, self.name.is_some())?;
            self.name = Some(parse_name(meta)?);
        } else if path.is_ident("skip") {
            reject_repeat(meta, self.skip.is_some())?;
            self.skip = Some(parse_idents(meta)?);
        } else if path.is_ident("skip_all") {
            reject_repeat(meta, self.skip_all.is_some())?;
            self.skip_all = Some(flag(meta)?);
        } else if path.is_ident("input") {
            reject_repeat(meta, self.input.is_some())?;
            self.input = Some(parse_binding(meta)?);
        } else if path.is_ident("skip_output") {
            reject_repeat(meta, self.skip_output.is_some())?;
            self.skip_output = Some(flag(meta)?);
        } else if path.is_ident("on_block") {
            reject_repeat(meta, self.on_block.is_some())?;
            self.on_block = Some(meta.value()?.parse()?);
        } else if path.is_ident("timeout_ms") {
            reject_repeat(meta, self.timeout_ms.is_some())?;
            self.timeout_ms = Some(parse_millis(meta)?);
        } else if path.is_ident("fail_closed") || path.is_ident("fail_open") {
            if let Some(first) = &self.failure_policy {
                return Err(meta.error(format!(
                    "`{first}` is already given: a tool has one failure policy"
                )));
            }
            self.failure_policy = Some(flag(meta)?);
        } else if path.is_ident("monitor") {
            reject_repeat(meta, self.monitor.is_some())?;
            self.monitor = Some(flag(meta)?);
        } else if path.is_ident("crate") {
            reject_repeat(meta, self.krate.is_some())?;
            self.krate = Some(parse_crate(meta)?);
        } else {
            return Err(meta.error(format!("unknown argument of #[capsule::tool]; {EXPECTED}")));
        }
        Ok(())
    }
}

/// `name = "..."`, which must not be blank.
fn parse_name(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    let name: LitStr = meta.value()?.parse()?;
    if name.value().trim().is_empty() {
        return Err(syn::Error::new(
            name.span(),
            "the tool name must not be empty: give the name the model knows the tool by",
        ));
    }
    Ok(name)
}

/// `timeout_ms = N`, a whole number of milliseconds above zero.
fn parse_millis(meta: &ParseNestedMeta<'_>) -> syn::Result<LitInt> {
    let millis: LitInt = meta.value()?.parse()?;
    match millis.base10_parse::<u64>() {
        Ok(0) | Err(_) => Err(syn::Error::new(
            millis.span(),
            "`timeout_ms` takes a whole number of milliseconds above zero, as in \
             `timeout_ms = 2000`",
        )),
        Ok(_) => Ok(millis),
    }
}

/// `skip(a, b)`: a list of plain names.
fn parse_idents(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<Ident>> {
    let mut names = Vec::new();
    meta.parse_nested_meta(|inner| {
        if !inner.input.is_empty() && !inner.input.peek(Token![,]) {
            return Err(
                inner.error("`skip(...)` takes parameter names only, as in `skip(db, ctx)`")
            );
        }
        names.push(inner.path.require_ident()?.clone());
        Ok(())
    })?;
    Ok(names)
}

/// A flag such as `skip_all`, which takes no value.
fn flag(meta: &ParseNestedMeta<'_>) -> syn::Result<Ident> {
    let ident = meta.path.require_ident()?;
    if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        return Err(meta.error(format!("`{ident}` takes no value: write just `{ident}`")));
    }
    Ok(ident.clone())
}

/// `crate = "path"` as serde spells it, or `crate = path`.
fn parse_crate(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    let value = meta.value()?;
    if value.peek(LitStr) {
        let text: LitStr = value.parse()?;
        text.parse_with(Path::parse_mod_style)
    } else {
        value.call(Path::parse_mod_style)
    }
}

fn reject_repeat(meta: &ParseNestedMeta<'_>, seen: bool) -> syn::Result<()> {
    if seen {
        let name = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(meta.error(format!("`{name}` is given more than once: keep one")));
    }
    Ok(())
}

/// `input = arg`: one parameter name, never the receiver.
fn parse_binding(meta: &ParseNestedMeta<'_>) -> syn::Result<Ident> {
    let value = meta.value()?;
    if value.peek(Token![self]) {
        return Err(value
            .error("the receiver is never part of the input: name one of the other parameters"));
    }
    value.parse()
}
