//! `template`: render a minijinja template (from `templates/` of the project or the playbook's
//! directory) with the host's variables and facts, then place it like `copy` — including
//! `validate` (e.g. `keepalived -t -f %s`) run on the node against the rendered temp file
//! before it replaces the live one.

use serde_json::{Map, Value as Json};

use super::files::{put_file, Want};
use super::{opt, req, Arg, Args, Cx, Module, ModuleError, Outcome, Ty};
use crate::ssh::BoxFuture;

#[derive(Debug)]
pub(crate) struct Template;

static ARGS: &[Arg] = &[
    req("src", Ty::Str),
    req("dest", Ty::Str),
    opt("mode", Ty::Str),
    opt("owner", Ty::Str),
    opt("group", Ty::Str),
    opt("backup", Ty::Bool),
    opt("validate", Ty::Str),
];

impl Module for Template {
    fn name(&self) -> &'static str {
        "template"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn run<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let a = Args(args);
            let src = a.req("src")?;
            let found = cx
                .search
                .find("templates", &src)
                .ok_or_else(|| ModuleError::msg(format!("template not found: {src}")))?;
            let path = found.display_path();
            let text = found
                .read_to_string()
                .map_err(|e| ModuleError::msg(format!("cannot read {}: {e}", path.display())))?;
            let rendered = cx.templates.render_str(&text, cx.vars).map_err(|e| {
                let at = match (e.offset, e.line) {
                    (Some(off), _) => {
                        let (l, c) = crate::template::line_col(&text, off);
                        format!("{}:{l}:{c}", path.display())
                    }
                    (None, Some(l)) => format!("{}:{l}", path.display()),
                    _ => path.display().to_string(),
                };
                ModuleError::msg(format!("{at}: {e}"))
            })?;
            put_file(cx, Want::from_args(&a, rendered.into_bytes())?).await
        })
    }
}
