//! Playbooks: a list of plays (`name`, `hosts`, `vars`, `tasks`, `handlers`), each task one
//! module plus Ansible's task keywords. Parsed from the located YAML tree so every mistake is
//! reported at file:line:column with what was expected; module arguments are checked against
//! each module's declared arguments here, before anything runs.

pub(crate) mod escalation;
pub(crate) mod tags;
mod unsupported;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::modules::{self, Module};
use crate::yaml::{self, Diag, Key, LoadError, Node, Source, Value};

/// Errors loading a playbook.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{0}")]
    Invalid(#[from] Diag),
}

/// A loaded playbook.
#[derive(Debug)]
pub(crate) struct Playbook {
    pub(crate) path: PathBuf,
    pub(crate) plays: Vec<Play>,
}

#[derive(Debug)]
pub(crate) struct Play {
    pub(crate) name: String,
    /// The `hosts:` value (a pattern), kept as a node for error locations.
    pub(crate) hosts: Node,
    pub(crate) vars: Vec<(Key, Node)>,
    pub(crate) tasks: Vec<Task>,
    pub(crate) handlers: Vec<Task>,
    pub(crate) gather_facts: bool,
    /// The fact subsets this play needs (`gather_subset`, default all; see `facts::SUBSETS`).
    /// A host gathers the union of its plays' subsets, once per run.
    pub(crate) gather_subset: Vec<String>,
    pub(crate) sudo: bool,
    /// `become_user`, `become_method`.
    pub(crate) escalation: escalation::BecomeKeywords,
    /// A failure on any host of this play stops every host (preflight plays: nothing may
    /// change anywhere when one node cannot carry the configuration).
    pub(crate) any_errors_fatal: bool,
    /// lvslab's extension (not Ansible's): the play starts as soon as the earlier plays that
    /// share a host with it are done, instead of after every earlier play. Independent host
    /// groups (real servers and directors) then work at the same time. A play without it is a
    /// barrier both ways.
    pub(crate) overlap: bool,
    /// Tags every task of the play inherits (`--tags`, `--skip-tags`).
    pub(crate) tags: Vec<String>,
}

impl Play {
    /// A play on `hosts` with every keyword at its default (facts gathered, no become).
    pub(crate) fn new(name: String, hosts: Node) -> Play {
        Play {
            name,
            hosts,
            vars: Vec::new(),
            tasks: Vec::new(),
            handlers: Vec::new(),
            gather_facts: true,
            gather_subset: crate::facts::all_subsets(),
            sudo: false,
            escalation: Default::default(),
            any_errors_fatal: false,
            overlap: false,
            tags: Vec::new(),
        }
    }
}

/// One task: a module and its (untemplated) arguments, plus keywords.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) name: String,
    pub(crate) module: &'static dyn Module,
    /// Where the module name was written.
    pub(crate) module_key: Key,
    /// The arguments as a mapping node (free-form `command: x` becomes `{cmd: x}`).
    pub(crate) args: Node,
    pub(crate) when: Vec<Node>,
    pub(crate) notify: Vec<String>,
    /// Where `notify` was written (to report a handler that does not exist).
    pub(crate) notify_node: Option<Node>,
    /// Names this handler answers to (`name` and `listen`).
    pub(crate) listen: Vec<String>,
    pub(crate) register: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) loop_: Option<Node>,
    /// `loop_control: {loop_var: NAME}` (default `item`).
    pub(crate) loop_var: String,
    pub(crate) ignore_errors: bool,
    pub(crate) changed_when: Option<Node>,
    pub(crate) failed_when: Option<Node>,
    pub(crate) sudo: Option<bool>,
    /// `become_user`, `become_method` (over the play's).
    pub(crate) escalation: escalation::BecomeKeywords,
    pub(crate) no_log: bool,
    pub(crate) vars: Vec<(Key, Node)>,
    /// `check_mode: false` runs the task for real even under `--check` (read-only probes);
    /// `true` always runs it in check mode.
    pub(crate) check_mode: Option<bool>,
}

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "tasks",
    "handlers",
    "gather_facts",
    "gather_subset",
    "become",
    "become_user",
    "become_method",
    "any_errors_fatal",
    "overlap",
    "tags",
];
const TASK_KEYS: &[&str] = &[
    "name",
    "when",
    "notify",
    "register",
    "tags",
    "loop",
    "with_items",
    "loop_control",
    "ignore_errors",
    "changed_when",
    "failed_when",
    "become",
    "become_user",
    "become_method",
    "no_log",
    "check_mode",
    "listen",
    "vars",
];

