//! The guarded function as the expansion sees it: which bindings go into the tool's
//! input and under which keys, what the function returns, and where its body is.
//!
//! Checking happens here, once, so that every mistake is one error spanned on the
//! user's own tokens.

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Block, Expr, FnArg, Ident, ItemFn, LitStr, Local, Pat, PatIdent, ReturnType, Stmt,
    Token, Type,
};

use crate::attr::Args;

/// Everything the expansion needs, checked.
pub(crate) struct Tool {
    /// The function, with `mut` moved off the parameters that [`Tool::rebinds`] lists.
    pub(crate) function: ItemFn,
    pub(crate) name: LitStr,
    pub(crate) input: Input,
    /// The return type as it can be written inside the body: `impl Trait` becomes `_`.
    pub(crate) output: Type,
    pub(crate) on_block: Option<Expr>,
    /// Whether the output goes into `tool_result` (not when `skip_output` is given).
    pub(crate) report_output: bool,
    pub(crate) shape: Shape,
    /// `mut` bindings that the body rebinds, so that it can reassign them freely.
    pub(crate) rebinds: Vec<Rebind>,
    /// A `mut self` receiver taken by value, which the body must capture whole.
    pub(crate) mut_self: Option<Token![self]>,
    /// The tool's own check settings.
    pub(crate) options: Options,
}

/// A tool's own deadline, failure policy and mode, in place of the client's.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) timeout_ms: Option<syn::LitInt>,
    /// `Some(true)` for `fail_closed`, `Some(false)` for `fail_open`.
    pub(crate) fail_closed: Option<bool>,
    pub(crate) monitor: bool,
}

impl Options {
    fn from_args(args: &Args) -> Self {
        Self {
            timeout_ms: args.timeout_ms.clone(),
            fail_closed: args
                .failure_policy
                .as_ref()
                .map(|flag| flag == "fail_closed"),
            monitor: args.monitor.is_some(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.timeout_ms.is_none() && self.fail_closed.is_none() && !self.monitor
    }
}

/// How the function runs its body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An `async fn`: its whole body is guarded.
    Async,
    /// A function whose body is `Box::pin(async move { .. })`, as `#[async_trait]` and
    /// rmcp's `#[tool]` write an `async fn` before this attribute sees it. The guard goes
    /// inside the async block.
    Pinned,
}

/// What goes into `tool.input`.
pub(crate) enum Input {
    /// One key per binding, in parameter order.
    Fields(Vec<Field>),
    /// One argument that is the whole input object.
    Whole(Field),
}

/// One binding that is sent.
pub(crate) struct Field {
    /// The key in the input object: the binding's name.
    pub(crate) key: LitStr,
    /// The binding, located at the end of the parameter so that an error about its value
    /// covers the whole parameter.
    pub(crate) ident: Ident,
    /// Where the parameter starts.
    pub(crate) start: Span,
    /// The parameter's `#[cfg]` attributes, so the field exists exactly when it does.
    pub(crate) cfgs: Vec<Attribute>,
}

/// A `mut` binding moved from the signature into the body.
pub(crate) struct Rebind {
    pub(crate) mut_token: Token![mut],
    pub(crate) ident: Ident,
    pub(crate) cfgs: Vec<Attribute>,
}

/// One binding of the parameter list, as written.
struct Binding {
    ident: Ident,
    /// Where an error about this binding's value points, from `start` to `end`: the
    /// whole parameter for a plain one, the name for a binding inside a pattern.
    start: Span,
    end: Span,
    /// Whether the parameter is just this name (not a pattern around it).
    whole_parameter: bool,
    cfgs: Vec<Attribute>,
}

impl Tool {
    /// Checks `function` against the attribute's `args`, one error per mistake.
    pub(crate) fn from_fn(mut function: ItemFn, args: &Args) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let shape = shape(&function, &mut errors);

        let rebinds = if shape == Shape::Async {
            take_mut_bindings(&mut function)
        } else {
            Vec::new()
        };
        let mut_self = function.sig.receiver().and_then(|receiver| {
            let by_value = receiver.reference.is_none();
            (shape == Shape::Async && by_value && receiver.mutability.is_some())
                .then_some(receiver.self_token)
        });

        let bindings = match bindings(&function, shape) {
            Ok(bindings) => bindings,
            Err(error) => {
                errors.push(error);
                Vec::new()
            }
        };
        let input = input(&bindings, args, &mut errors);

        let output = output_type(&function, shape);
        let name = args.name.clone().unwrap_or_else(|| {
            let ident = &function.sig.ident;
            LitStr::new(&ident.unraw().to_string(), ident.span())
        });

