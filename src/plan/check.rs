//! Templates checked before any host is contacted: every argument and condition of every task,
//! and every template file, against the variables that will exist (inventory, play vars, `-e`,
//! and the names facts, `register`, `set_fact` and loops define at run time).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value as Json};

use super::{has_template, resolve_templated, HostPlan, Plan};
use crate::playbook::{Play, Playbook, Task};
use crate::template::{self, Templates};
use crate::yaml::{Diag, Node, Pos, Source, Value};

/// Names that will exist at run time but not now: facts, registered results, `set_fact`
/// names, loop variables.
pub(super) fn runtime_names(pb: &Playbook) -> HashSet<String> {
    let mut names: HashSet<String> = crate::facts::FACT_VARS
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.insert("item".into());
    for play in &pb.plays {
        for t in play.tasks.iter().chain(&play.handlers) {
            if let Some(r) = &t.register {
                names.insert(r.clone());
            }
            if t.module.name() == "set_fact" {
                if let Value::Map(m) = &t.args.v {
                    names.extend(m.iter().map(|(k, _)| k.name.clone()));
                }
            }
            names.extend(t.vars.iter().map(|(k, _)| k.name.clone()));
            names.insert(t.loop_var.clone());
        }
    }
    names
}

/// An inventory variable whose template names a variable nothing will ever define (not the
/// inventory, `-e`, facts, `register`, `set_fact` or a loop): an error now, at the variable.
pub(super) fn check_var_names(
    t: &Templates,
    ctx: &Map<String, Json>,
    nodes: &HashMap<String, &Node>,
    runtime: &HashSet<String>,
) -> Result<(), Diag> {
    let mut names: Vec<&String> = ctx.keys().collect();
    names.sort();
    for k in names {
        let (Some(Json::String(src)), Some(node)) = (ctx.get(k), nodes.get(k.as_str())) else {
            continue;
        };
        if !template::is_templated(src) || guarded(src) {
            continue;
        }
        let mut unknown: Vec<String> = t
            .undeclared(src)
            .into_iter()
            .filter(|v| !ctx.contains_key(v) && !runtime.contains(v))
            .collect();
        unknown.sort();
        if let Some(u) = unknown.first() {
            return Err(
                Diag::at(node, format!("undefined variable `{u}` in variable `{k}`"))
                    .expected(EXPECT_VAR),
            );
        }
    }
    Ok(())
}

fn guarded(src: &str) -> bool {
    src.contains("defined") || src.contains("default") || src.contains(" d(")
}

const EXPECT_VAR: &str =
    "a variable from the inventory, play vars, -e, facts, `register` or `set_fact`";

/// Check one templated string (an argument or a condition) for a host.
fn check_str(
    t: &Templates,
    node: &Node,
    s: &str,
    is_cond: bool,
    ctx: &Map<String, Json>,
    runtime: &HashSet<String>,
    strict: bool,
) -> Result<(), Diag> {
    let src = if is_cond {
        template::single_expression(s.trim()).unwrap_or(s)
    } else {
        s
    };
    let syntax = if is_cond {
        t.check_expr_syntax(src)
    } else {
        t.check_syntax(src)
    };
    syntax.map_err(|e| {
        Diag::at(node, format!("template error: {e}")).expected("a valid minijinja template")
    })?;
    if !strict {
        return Ok(());
    }
    let used = if is_cond {
        t.undeclared_expr(src)
    } else {
        t.undeclared(src)
    };
    let mut unknown: Vec<&String> = used
        .iter()
        .filter(|v| !ctx.contains_key(*v) && !runtime.contains(*v))
        .collect();
    unknown.sort();
    if !unknown.is_empty() && !guarded(src) {
        let names: Vec<String> = unknown.iter().map(|u| format!("`{u}`")).collect();
        return Err(
            Diag::at(node, format!("undefined variable {}", names.join(", "))).expected(EXPECT_VAR),
        );
    }
    // A variable whose value is still a template needs facts or results: only at run time.
    let needs_runtime = used.iter().any(|v| ctx.get(v).is_none_or(has_template));
    if !needs_runtime {
        let r = if is_cond {
            t.eval_bool(s, ctx).map(|_| ())
        } else {
            t.render_value(&Json::String(s.to_string()), ctx)
                .map(|_| ())
        };
        r.map_err(|e| {
            let exp = if e.msg.starts_with("undefined") {
                EXPECT_VAR
            } else {
                "a valid minijinja expression"
            };
            Diag::at(node, format!("template error: {e}")).expected(exp)
        })?;
    }
    Ok(())
}

