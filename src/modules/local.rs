//! Controller-only modules: `set_fact` (variables for the rest of the run), `debug` (print a
//! message or a variable; secrets redacted by the reporter), `fail` (stop the host).

use serde_json::{Map, Value as Json};

use super::{opt, Answers, Arg, Args, Cx, Module, ModuleError, Outcome, Ty};
use crate::ssh::BoxFuture;
use crate::yaml::{Diag, Key, Node, Value};

#[derive(Debug)]
pub(crate) struct SetFact;
#[derive(Debug)]
pub(crate) struct Debug;
#[derive(Debug)]
pub(crate) struct Fail;

impl Module for SetFact {
    fn name(&self) -> &'static str {
        "set_fact"
    }
    fn args(&self) -> &'static [Arg] {
        &[]
    }
    fn open_args(&self) -> bool {
        true
    }
    fn local_only(&self) -> bool {
        true
    }
    fn validate(&self, args: &Node, key: &Key) -> Result<(), Diag> {
        match &args.v {
            Value::Map(m) if !m.is_empty() => {
                for (k, _) in m {
                    if !crate::names::is_identifier(&k.name) {
                        return Err(Diag::at_key(
                            k,
                            &args.src,
                            format!("invalid variable name `{}`", k.name),
                        )
                        .expected("a variable name (letters, digits, `_`)"));
                    }
                }
                Ok(())
            }
            _ => Err(Diag::at_key(key, &args.src, "`set_fact` sets nothing")
                .expected("a mapping of variable names to values")),
        }
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        _answers: Answers,
        _cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let mut facts = args.clone();
            facts.remove("cacheable");
            Ok(Outcome {
                facts,
                ..Default::default()
            })
        })
    }
}

static DEBUG_ARGS: &[Arg] = &[
    opt("msg", Ty::Any),
    opt("var", Ty::Str),
    opt("verbosity", Ty::Int),
];

impl Module for Debug {
    fn name(&self) -> &'static str {
        "debug"
    }
    fn args(&self) -> &'static [Arg] {
        DEBUG_ARGS
    }
    fn local_only(&self) -> bool {
        true
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        _answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let a = Args(args);
            let msg = if let Some(var) = a.str("var") {
                let v = cx
                    .templates
                    .render_value(&Json::String(format!("{{{{ {var} }}}}")), cx.vars)
                    .map_err(|e| ModuleError::msg(format!("var `{var}`: {e}")))?;
                format!("{var} = {}", pretty(&v))
            } else {
                match args.get("msg") {
                    Some(Json::String(s)) => s.clone(),
                    Some(v) => pretty(v),
                    None => "Hello world!".into(),
                }
            };
            Ok(Outcome {
                msg: Some(msg),
                ..Default::default()
            })
        })
    }
}

fn pretty(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

static FAIL_ARGS: &[Arg] = &[opt("msg", Ty::Str)];

impl Module for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }
    fn args(&self) -> &'static [Arg] {
        FAIL_ARGS
    }
    fn local_only(&self) -> bool {
        true
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        _answers: Answers,
        _cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            Err(ModuleError::msg(
                Args(args)
                    .str("msg")
                    .unwrap_or_else(|| "Failed as requested from task".into()),
            ))
        })
    }
}