        errors.finish()?;
        Ok(Self {
            function,
            name,
            input,
            output,
            on_block: args.on_block.clone(),
            report_output: args.skip_output.is_none(),
            shape,
            rebinds,
            mut_self,
            options: Options::from_args(args),
        })
    }
}

/// Whether the function is an `async fn` or an already pinned one; anything else is an
/// error.
fn shape(function: &ItemFn, errors: &mut Errors) -> Shape {
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            "a guarded tool cannot be a `const fn`: its check asks the Capsule service at run \
             time; remove `const`",
        ));
    }

    if sig.asyncness.is_some() {
        return Shape::Async;
    }
    let mut block = function.block.clone();
    if pinned_body(&mut block).is_some() {
        return Shape::Pinned;
    }
    errors.push(syn::Error::new(
        sig.fn_token.span,
        "#[capsule::tool] needs an `async fn`: the call waits for the Capsule service's \
         decision before the body runs",
    ));
    Shape::Async
}

/// The block to guard in a body of the form `Box::pin(async move { .. })`.
///
/// In `#[async_trait]`'s form the async block first moves the parameters into locals and
/// then evaluates the original body as `let __ret: R = { .. };`; the guard goes around
/// that original body, where every parameter's bindings are in scope under their own
/// names. Otherwise it goes around the whole async block.
pub(crate) fn pinned_body(block: &mut Block) -> Option<&mut Block> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_mut_slice() else {
        return None;
    };
    let Expr::Path(callee) = &*call.func else {
        return None;
    };
    let is_pin = callee
        .path
        .segments
        .last()
        .is_some_and(|s| s.ident == "pin");
    if !is_pin || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Async(future)) = call.args.first_mut() else {
        return None;
    };
    // Only an `async move` block owns the parameters that the guard sends and moves.
    future.capture?;

    let stmts = &future.block.stmts;
    let original = stmts
        .iter()
        .rposition(|stmt| matches!(stmt, Stmt::Local(local) if is_async_trait_result(local)));
    match original {
        Some(index) => match &mut future.block.stmts[index] {
            Stmt::Local(Local {
                init: Some(init), ..
            }) => match &mut *init.expr {
                Expr::Block(body) => Some(&mut body.block),
                _ => None,
            },
            _ => None,
        },
        None => Some(&mut future.block),
    }
}

/// `let __ret: R = { .. };` or `let _: () = { .. };`, as `#[async_trait]` writes it.
fn is_async_trait_result(local: &Local) -> bool {
    let Pat::Type(typed) = &local.pat else {
        return false;
    };
    let named = match &*typed.pat {
        Pat::Ident(pat) => pat.ident == "__ret",
        Pat::Wild(_) => true,
        _ => false,
    };
    let block_init = local
        .init
        .as_ref()
        .is_some_and(|init| init.diverge.is_none() && matches!(&*init.expr, Expr::Block(_)));
    named && block_init
}

/// Moves `mut` off by-value bindings in the parameter list, to be rebound in the body.
///
/// A parameter written `mut text: &str` may be reassigned to a borrow of a local in the
/// body; that only type-checks when the body owns a fresh binding, as it does in an
/// unannotated `async fn`.
fn take_mut_bindings(function: &mut ItemFn) -> Vec<Rebind> {
    struct Taker {
        cfgs: Vec<Attribute>,
        found: Vec<Rebind>,
    }

    impl VisitMut for Taker {
        fn visit_pat_ident_mut(&mut self, pat: &mut PatIdent) {
            if pat.by_ref.is_none() {
                if let Some(mut_token) = pat.mutability.take() {
                    self.found.push(Rebind {
                        mut_token,
                        ident: pat.ident.clone(),
                        cfgs: self.cfgs.clone(),
                    });
                }
            }
            syn::visit_mut::visit_pat_ident_mut(self, pat);
        }
    }

    let mut taker = Taker {
        cfgs: Vec::new(),
        found: Vec::new(),
    };
    for arg in &mut function.sig.inputs {
        if let FnArg::Typed(typed) = arg {
            taker.cfgs = cfgs(&typed.attrs);
            taker.visit_pat_mut(&mut typed.pat);
        }
    }
    taker.found
}