fn walk_strings<'n>(n: &'n Node, out: &mut Vec<(&'n Node, &'n str)>) {
    match &n.v {
        Value::Str(s) if template::is_templated(s) => out.push((n, s)),
        Value::Seq(xs) => xs.iter().for_each(|x| walk_strings(x, out)),
        Value::Map(m) => m.iter().for_each(|(_, v)| walk_strings(v, out)),
        _ => {}
    }
}

fn check_task(
    plan: &Plan,
    task: &Task,
    ctx: &Map<String, Json>,
    runtime: &HashSet<String>,
) -> Result<(), Diag> {
    let t = &plan.templates;
    let mut strs = Vec::new();
    walk_strings(&task.args, &mut strs);
    if let Some(l) = &task.loop_ {
        walk_strings(l, &mut strs);
    }
    // Conditions are bare expressions.
    let mut conds: Vec<&Node> = task.when.iter().collect();
    conds.extend(task.changed_when.iter());
    conds.extend(task.failed_when.iter());
    if task.module.name() == "assert" {
        if let Some(that) = task.args.get("that") {
            match &that.v {
                Value::Seq(xs) => conds.extend(xs.iter()),
                _ => conds.push(that),
            }
        }
    }
    let cond_ptrs: HashSet<*const Node> = conds.iter().map(|n| *n as *const Node).collect();
    let mut ctx = ctx.clone();
    for (k, v) in &task.vars {
        ctx.insert(k.name.clone(), v.to_json());
    }
    for c in conds {
        if let Value::Str(s) = &c.v {
            check_str(t, c, s, true, &ctx, runtime, true)?;
        }
    }
    // Ansible only templates what runs: a `when` already known to be false for this host means
    // its arguments need not be valid here; one that depends on facts or results leaves only
    // the syntax to check now (undefined names then fail the task at run time, if it runs).
    let mut runs = Some(true);
    for w in &task.when {
        match &w.v {
            Value::Bool(false) => runs = Some(false),
            Value::Str(s) => {
                let expr = template::single_expression(s.trim()).unwrap_or(s);
                if t.undeclared_expr(expr).iter().all(|v| ctx.contains_key(v)) {
                    if let Ok(false) = t.eval_bool(s, &ctx) {
                        runs = Some(false);
                    }
                } else if runs == Some(true) {
                    runs = None;
                }
            }
            _ => {}
        }
    }
    if runs == Some(false) {
        return Ok(());
    }
    let strict = runs == Some(true);
    for (node, s) in strs {
        if cond_ptrs.contains(&(node as *const Node)) {
            continue;
        }
        check_str(t, node, s, false, &ctx, runtime, strict)?;
    }
    if task.module.name() == "template" {
        if let Some(src_node) = task.args.get("src") {
            if let Value::Str(src) = &src_node.v {
                if !template::is_templated(src) {
                    check_template_file(plan, src_node, src, &ctx, runtime, strict)?;
                }
            }
        }
    }
    if task.module.name() == "copy" {
        if let Some(src_node) = task.args.get("src") {
            if let Value::Str(src) = &src_node.v {
                if !template::is_templated(src) && plan.search.find("files", src).is_none() {
                    return Err(Diag::at(src_node, format!("source file `{src}` not found"))
                        .expected(plan.search.describe("files")));
                }
            }
        }
    }
    Ok(())
}

