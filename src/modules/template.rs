//! `template`: render a minijinja template (from `templates/` of the project or the playbook's
//! directory) with the host's variables and facts, then place it like `copy` — including
//! `validate` (e.g. `keepalived -t -f %s`) run on the node against the rendered temp file
//! before it replaces the live one.

use serde_json::{Map, Value as Json};

use super::files::{file_queries, put_file, Want};
use super::{opt, req, Answers, Arg, Args, Ask, Cx, Module, ModuleError, Outcome, Ty, View};
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
    fn queries(&self, args: &Map<String, Json>, view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        file_queries(rendered(args, view)?, view)
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let w = rendered(args, cx)?;
            put_file(cx, w, answers).await
        })
    }
}

/// The file `template` places: `src` found in the search path, rendered with the host's
/// variables; a rendering error names the template's file, line and column.
fn rendered(args: &Map<String, Json>, view: &View<'_>) -> Result<Want, ModuleError> {
    let a = Args(args);
    let src = a.req("src")?;
    let found = view
        .search
        .find("templates", &src)
        .ok_or_else(|| ModuleError::msg(format!("template not found: {src}")))?;
    let path = found.display_path();
    let text = found
        .read_to_string()
        .map_err(|e| ModuleError::msg(format!("cannot read {}: {e}", path.display())))?;
    let rendered = view.templates.render_str(&text, view.vars).map_err(|e| {
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
    Want::from_args(&a, rendered.into_bytes())
}