/// Every binding of the parameter list, the receiver left out.
fn bindings(function: &ItemFn, shape: Shape) -> syn::Result<Vec<Binding>> {
    let renamed = if shape == Shape::Pinned {
        async_trait_patterns(&function.block)
    } else {
        Vec::new()
    };

    let mut found = Vec::new();
    for arg in &function.sig.inputs {
        let FnArg::Typed(typed) = arg else { continue };
        let cfgs = cfgs(&typed.attrs);

        if let Pat::Ident(pat) = &*typed.pat {
            if pat.subpat.is_none() {
                let rename = renamed.iter().find(|(name, _)| *name == pat.ident);
                if let Some((_, original)) = rename {
                    // A pattern sends its bindings; `_` sends nothing.
                    if let Some(original) = original {
                        collect_pattern(original, &cfgs, &mut found)?;
                    }
                } else if shape == Shape::Pinned && is_async_trait_positional(&pat.ident) {
                    return Err(syn::Error::new(
                        typed.span(),
                        "#[capsule::tool] cannot see the bindings of this parameter in the \
                         code `#[async_trait]` generated: bind it to a name and destructure it \
                         in the body",
                    ));
                } else {
                    found.push(Binding {
                        ident: pat.ident.clone(),
                        start: pat.ident.span(),
                        end: last_span(&typed.ty).unwrap_or_else(|| pat.ident.span()),
                        whole_parameter: true,
                        cfgs,
                    });
                }
                continue;
            }
        }
        collect_pattern(&typed.pat, &cfgs, &mut found)?;
    }
    Ok(found)
}