fn one_of(xs: &[&str]) -> String {
    let v: Vec<String> = xs.iter().map(|x| format!("`{x}`")).collect();
    format!("one of {}", v.join(", "))
}

/// A string, or a list of strings (`notify: x` or `notify: [x, y]`).
fn str_or_list(n: &Node, what: &str) -> Result<Vec<String>, Diag> {
    match &n.v {
        Value::Seq(items) => items
            .iter()
            .map(|i| i.as_scalar_str(what))
            .collect::<Result<_, _>>(),
        Value::Null => Ok(Vec::new()),
        _ => Ok(vec![n.as_scalar_str(what)?]),
    }
}

/// A condition, or a list of conditions all of which must hold.
fn conditions(n: &Node) -> Result<Vec<Node>, Diag> {
    const WHAT: &str = "a condition (an expression string) or a list of them";
    match &n.v {
        Value::Seq(items) => {
            for i in items {
                i.as_scalar_str(WHAT)?;
            }
            Ok(items.clone())
        }
        Value::Str(_) | Value::Bool(_) => Ok(vec![n.clone()]),
        _ => Err(n.type_error(WHAT)),
    }
}

impl Playbook {
    pub(crate) fn load(path: &Path) -> Result<Playbook, PlaybookError> {
        let text = yaml::read_file(path)?;
        Playbook::from_text(path, text)
    }

    /// Load a playbook from its text (`path` names it in errors).
    pub(crate) fn from_text(path: &Path, text: String) -> Result<Playbook, PlaybookError> {
        let root = yaml::parse(yaml::Source::new(path, text)).map_err(LoadError::Syntax)?;
        let plays_n = root.as_seq("a list of plays")?;
        if matches!(root.v, Value::Null) {
            return Err(Diag::at(&root, "the playbook is empty")
                .expected("a list of plays")
                .into());
        }
        let mut plays = Vec::new();
        for p in plays_n {
            plays.push(parse_play(p)?);
        }
        Ok(Playbook {
            path: path.to_path_buf(),
            plays,
        })
    }
}

