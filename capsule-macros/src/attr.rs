//! Parsing the arguments of `#[capsule::tool(...)]`.

use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr, Path};

/// The attribute's arguments, as written.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "..."`: the tool name sent to Capsule.
    pub(crate) name: Option<LitStr>,
    /// `skip(a, b)`: parameters left out of the input.
    pub(crate) skip: Option<Vec<Ident>>,
    /// `crate = "..."`: the path of the `capsule` crate when it is renamed.
    pub(crate) krate: Option<Path>,
}

impl Args {
    /// Reads one `key = value` or `key(...)` argument.
    pub(crate) fn parse_one(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path.is_ident("name") {
            reject_repeat(meta, self.name.is_some())?;
            let name: LitStr = meta.value()?.parse()?;
            if name.value().trim().is_empty() {
                return Err(syn::Error::new(
                    name.span(),
                    "the tool name must not be empty",
                ));
            }
            self.name = Some(name);
        } else if meta.path.is_ident("skip") {
            reject_repeat(meta, self.skip.is_some())?;
            let mut names = Vec::new();
            meta.parse_nested_meta(|inner| {
                let ident = inner.path.require_ident()?;
                names.push(ident.clone());
                Ok(())
            })?;
            self.skip = Some(names);
        } else if meta.path.is_ident("crate") {
            reject_repeat(meta, self.krate.is_some())?;
            let path: LitStr = meta.value()?.parse()?;
            self.krate = Some(path.parse()?);
        } else {
            return Err(meta.error(
                "unknown argument of #[capsule::tool]; expected `name = \"...\"`, \
                 `skip(arg, ...)` or `crate = \"...\"`",
            ));
        }
        Ok(())
    }
}

fn reject_repeat(meta: &ParseNestedMeta<'_>, seen: bool) -> syn::Result<()> {
    if seen {
        let name = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(meta.error(format!("`{name}` is given more than once")));
    }
    Ok(())
}