/// `__arg1`: the name `#[async_trait]` gives a parameter written as a pattern or `_`.
fn is_async_trait_positional(ident: &Ident) -> bool {
    ident
        .to_string()
        .strip_prefix("__arg")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What `#[async_trait]` did with the parameters it renamed to `__argN`: `let PAT =
/// { let __argN = __argN; __argN };` at the start of its async block for a pattern
/// (`Some(PAT)`), `let __argN = __argN;` for `_` (`None`).
fn async_trait_patterns(block: &Block) -> Vec<(Ident, Option<Pat>)> {
    let mut block = block.clone();
    let Some(Stmt::Expr(Expr::Call(call), None)) = block.stmts.pop() else {
        return Vec::new();
    };
    let Some(Expr::Async(future)) = call.args.into_iter().next() else {
        return Vec::new();
    };

    let mut found = Vec::new();
    for stmt in future.block.stmts {
        let Stmt::Local(local) = stmt else { continue };
        let Some(init) = local.init else { continue };
        match (local.pat, *init.expr) {
            (Pat::Ident(wild), Expr::Path(_)) if is_async_trait_positional(&wild.ident) => {
                found.push((wild.ident, None));
            }
            (pat, Expr::Block(inner)) => {
                if let [Stmt::Local(rename), Stmt::Expr(Expr::Path(_), None)] =
                    inner.block.stmts.as_slice()
                {
                    if let Pat::Ident(positional) = &rename.pat {
                        if is_async_trait_positional(&positional.ident) {
                            found.push((positional.ident.clone(), Some(pat)));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// The bindings inside a pattern parameter, in the order they are written.
fn collect_pattern(pat: &Pat, cfgs: &[Attribute], found: &mut Vec<Binding>) -> syn::Result<()> {
    match pat {
        Pat::Ident(pat) => {
            found.push(Binding {
                ident: pat.ident.clone(),
                start: pat.ident.span(),
                end: pat.ident.span(),
                whole_parameter: false,
                cfgs: cfgs.to_vec(),
            });
            if let Some((_, sub)) = &pat.subpat {
                collect_pattern(sub, cfgs, found)?;
            }
        }
        Pat::Struct(pat) => {
            for field in &pat.fields {
                collect_pattern(&field.pat, cfgs, found)?;
            }
        }
        Pat::Tuple(pat) => {
            for elem in &pat.elems {
                collect_pattern(elem, cfgs, found)?;
            }
        }
        Pat::TupleStruct(pat) => {
            for elem in &pat.elems {
                collect_pattern(elem, cfgs, found)?;
            }
        }
        Pat::Slice(pat) => {
            for elem in &pat.elems {
                collect_pattern(elem, cfgs, found)?;
            }
        }
        Pat::Reference(pat) => collect_pattern(&pat.pat, cfgs, found)?,
        Pat::Paren(pat) => collect_pattern(&pat.pat, cfgs, found)?,
        Pat::Type(pat) => collect_pattern(&pat.pat, cfgs, found)?,
        Pat::Or(pat) => {
            // Every alternative binds the same names; the first one lists them.
            if let Some(first) = pat.cases.first() {
                collect_pattern(first, cfgs, found)?;
            }
        }
        Pat::Wild(_) | Pat::Rest(_) | Pat::Lit(_) | Pat::Path(_) | Pat::Range(_) => {}
        other => {
            return Err(syn::Error::new(
                other.span(),
                "#[capsule::tool] cannot see the bindings of this parameter: bind it to a \
                 name and destructure it in the body",
            ));
        }
    }
    Ok(())
}

/// The `#[cfg]` and `#[cfg_attr]` attributes of a parameter.
fn cfgs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr"))
        .cloned()
        .collect()
}

/// Which bindings are sent, checked against `skip`, `skip_all` and `input`.
fn input(bindings: &[Binding], args: &Args, errors: &mut Errors) -> Input {
    let skipped = args.skip.as_deref().unwrap_or_default();
    for ident in skipped {
        if !bindings.iter().any(|binding| binding.ident == *ident) {
            errors.push(unknown_binding("skip", ident, bindings));
        }
    }
    if let (Some(skip_all), Some(_)) = (&args.skip_all, &args.skip) {
        errors.push(syn::Error::new(
            skip_all.span(),
            "`skip_all` already leaves every argument out: remove `skip(...)` or `skip_all`",
        ));
    }

    if let Some(whole) = &args.input {
        if args.skip.is_some() || args.skip_all.is_some() {
            errors.push(syn::Error::new(
                whole.span(),
                "`input = ...` already sends only that argument: remove `skip(...)` and \
                 `skip_all`",
            ));
        }
        return match bindings.iter().find(|binding| binding.ident == *whole) {
            Some(binding) if binding.whole_parameter => Input::Whole(field(binding)),
            Some(_) => {
                errors.push(syn::Error::new(
                    whole.span(),
                    format!(
                        "`input = {whole}` names a binding inside a pattern: bind the whole \
                         parameter to a name and send that"
                    ),
                ));
                Input::Fields(Vec::new())
            }
            None => {
                errors.push(unknown_binding("input", whole, bindings));
                Input::Fields(Vec::new())
            }
        };
    }

    if args.skip_all.is_some() {
        return Input::Fields(Vec::new());
    }
    Input::Fields(
        bindings
            .iter()
            .filter(|binding| !skipped.contains(&binding.ident))
            .map(field)
            .collect(),
    )
}

fn field(binding: &Binding) -> Field {
    // Move the name to the end of the parameter, keeping its hygiene so that it still
    // resolves to the binding.
    let mut ident = binding.ident.clone();
    ident.set_span(binding.end.resolved_at(binding.ident.span()));
    Field {
        key: LitStr::new(&binding.ident.unraw().to_string(), binding.ident.span()),
        ident,
        start: binding.start,
        cfgs: binding.cfgs.clone(),
    }
}

/// The span of the last token of `tokens`.
pub(crate) fn last_span(tokens: &impl ToTokens) -> Option<Span> {
    tokens
        .to_token_stream()
        .into_iter()
        .last()
        .map(|token| match token {
            TokenTree::Group(group) => group.span_close(),
            other => other.span(),
        })
}

fn unknown_binding(argument: &str, ident: &Ident, bindings: &[Binding]) -> syn::Error {
    if ident == "self" {
        return syn::Error::new(
            ident.span(),
            format!("the receiver is never part of the input: remove `self` from `{argument}`"),
        );
    }
    let names: Vec<String> = bindings.iter().map(|b| format!("`{}`", b.ident)).collect();
    let known = if names.is_empty() {
        "this function takes no arguments that are sent".to_owned()
    } else {
        format!("its parameters are {}", names.join(", "))
    };
    syn::Error::new(
        ident.span(),
        format!("`{argument}` names `{ident}`, which is not a parameter of this function; {known}"),
    )
}

/// The return type to name in the body, spanned on the user's return type.
fn output_type(function: &ItemFn, shape: Shape) -> Type {
    let sig = &function.sig;
    let written = match &sig.output {
        ReturnType::Type(_, ty) if shape == Shape::Async => (**ty).clone(),
        ReturnType::Type(_, ty) => future_output(ty).unwrap_or_else(|| {
            syn::Type::Infer(syn::TypeInfer {
                underscore_token: Token![_](ty.span()),
            })
        }),
        ReturnType::Default => {
            let span = sig.paren_token.span.close();
            syn::parse_quote_spanned!(span=> ())
        }
    };

    let mut nameable = written;
    InferImplTrait.visit_type_mut(&mut nameable);
    nameable
}

/// `R` in a pinned return type such as `Pin<Box<dyn Future<Output = R> + Send + '_>>`.
fn future_output(ty: &Type) -> Option<Type> {
    struct Finder(Option<Type>);

    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_assoc_type(&mut self, assoc: &'ast syn::AssocType) {
            if assoc.ident == "Output" && self.0.is_none() {
                self.0 = Some(assoc.ty.clone());
            }
        }
    }

    let mut finder = Finder(None);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}

/// Replaces `impl Trait`, which cannot be written in a body, with `_`.
struct InferImplTrait;

impl VisitMut for InferImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: Token![_](impl_trait.impl_token.span),
            });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
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
