//! `assert`: every expression in `that` must hold, or the host fails with `fail_msg`. Runs on
//! the controller against the host's variables (facts and registered results included).

use serde_json::{Map, Value as Json};

use super::{opt, req, Answers, Arg, Args, Cx, Module, ModuleError, Outcome, Ty};
use crate::ssh::BoxFuture;

#[derive(Debug)]
pub(crate) struct Assert;

static ARGS: &[Arg] = &[
    req("that", Ty::StrOrList),
    opt("fail_msg", Ty::Str),
    opt("msg", Ty::Str),
    opt("success_msg", Ty::Str),
    opt("quiet", Ty::Bool),
];

impl Module for Assert {
    fn name(&self) -> &'static str {
        "assert"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
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
            // `that` is evaluated here, not pre-rendered: see exec (conditions stay raw).
            let a = Args(args);
            for cond in a.list("that") {
                let ok = cx
                    .templates
                    .eval_bool(&cond, cx.vars)
                    .map_err(|e| ModuleError::msg(format!("assertion `{cond}`: {e}")))?;
                if !ok {
                    let msg = a
                        .str("fail_msg")
                        .or_else(|| a.str("msg"))
                        .unwrap_or_else(|| format!("Assertion failed: {cond}"));
                    return Err(ModuleError {
                        msg,
                        ..Default::default()
                    });
                }
            }
            Ok(Outcome {
                msg: Some(
                    a.str("success_msg")
                        .unwrap_or_else(|| "All assertions passed".into()),
                ),
                ..Default::default()
            })
        })
    }
}