fn check_template_file(
    plan: &Plan,
    src_node: &Node,
    src: &str,
    ctx: &Map<String, Json>,
    runtime: &HashSet<String>,
    strict: bool,
) -> Result<(), Diag> {
    let Some(found) = plan.search.find("templates", src) else {
        return Err(Diag::at(src_node, format!("template `{src}` not found"))
            .expected(plan.search.describe("templates")));
    };
    let path = found.display_path();
    let text = found.read_to_string().map_err(|e| {
        Diag::at(
            src_node,
            format!("cannot read template {}: {e}", path.display()),
        )
    })?;
    let tsrc = Source::new(&path, text.clone());
    let at = |e: &template::TemplateError| -> Pos {
        match (e.offset, e.line) {
            (Some(o), _) => {
                let (line, col) = template::line_col(&text, o);
                Pos { line, col }
            }
            (None, Some(line)) => Pos { line, col: 1 },
            _ => Pos { line: 1, col: 1 },
        }
    };
    let t = &plan.templates;
    if let Err(e) = t.check_syntax(&text) {
        return Err(
            Diag::new(&tsrc, at(&e), format!("template syntax error: {e}"))
                .expected("a valid minijinja template"),
        );
    }
    if !strict {
        return Ok(());
    }
    let used = t.undeclared(&text);
    let mut unknown: Vec<&String> = used
        .iter()
        .filter(|v| !ctx.contains_key(*v) && !runtime.contains(*v))
        .collect();
    unknown.sort();
    if let Some(first) = unknown.first() {
        // Only when the template cannot be guarding it with `is defined` / `default`.
        let guarded_here = text.contains(&format!("{first} is defined"))
            || text.contains(&format!("{first} is not defined"))
            || text.contains(&format!("{first} | default"))
            || text.contains(&format!("{first}|default"));
        if !guarded_here {
            let off = template::find_word(&text, first).unwrap_or(0);
            let (line, col) = template::line_col(&text, off);
            let mut d = Diag::new(
                &tsrc,
                Pos { line, col },
                format!("undefined variable `{first}`"),
            );
            d.width = first.len();
            return Err(d.expected(EXPECT_VAR));
        }
    }
    if used
        .iter()
        .all(|v| ctx.get(v).is_some_and(|x| !has_template(x)))
    {
        if let Err(e) = t.render_str(&text, ctx) {
            let mut d = Diag::new(&tsrc, at(&e), format!("template error: {e}"));
            if let Some(o) = e.offset {
                let w: usize = text[o..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .count();
                d.width = w.max(1);
            }
            return Err(d.expected(EXPECT_VAR));
        }
    }
    Ok(())
}

/// Per play and host: the static context, then every task and handler checked against it.
pub(super) fn check_templates(plan: &Plan) -> Result<(), Diag> {
    let runtime = runtime_names(&plan.playbook);
    for pp in &plan.plays {
        let play = plan.play(pp);
        for h in &pp.hosts {
            let Some(hp) = plan.hosts.get(h) else {
                continue;
            };
            let ctx = static_context(plan, play, hp)
                .map_err(|(n, e)| Diag::at(n, format!("in variable: {e}")).expected(EXPECT_VAR))?;
            for t in play.tasks.iter().chain(&play.handlers) {
                check_task(plan, t, &ctx, &runtime)?;
            }
        }
    }
    Ok(())
}

/// Inventory < play vars < `-e`, with templated values resolved where possible.
pub(super) fn static_context<'p>(
    plan: &'p Plan,
    play: &'p Play,
    hp: &HostPlan,
) -> Result<Map<String, Json>, (&'p Node, template::TemplateError)> {
    let mut ctx = hp.vars.clone();
    for (k, v) in &play.vars {
        ctx.insert(k.name.clone(), v.to_json());
    }
    match resolve_templated(&plan.templates, &ctx, &plan.extra) {
        Ok(c) => Ok(c),
        Err((var, e)) => {
            let node = play
                .vars
                .iter()
                .find(|(k, _)| k.name == var)
                .map(|(_, v)| v)
                .unwrap_or(&play.hosts);
            Err((node, e))
        }
    }
}