fn parse_play(n: &Node) -> Result<Play, Diag> {
    let m = n.as_map("a play (a mapping with `hosts` and `tasks`)")?;
    if !matches!(n.v, Value::Map(_)) {
        return Err(n.type_error("a play (a mapping with `hosts` and `tasks`)"));
    }
    let mut play = Play::new(String::new(), n.clone());
    let mut has_hosts = false;
    for (k, v) in m {
        match k.name.as_str() {
            "name" => play.name = v.as_scalar_str("a play name (a string)")?,
            "hosts" => {
                v.as_scalar_str("a host pattern (a string)")?;
                play.hosts = v.clone();
                has_hosts = true;
            }
            "vars" => play.vars = v.as_map("a mapping of variables")?.to_vec(),
            "tasks" => {
                for t in v.as_seq("a list of tasks")? {
                    play.tasks.push(parse_task(t)?);
                }
            }
            "handlers" => {
                for t in v.as_seq("a list of handlers")? {
                    play.handlers.push(parse_task(t)?);
                }
            }
            "gather_facts" => play.gather_facts = v.as_bool("true or false")?,
            "gather_subset" => play.gather_subset = gather_subset(v)?,
            "become" => play.sudo = v.as_bool("true or false")?,
            "become_user" | "become_method" => {
                play.escalation.take(&k.name, v)?;
            }
            "any_errors_fatal" => play.any_errors_fatal = v.as_bool("true or false")?,
            "overlap" => play.overlap = v.as_bool("true or false")?,
            "tags" => play.tags = str_or_list(v, "a tag or a list of tags")?,
            other => {
                if let Some(d) = unsupported::play_keyword(k, &n.src) {
                    return Err(d);
                }
                return Err(
                    Diag::at_key(k, &n.src, format!("unknown play keyword `{other}`"))
                        .expected(one_of(PLAY_KEYS)),
                );
            }
        }
    }
    if !has_hosts {
        let d = match m.first() {
            Some((k, _)) => Diag::at_key(k, &n.src, "play has no `hosts`"),
            None => Diag::at(n, "play has no `hosts`"),
        };
        return Err(d.expected("`hosts: PATTERN`"));
    }
    if play.name.is_empty() {
        play.name = play.hosts.as_scalar_str("")?;
    }
    for t in play.tasks.iter().chain(&play.handlers) {
        for name in &t.notify {
            if !play.handlers.iter().any(|h| h.listen.contains(name)) {
                let at = t.notify_node.as_ref().unwrap_or(&t.args);
                let known: Vec<String> = play
                    .handlers
                    .iter()
                    .map(|h| format!("`{}`", h.name))
                    .collect();
                return Err(
                    Diag::at(at, format!("no handler named `{name}` in this play")).expected(
                        if known.is_empty() {
                            "a handler defined under `handlers:` of the same play".to_string()
                        } else {
                            format!("one of {}", known.join(", "))
                        },
                    ),
                );
            }
        }
    }
    Ok(play)
}

