//! The guarded function as the expansion sees it: which parameters go into the
//! tool's input, under which keys, and what it returns.

use syn::ext::IdentExt as _;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Type};

use crate::attr::Args;

/// One parameter that is sent in `tool.input`.
pub(crate) struct InputField {
    /// The key in the input object: the parameter's name.
    pub(crate) key: String,
    /// The binding to serialise.
    pub(crate) ident: Ident,
    /// The parameter's type, for pointing errors at it.
    pub(crate) ty: Type,
}

/// Everything the expansion needs, checked.
pub(crate) struct Tool {
    pub(crate) name: LitStr,
    pub(crate) fields: Vec<InputField>,
    /// The return type, when it can be named in the body (no `impl Trait` in it).
    pub(crate) output: Option<Type>,
}

impl Tool {
    /// Checks `function` against the attribute's `args`, one error per mistake.
    pub(crate) fn from_fn(function: &ItemFn, args: &Args) -> syn::Result<Self> {
        let sig = &function.sig;
        let mut errors = Errors::default();

        if sig.asyncness.is_none() {
            errors.push(syn::Error::new(
                sig.fn_token.span,
                "#[capsule::tool] needs an `async fn`: the call waits for the Capsule \
                 service's decision before the body runs",
            ));
        }

        let skipped = args.skip.as_deref().unwrap_or_default();
        let mut fields = Vec::new();
        let mut seen = Vec::new();

        for arg in &sig.inputs {
            let FnArg::Typed(typed) = arg else { continue };
            match &*typed.pat {
                Pat::Ident(pat) => {
                    seen.push(pat.ident.clone());
                    if skipped.contains(&pat.ident) {
                        continue;
                    }
                    fields.push(InputField {
                        key: pat.ident.unraw().to_string(),
                        ident: pat.ident.clone(),
                        ty: (*typed.ty).clone(),
                    });
                }
                Pat::Wild(_) => {}
                other => errors.push(syn::Error::new(
                    other.span(),
                    "#[capsule::tool] sends arguments by name: bind this argument to a name \
                     and destructure it in the body",
                )),
            }
        }

        for ident in skipped {
            if !seen.contains(ident) {
                errors.push(syn::Error::new(
                    ident.span(),
                    format!("`skip` names `{ident}`, which is not a parameter of this function"),
                ));
            }
        }

        let output = match &sig.output {
            ReturnType::Type(_, ty) if !mentions_impl_trait(ty) => Some((**ty).clone()),
            ReturnType::Type(..) => None,
            ReturnType::Default => Some(syn::parse_quote_spanned!(sig.ident.span()=> ())),
        };

        let name = args
            .name
            .clone()
            .unwrap_or_else(|| LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span()));

        errors.finish()?;
        Ok(Self {
            name,
            fields,
            output,
        })
    }
}

/// Whether `ty` contains `impl Trait`, which cannot be written inside the body.
fn mentions_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);

    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }

    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

/// Collects errors so that every mistake is reported in one compile.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
