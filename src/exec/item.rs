//! Task evaluation: the variables a task sees, its conditions, its arguments and loop items
//! rendered, and one item run through its module.

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::host::HostRun;
use super::shared::Shared;
use crate::modules::{CmdLog, Cx, Diff, ModuleError, View};
use crate::plan::resolve_templated;
use crate::playbook::Task;
use crate::ssh::{Local, Transport};

/// Per-item result before aggregation.
pub(super) struct ItemResult {
    pub(super) data: Map<String, Json>,
    pub(super) changed: bool,
    pub(super) skipped: bool,
    pub(super) failed: Option<ModuleError>,
    pub(super) msg: Option<String>,
    pub(super) diffs: Vec<Diff>,
    pub(super) cmds: Vec<CmdLog>,
}

pub(super) fn context(
    sh: &Shared,
    h: &HostRun,
    play: usize,
    task: &Task,
) -> Result<Map<String, Json>, String> {
    let plan = &sh.plan;
    let p = &plan.playbook.plays[play];
    let hp = plan
        .hosts
        .get(&h.name)
        .ok_or_else(|| format!("internal: host {} not planned", h.name))?;
    // inventory < facts < play vars < task vars < registered/set_fact < -e (docs/variables.md)
    let mut ctx = hp.vars.clone();
    ctx.extend(crate::facts::vars(&h.facts));
    for (k, v) in &p.vars {
        ctx.insert(k.name.clone(), v.to_json());
    }
    for (k, v) in &task.vars {
        ctx.insert(k.name.clone(), v.to_json());
    }
    ctx.extend(h.registered.clone());
    resolve_templated(&plan.templates, &ctx, &plan.extra)
        .map_err(|(k, e)| format!("variable `{k}`: {e}"))
}