/// `gather_subset: [network, ipvs]` (or `"network,ipvs"`, or `"!web"`).
fn gather_subset(v: &Node) -> Result<Vec<String>, Diag> {
    let names: Vec<String> = crate::facts::SUBSETS
        .iter()
        .map(|x| format!("`{x}`"))
        .collect();
    let expected = format!(
        "a list of fact subsets (`all`, {}), each may be negated as `!name`",
        names.join(", ")
    );
    let items: Vec<String> = match &v.v {
        Value::Seq(items) => items
            .iter()
            .map(|i| i.as_scalar_str(&expected))
            .collect::<Result<_, _>>()?,
        _ => v
            .as_scalar_str(&expected)?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    crate::facts::subsets_of(&items).map_err(|bad| {
        // At the list item that names it, when it is one.
        let at = match &v.v {
            Value::Seq(nodes) => nodes
                .iter()
                .find(|n| n.as_scalar_str("").ok().as_deref() == Some(bad.as_str()))
                .unwrap_or(v),
            _ => v,
        };
        Diag::at(at, format!("unknown fact subset `{bad}`")).expected(expected.clone())
    })
}

fn parse_task(n: &Node) -> Result<Task, Diag> {
    const WHAT: &str = "a task (a mapping with a module, e.g. `command: ...`)";
    if !matches!(n.v, Value::Map(_)) {
        return Err(n.type_error(WHAT));
    }
    let m = n.as_map(WHAT)?;
    let mut module: Option<(&Key, &Node, &'static dyn Module)> = None;
    let mut t = blank_task(n)?;
    for (k, v) in m {
        match k.name.as_str() {
            "name" => t.name = v.as_scalar_str("a task name (a string)")?,
            "when" => t.when = conditions(v)?,
            "notify" => {
                t.notify = str_or_list(v, "a handler name or a list of them")?;
                t.notify_node = Some(v.clone());
            }
            "listen" => t.listen = str_or_list(v, "a topic name or a list of them")?,
            "register" => t.register = Some(variable_name(v)?),
            "tags" => t.tags = str_or_list(v, "a tag or a list of tags")?,
            "loop" | "with_items" => {
                if !matches!(v.v, Value::Seq(_) | Value::Str(_)) {
                    return Err(v.type_error("a list, or a `{{ }}` expression giving one"));
                }
                t.loop_ = Some(v.clone())
            }
            "loop_control" => {
                if let Some(name) = loop_var(v, &n.src)? {
                    t.loop_var = name;
                }
            }
            "ignore_errors" => t.ignore_errors = v.as_bool("true or false")?,
            "changed_when" => t.changed_when = Some(v.clone()),
            "failed_when" => t.failed_when = Some(v.clone()),
            "become" => t.sudo = Some(v.as_bool("true or false")?),
            "become_user" | "become_method" => {
                t.escalation.take(&k.name, v)?;
            }
            "no_log" => t.no_log = v.as_bool("true or false")?,
            "check_mode" => t.check_mode = Some(v.as_bool("true or false")?),
            "vars" => t.vars = v.as_map("a mapping of variables")?.to_vec(),
            other => {
                let md = modules::lookup(other).ok_or_else(|| unknown_key(k, &n.src))?;
                if let Some((prev, _, _)) = module {
                    return Err(Diag::at_key(
                        k,
                        &n.src,
                        format!("task has two modules: `{}` and `{other}`", prev.name),
                    )
                    .expected("exactly one module per task"));
                }
                module = Some((k, v, md));
            }
        }
    }
    let Some((key, args, md)) = module else {
        return Err(Diag::at(n, "task has no module")
            .expected(format!("one of: {}", modules::names().join(", "))));
    };
    t.module = md;
    t.module_key = key.clone();
    t.args = modules::normalize_args(md, key, args)?;
    if t.name.is_empty() {
        t.name = key.name.clone();
    }
    if t.listen.is_empty() || !t.listen.contains(&t.name) {
        t.listen.push(t.name.clone());
    }
    Ok(t)
}

/// A task at `n` with every keyword at its default, before its keys are read.
fn blank_task(n: &Node) -> Result<Task, Diag> {
    Ok(Task {
        name: String::new(),
        module: modules::lookup("debug").ok_or_else(|| Diag::at(n, "internal: no debug module"))?,
        module_key: Key {
            name: String::new(),
            pos: n.pos,
        },
        args: n.clone(),
        when: Vec::new(),
        notify: Vec::new(),
        notify_node: None,
        listen: Vec::new(),
        register: None,
        tags: Vec::new(),
        loop_: None,
        loop_var: "item".into(),
        ignore_errors: false,
        changed_when: None,
        failed_when: None,
        sudo: None,
        escalation: Default::default(),
        no_log: false,
        vars: Vec::new(),
        check_mode: None,
    })
}

/// A variable name the task sets (`register`, `loop_var`).
fn variable_name(v: &Node) -> Result<String, Diag> {
    let name = v.as_str("a variable name")?;
    if !crate::names::is_identifier(name) {
        return Err(Diag::at(v, format!("invalid variable name `{name}`"))
            .expected("a variable name (letters, digits, `_`)"));
    }
    Ok(name.to_string())
}

/// The loop variable `loop_control` names, if any; its other keys change nothing here.
fn loop_var(v: &Node, src: &Arc<Source>) -> Result<Option<String>, Diag> {
    let mut var = None;
    for (lk, lv) in v.as_map("a mapping with `loop_var` and/or `label`")? {
        match lk.name.as_str() {
            "loop_var" => var = Some(variable_name(lv)?),
            "label" | "pause" | "index_var" => {}
            other => {
                return Err(
                    Diag::at_key(lk, src, format!("unknown loop_control key `{other}`"))
                        .expected("`loop_var` or `label`"),
                )
            }
        }
    }
    Ok(var)
}

/// A task key that is neither a keyword nor a module: what lvslab does not support, or the
/// keywords and modules it knows.
fn unknown_key(k: &Key, src: &Arc<Source>) -> Diag {
    if let Some(d) = unsupported::task_keyword(k, src) {
        return d;
    }
    Diag::at_key(k, src, format!("unknown module `{}`", k.name)).expected(format!(
        "a task keyword ({}) or a module ({})",
        TASK_KEYS.join(", "),
        modules::names().join(", ")
    ))
}

#[cfg(test)]
mod tests;