pub(super) fn cond_ok(
    sh: &Shared,
    conds: &[crate::yaml::Node],
    ctx: &Map<String, Json>,
) -> Result<bool, String> {
    for c in conds {
        let ok = match &c.v {
            crate::yaml::Value::Bool(b) => *b,
            _ => {
                let s = c.as_scalar_str("").unwrap_or_default();
                sh.plan
                    .templates
                    .eval_bool(&s, ctx)
                    .map_err(|e| format!("condition `{s}` ({}): {e}", c.src.path.display()))?
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The task's arguments rendered in `ctx`; `None` when its `when` is false.
pub(super) fn task_args(
    sh: &Shared,
    task: &Task,
    ctx: &Map<String, Json>,
) -> Result<Option<Map<String, Json>>, ModuleError> {
    if !cond_ok(sh, &task.when, ctx).map_err(ModuleError::msg)? {
        return Ok(None);
    }
    let rendered =
        sh.plan
            .templates
            .render_args(&task.args.to_json(), ctx, task.module.shell_args());
    match rendered {
        Ok(Json::Object(m)) => Ok(Some(m)),
        Ok(_) => Ok(Some(Map::new())),
        Err(e) => Err(ModuleError::msg(format!(
            "in arguments of `{}` ({}:{}:{}): {e}",
            task.module.name(),
            task.args.src.path.display(),
            task.module_key.pos.line,
            task.module_key.pos.col
        ))),
    }
}

/// A task's loop items rendered in `ctx` (`None`: the task has no loop).
pub(super) fn loop_items(
    sh: &Shared,
    task: &Task,
    ctx: &Map<String, Json>,
) -> Result<Option<Vec<Json>>, String> {
    match &task.loop_ {
        None => Ok(None),
        Some(l) => match sh.plan.templates.render_value(&l.to_json(), ctx) {
            Ok(Json::Array(a)) => Ok(Some(a)),
            Ok(other) => Err(format!("`loop` must give a list, got {other}")),
            Err(e) => Err(format!("in `loop`: {e}")),
        },
    }
}

/// What a task's module sees of it before anything is sent (`sudo`: the task becomes another
/// user).
pub(super) fn view<'a>(
    sh: &'a Shared,
    task: &Task,
    sudo: bool,
    ctx: &'a Map<String, Json>,
) -> View<'a> {
    View {
        check: task.check_mode.unwrap_or(sh.opts.check),
        diff: sh.opts.diff,
        escalate: sudo,
        vars: ctx,
        templates: &sh.plan.templates,
        search: &sh.plan.search,
        secrets: &sh.plan.secrets,
    }
}

/// What one loop item sees: like Ansible, what earlier items set (`set_fact` accumulating a
/// list over a loop is the common idiom); `-e` still wins.
pub(super) fn item_context(
    sh: &Shared,
    h: &HostRun,
    task: &Task,
    ctx: &Map<String, Json>,
    item: &Json,
) -> Map<String, Json> {
    let mut c = ctx.clone();
    c.extend(h.registered.clone());
    c.extend(sh.plan.extra.clone());
    c.insert(task.loop_var.clone(), item.clone());
    c
}

pub(super) async fn run_item(
    sh: &Shared,
    h: &mut HostRun,
    task: &Task,
    sudo: bool,
    ctx: &Map<String, Json>,
    last_item: bool,
) -> ItemResult {
    let mut r = ItemResult {
        data: Map::new(),
        changed: false,
        skipped: false,
        failed: None,
        msg: None,
        diffs: Vec::new(),
        cmds: Vec::new(),
    };
    let args = match task_args(sh, task, ctx) {
        Ok(Some(a)) => a,
        Ok(None) => {
            r.skipped = true;
            r.msg = Some("skipped: condition false".into());
            r.data.insert("skipped".into(), Json::Bool(true));
            return r;
        }
        Err(e) => {
            r.failed = Some(e);
            return r;
        }
    };
    let transport = if sudo {
        h.escalated.clone()
    } else {
        h.transport.clone()
    };
    let transport: Arc<dyn Transport> = match transport {
        Some(t) => t,
        None if task.module.local_only() => Arc::new(Local),
        None => {
            r.failed = Some(ModuleError::msg("no connection"));
            return r;
        }
    };
    let mut cx = Cx {
        view: view(sh, task, sudo, ctx),
        transport: &*transport,
        state: &mut h.state,
        probes: &mut h.probes,
        log: Vec::new(),
    };
    cx.probes.start_task(last_item);
    let res = crate::modules::run(task.module, &args, &mut cx).await;
    cx.probes.end_task();
    r.cmds = std::mem::take(&mut cx.log);
    match res {
        Ok(o) => {
            r.changed = o.changed;
            r.skipped = o.skipped;
            r.msg = o.msg.clone();
            r.diffs = o.diffs;
            r.data = o.data;
            if let Some(m) = &o.msg {
                r.data.insert("msg".into(), Json::String(m.clone()));
            }
            h.registered.extend(o.facts);
        }
        Err(e) => {
            r.data.insert("msg".into(), Json::String(e.msg.clone()));
            if let Some(s) = e.status {
                r.data.insert("rc".into(), Json::from(s));
            }
            r.data.insert(
                "stdout".into(),
                Json::String(e.stdout.trim_end().to_string()),
            );
            r.data.insert(
                "stderr".into(),
                Json::String(e.stderr.trim_end().to_string()),
            );
            r.failed = Some(e);
        }
    }
    judge(sh, task, ctx, &mut r);
    r
}

/// `changed_when` and `failed_when`, which see the result under the register name.
fn judge(sh: &Shared, task: &Task, ctx: &Map<String, Json>, r: &mut ItemResult) {
    if task.changed_when.is_none() && task.failed_when.is_none() {
        return;
    }
    let mut c2 = ctx.clone();
    let mut data = r.data.clone();
    data.insert("changed".into(), Json::Bool(r.changed));
    data.insert("failed".into(), Json::Bool(r.failed.is_some()));
    if let Some(reg) = &task.register {
        c2.insert(reg.clone(), Json::Object(data.clone()));
    }
    for (k, v) in &data {
        c2.entry(k.clone()).or_insert(v.clone());
    }
    if let Some(cw) = &task.changed_when {
        match cond_ok(sh, std::slice::from_ref(cw), &c2) {
            Ok(v) => r.changed = v,
            Err(e) => r.failed = Some(ModuleError::msg(e)),
        }
    }
    if let Some(fw) = &task.failed_when {
        match cond_ok(sh, std::slice::from_ref(fw), &c2) {
            Ok(true) => {
                if r.failed.is_none() {
                    r.failed = Some(ModuleError::msg(format!(
                        "failed_when condition is true: {}",
                        fw.as_scalar_str("").unwrap_or_default()
                    )))
                }
            }
            Ok(false) => {
                if r.failed.as_ref().is_some_and(|e| !e.unreachable) {
                    r.failed = None;
                }
            }
            Err(e) => r.failed = Some(ModuleError::msg(e)),
        }
    }
}
