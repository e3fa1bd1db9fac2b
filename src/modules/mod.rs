//! Modules: one file each, all behind the [`Module`] trait, dispatched once through
//! [`lookup`]. Each module declares its arguments (checked at plan time, before any host is
//! contacted), then at run time says what it *asks* the node ([`Module::queries`]: read-only
//! commands, nothing sent) apart from what it *does* with the answers ([`Module::apply`]: decide
//! what would change — which is check mode for free — and only then change it, in one more round
//! trip). The executor answers the queries, from a batch fetched ahead of the task where it can
//! (see [`probe`]), so a module never waits on a question it could have asked earlier. Modules
//! never print: they return an [`Outcome`] the executor turns into events.

mod assert;
mod command;
mod file;
mod files;
mod ip_address;
mod ipvs;
mod local;
mod operand;
mod package;
pub(crate) mod probe;
mod restore;
pub(crate) mod service;
mod state;
mod sysctl;
mod template;
pub(crate) mod undo;
mod wait_for;

#[cfg(test)]
mod docs;

use serde_json::{Map, Value as Json};

use crate::ssh::{BoxFuture, Output, Transport};
use crate::template::Templates;
use crate::yaml::{Diag, Key, Node, Value};

pub(crate) use command::split_words;
pub(crate) use ipvs::parse_saved;
pub(crate) use state::NodeState;

/// Where the node's state file lives unless `lvslab_state_file` says otherwise.
pub(crate) fn state_default() -> &'static str {
    state::DEFAULT_STATE_FILE
}

/// The type an argument must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Int,
    Bool,
    List,
    StrOrList,
    Any,
}

impl Ty {
    fn describe(self) -> &'static str {
        match self {
            Ty::Str => "a string",
            Ty::Int => "an integer",
            Ty::Bool => "true or false",
            Ty::List => "a list",
            Ty::StrOrList => "a string or a list of strings",
            Ty::Any => "any value",
        }
    }
}

/// One declared module argument.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arg {
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    pub(crate) required: bool,
    pub(crate) choices: &'static [&'static str],
}

pub(crate) const fn opt(name: &'static str, ty: Ty) -> Arg {
    Arg {
        name,
        ty,
        required: false,
        choices: &[],
    }
}
pub(crate) const fn req(name: &'static str, ty: Ty) -> Arg {
    Arg {
        name,
        ty,
        required: true,
        choices: &[],
    }
}
pub(crate) const fn choice(name: &'static str, choices: &'static [&'static str]) -> Arg {
    Arg {
        name,
        ty: Ty::Str,
        required: false,
        choices,
    }
}

/// What a module sees of its task before anything is sent: enough to say what it asks.
pub(crate) struct View<'a> {
    pub(crate) check: bool,
    pub(crate) diff: bool,
    /// The task becomes another user (`become`): its queries are answers about the node as
    /// that user sees it, and its commands run through the escalating transport.
    pub(crate) escalate: bool,
    /// Every variable of the host at this point (inventory, play, facts, registered, -e).
    pub(crate) vars: &'a Map<String, Json>,
    pub(crate) templates: &'a Templates,
    /// Directories searched for `template` and `copy` sources, in order.
    pub(crate) search: &'a crate::assets::Search,
    /// What the run knows to be secret (a file holding it is written private).
    pub(crate) secrets: &'a crate::secret::Redactor,
}

impl View<'_> {
    /// A fact (`ansible_facts.NAME`).
    pub(crate) fn fact(&self, name: &str) -> Option<&Json> {
        self.vars.get("ansible_facts")?.get(name)
    }

    /// `ask` as this task asks it (escalated or not).
    pub(crate) fn query(&self, ask: &Ask) -> probe::Query {
        probe::Query {
            keys: ask.keys.clone(),
            line: ask.line.clone(),
            escalate: self.escalate,
        }
    }
}

/// What a module works with while it applies: its [`View`], the connection, the node's state
/// file and the answers at hand.
pub(crate) struct Cx<'a> {
    pub(crate) view: View<'a>,
    pub(crate) transport: &'a dyn Transport,
    pub(crate) state: &'a mut NodeState,
    /// Answers to read-only queries, batched ahead of the task (see [`probe`]).
    pub(crate) probes: &'a mut probe::Probes,
    /// Commands run for this task, for `-v` / `-vv`.
    pub(crate) log: Vec<CmdLog>,
}

impl<'a> std::ops::Deref for Cx<'a> {
    type Target = View<'a>;
    fn deref(&self) -> &View<'a> {
        &self.view
    }
}

/// One read-only command a module asks the node, about the resources `keys` (`file:/etc/x`,
/// `sysctl:NAME`; none: what the module changes may reach anything, see [`probe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    pub(crate) keys: Vec<String>,
    pub(crate) line: String,
}

impl Ask {
    pub(crate) fn new(keys: &[String], line: impl Into<String>) -> Ask {
        Ask {
            keys: keys.to_vec(),
            line: line.into(),
        }
    }
}

/// The node's answer to one [`Ask`].
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    line: String,
    out: Output,
}

impl Answer {
    /// The answer as it came, whatever its exit status.
    pub(crate) fn out(self) -> Output {
        self.out
    }

    /// The answer, requiring exit status 0; else the failure naming `what`, the command and
    /// its output.
    pub(crate) fn ok(self, what: &str) -> Result<Output, ModuleError> {
        require_ok(what, &self.line, self.out)
    }
}

/// The answers to a module's queries, in the order it asked them.
#[derive(Debug, Default)]
pub(crate) struct Answers(std::collections::VecDeque<Answer>);

impl Answers {
    /// The answer to the next query.
    pub(crate) fn next(&mut self) -> Result<Answer, ModuleError> {
        self.0
            .pop_front()
            .ok_or_else(|| ModuleError::msg("internal: a module read an answer it did not ask"))
    }
}

/// One remote command and what it returned.
#[derive(Debug, Clone)]
pub(crate) struct CmdLog {
    pub(crate) cmd: String,
    pub(crate) status: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// A content change to show with `--diff`.
#[derive(Debug, Clone)]
pub(crate) struct Diff {
    pub(crate) label: String,
    pub(crate) before: String,
    pub(crate) after: String,
}

/// What a module did (or would do, in check mode).
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub(crate) changed: bool,
    pub(crate) skipped: bool,
    pub(crate) msg: Option<String>,
    pub(crate) diffs: Vec<Diff>,
    /// Returned to `register:` (rc, stdout, stderr, ...).
    pub(crate) data: Map<String, Json>,
    /// Variables set for the rest of the run (`set_fact`).
    pub(crate) facts: Map<String, Json>,
}

/// A module failure: what was run, how it ended, what it said.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModuleError {
    pub(crate) msg: String,
    pub(crate) cmd: Option<String>,
    pub(crate) status: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The connection itself failed (the host becomes unreachable).
    pub(crate) unreachable: bool,
}

impl ModuleError {
    pub(crate) fn msg(m: impl Into<String>) -> ModuleError {
        ModuleError {
            msg: m.into(),
            ..Default::default()
        }
    }
}

/// A module: its declared arguments and how it runs.
pub(crate) trait Module: Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    fn args(&self) -> &'static [Arg];
    /// Extra rules, checked at plan time on the literal arguments.
    fn validate(&self, _args: &Node, _key: &Key) -> Result<(), Diag> {
        Ok(())
    }
    /// Free-form string (`command: echo hi`) becomes this argument.
    fn free_form(&self) -> Option<&'static str> {
        None
    }
    /// Any argument name is accepted (`set_fact`).
    fn open_args(&self) -> bool {
        false
    }
    /// Arguments that are command lines: their `{{ }}` outputs are quoted as shell words when
    /// rendered, so no variable value can inject shell syntax.
    fn shell_args(&self) -> &'static [&'static str] {
        &[]
    }
    /// Runs on the controller only; no remote command.
    fn local_only(&self) -> bool {
        false
    }
    /// What the module asks the node before it decides anything, with these (rendered)
    /// arguments: read-only commands, in order. Nothing is sent here; an argument the module
    /// refuses fails the task before anything reaches the node.
    fn queries(
        &self,
        _args: &Map<String, Json>,
        _view: &View<'_>,
    ) -> Result<Vec<Ask>, ModuleError> {
        Ok(Vec::new())
    }
    /// Decide from the `answers` to [`Module::queries`] what would change, and (unless check
    /// mode) change it.
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>>;
}

static MODULES: &[&dyn Module] = &[
    &command::Command,
    &command::Shell,
    &files::Copy,
    &template::Template,
    &file::File,
    &package::Package,
    &service::Service,
    &sysctl::Sysctl,
    &ip_address::IpAddress,
    &ipvs::Ipvs,
    &wait_for::WaitFor,
    &assert::Assert,
    &local::SetFact,
    &local::Debug,
    &local::Fail,
    &restore::Restore,
];

/// Run module `m`: its queries answered, then applied.
pub(crate) async fn run(
    m: &dyn Module,
    args: &Map<String, Json>,
    cx: &mut Cx<'_>,
) -> Result<Outcome, ModuleError> {
    let asks = m.queries(args, &cx.view)?;
    let answers = cx.answers(&asks).await?;
    m.apply(args, answers, cx).await
}

/// The module called `name` (also accepts `ansible.builtin.` names).
pub(crate) fn lookup(name: &str) -> Option<&'static dyn Module> {
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    MODULES.iter().copied().find(|m| m.name() == name)
}

pub(crate) fn names() -> Vec<&'static str> {
    MODULES.iter().map(|m| m.name()).collect()
}

fn literal_matches(ty: Ty, n: &Node) -> bool {
    if let Value::Str(s) = &n.v {
        if crate::template::is_templated(s) {
            return true;
        }
    }
    match ty {
        Ty::Any => true,
        Ty::Str => matches!(
            n.v,
            Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
        ),
        Ty::Int => match &n.v {
            Value::Int(_) => true,
            Value::Str(s) => s.trim().parse::<i64>().is_ok(),
            _ => false,
        },
        Ty::Bool => match &n.v {
            Value::Bool(_) => true,
            Value::Str(s) => matches!(
                s.to_ascii_lowercase().as_str(),
                "yes" | "no" | "true" | "false"
            ),
            _ => false,
        },
        Ty::List => matches!(n.v, Value::Seq(_)),
        Ty::StrOrList => matches!(n.v, Value::Seq(_) | Value::Str(_)),
    }
}

/// Ansible's `key=value key2=value2` short form.
fn kv_pairs(s: &str) -> Option<Vec<(String, String)>> {
    let words = command::split_words(s).ok()?;
    if words.is_empty() {
        return None;
    }
    words
        .into_iter()
        .map(|w| {
            let (k, v) = w.split_once('=')?;
            crate::names::is_identifier(k).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Turn the value under a module key into an argument mapping and check it against the
/// module's declared arguments: unknown names, missing required ones, literal types, choices.
pub(crate) fn normalize_args(m: &dyn Module, key: &Key, n: &Node) -> Result<Node, Diag> {
    let args = match (&n.v, m.free_form()) {
        (Value::Str(_), Some(ff)) => Node {
            v: Value::Map(vec![(
                Key {
                    name: ff.to_string(),
                    pos: n.pos,
                },
                n.clone(),
            )]),
            pos: n.pos,
            src: n.src.clone(),
        },
        (Value::Str(s), None) if kv_pairs(s).is_some() => Node {
            v: Value::Map(
                kv_pairs(s)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            Key {
                                name: k,
                                pos: n.pos,
                            },
                            Node {
                                v: Value::Str(v),
                                pos: n.pos,
                                src: n.src.clone(),
                            },
                        )
                    })
                    .collect(),
            ),
            pos: n.pos,
            src: n.src.clone(),
        },
        (Value::Map(_), _) | (Value::Null, _) => n.clone(),
        _ => {
            return Err(n.type_error(&format!(
                "a mapping of arguments for `{}`{}",
                m.name(),
                if m.free_form().is_some() {
                    " (or a command string)"
                } else {
                    ""
                }
            )))
        }
    };
    let entries: &[(Key, Node)] = match &args.v {
        Value::Map(e) => e,
        _ => &[],
    };
    let spec = m.args();
    for (k, v) in entries {
        if m.open_args() {
            continue;
        }
        let Some(a) = spec.iter().find(|a| a.name == k.name) else {
            let names: Vec<String> = spec.iter().map(|a| format!("`{}`", a.name)).collect();
            return Err(Diag::at_key(
                k,
                &n.src,
                format!("unknown argument `{}` for module `{}`", k.name, m.name()),
            )
            .expected(format!("one of {}", names.join(", "))));
        };
        if !literal_matches(a.ty, v) {
            return Err(v.type_error(&format!("{} for `{}`", a.ty.describe(), a.name)));
        }
        if !a.choices.is_empty() {
            if let Value::Str(s) = &v.v {
                if !crate::template::is_templated(s) && !a.choices.contains(&s.as_str()) {
                    let c: Vec<String> = a.choices.iter().map(|c| format!("`{c}`")).collect();
                    return Err(Diag::at(
                        v,
                        format!(
                            "invalid value `{s}` for `{}` of module `{}`",
                            a.name,
                            m.name()
                        ),
                    )
                    .expected(format!("one of {}", c.join(", "))));
                }
            }
        }
    }
    for a in spec.iter().filter(|a| a.required) {
        if !entries.iter().any(|(k, _)| k.name == a.name) {
            return Err(Diag::at_key(
                key,
                &n.src,
                format!(
                    "missing required argument `{}` for module `{}`",
                    a.name,
                    m.name()
                ),
            )
            .expected(format!("`{}:` ({})", a.name, a.ty.describe())));
        }
    }
    m.validate(&args, key)?;
    Ok(args)
}

/// Typed access to rendered arguments.
pub(crate) struct Args<'a>(pub(crate) &'a Map<String, Json>);

impl<'a> Args<'a> {
    pub(crate) fn str(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Json::Null => None,
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }
    pub(crate) fn req(&self, name: &str) -> Result<String, ModuleError> {
        self.str(name)
            .ok_or_else(|| ModuleError::msg(format!("missing required argument `{name}`")))
    }
    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, ModuleError> {
        match self.0.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(Json::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" => Ok(Some(true)),
                "no" | "false" | "off" | "0" => Ok(Some(false)),
                _ => Err(ModuleError::msg(format!(
                    "argument `{name}`: expected true or false, found `{s}`"
                ))),
            },
            Some(other) => Err(ModuleError::msg(format!(
                "argument `{name}`: expected true or false, found {other}"
            ))),
        }
    }
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, ModuleError> {
        match self.0.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ModuleError::msg(format!("argument `{name}`: expected an integer"))),
            Some(Json::String(s)) => s.trim().parse().map(Some).map_err(|_| {
                ModuleError::msg(format!(
                    "argument `{name}`: expected an integer, found `{s}`"
                ))
            }),
            Some(other) => Err(ModuleError::msg(format!(
                "argument `{name}`: expected an integer, found {other}"
            ))),
        }
    }
    /// A string or a list of strings.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            Some(Json::String(s)) => vec![s.clone()],
            Some(other) => vec![other.to_string()],
        }
    }
    /// `mode:` as an octal number: `0644`, `"0644"`, `644` all mean rw-r--r--.
    pub(crate) fn mode(&self) -> Result<Option<u32>, ModuleError> {
        let Some(s) = self.str("mode") else {
            return Ok(None);
        };
        parse_mode(&s).map(Some).ok_or_else(|| {
            ModuleError::msg(format!(
                "argument `mode`: expected an octal mode like `0644`, found `{s}`"
            ))
        })
    }
}

pub(crate) fn parse_mode(s: &str) -> Option<u32> {
    let t = s.trim().trim_start_matches("0o");
    if t.is_empty() || t.len() > 5 {
        return None;
    }
    u32::from_str_radix(t, 8).ok().filter(|m| *m <= 0o7777)
}

impl Cx<'_> {
    async fn send(&mut self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output, ModuleError> {
        let out = self.send_unlogged(cmd, cmd, stdin).await?;
        self.log_out(cmd, &out);
        Ok(out)
    }

    /// Send `script` (for the module's command `cmd`, which errors name).
    async fn send_unlogged(
        &mut self,
        cmd: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, ModuleError> {
        self.transport
            .exec(script, stdin)
            .await
            .map_err(|e| ModuleError {
                msg: e.0,
                cmd: Some(cmd.to_string()),
                unreachable: true,
                ..Default::default()
            })
    }

    fn log_out(&mut self, cmd: &str, out: &Output) {
        self.log.push(CmdLog {
            cmd: cmd.to_string(),
            status: out.status,
            stdout: out.stdout_str(),
            stderr: out.stderr_str(),
        });
    }

    /// Run a command line that may change the node, and log it.
    pub(crate) async fn exec(
        &mut self,
        cmd: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, ModuleError> {
        self.probes.mutated();
        // Only answers asked as this task asks (escalated or not) can share its round trip.
        let stale: Vec<probe::Query> = self
            .probes
            .stale()
            .into_iter()
            .filter(|q| q.escalate == self.escalate)
            .collect();
        if stale.is_empty() {
            return self.send(cmd, stdin).await;
        }
        // The answers this change makes stale are asked again in the same round trip.
        let token = probe::token();
        let script = probe::then_queries(cmd, &stale, &token);
        let out = self.send_unlogged(cmd, &script, stdin).await?;
        let own = match probe::split_then_queries(&out, &token, stale.len()) {
            Some((own, answers)) => {
                for (q, a) in stale.iter().zip(answers) {
                    self.probes.refresh(q, a);
                }
                own
            }
            None => out,
        };
        self.log_out(cmd, &own);
        Ok(own)
    }

    /// The answers to `asks`, in order: from the batch the executor ran ahead of the task
    /// where it holds them; those not answered yet go in one round trip.
    async fn answers(&mut self, asks: &[Ask]) -> Result<Answers, ModuleError> {
        let outs = match asks {
            [] => Vec::new(),
            [one] => vec![self.ask_one(one).await?],
            many => self.ask_each(many).await?,
        };
        Ok(Answers(
            asks.iter()
                .zip(outs)
                .map(|(a, out)| Answer {
                    line: a.line.clone(),
                    out,
                })
                .collect(),
        ))
    }

    /// One query: the cached answer, or the command itself.
    async fn ask_one(&mut self, ask: &Ask) -> Result<Output, ModuleError> {
        let q = self.view.query(ask);
        if let Some(out) = self.probes.answer(&ask.keys, &q.key()) {
            self.log_out(&ask.line, &out);
            return Ok(out);
        }
        self.send(&ask.line, None).await
    }

    /// Several queries: those not cached yet in one batch.
    async fn ask_each(&mut self, asks: &[Ask]) -> Result<Vec<Output>, ModuleError> {
        let qs: Vec<probe::Query> = asks.iter().map(|a| self.view.query(a)).collect();
        let mut missing = Vec::new();
        for q in &qs {
            if !self.probes.has(&q.key()) {
                missing.push(q.clone());
            }
        }
        if missing.len() == 1 {
            let out = self
                .send_unlogged(&missing[0].line, &missing[0].line, None)
                .await?;
            self.probes.store(&missing[0], out);
        } else if !missing.is_empty() {
            let token = probe::token();
            let script = probe::batch_script(&missing, &token);
            let out = self.send_unlogged(&script, &script, None).await?;
            let answers = probe::parse_batch(&out.stdout, &out.stderr, &token, missing.len())
                .ok_or_else(|| ModuleError {
                    msg: "the node's answer to a batch of queries was cut short".into(),
                    cmd: Some(script.clone()),
                    status: out.status,
                    stdout: out.stdout_str(),
                    stderr: out.stderr_str(),
                    unreachable: false,
                })?;
            for (q, a) in missing.iter().zip(answers) {
                self.probes.store(q, a);
            }
        }
        let mut outs = Vec::new();
        for (a, q) in asks.iter().zip(&qs) {
            let out = self.probes.answer(&a.keys, &q.key()).unwrap_or_default();
            self.log_out(&a.line, &out);
            outs.push(out);
        }
        Ok(outs)
    }

    /// Run and require exit status 0.
    pub(crate) async fn exec_ok(
        &mut self,
        what: &str,
        cmd: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, ModuleError> {
        let out = self.exec(cmd, stdin).await?;
        require_ok(what, cmd, out)
    }
}

/// `out` when it exited 0, else the failure naming `what`, the command and its output.
fn require_ok(what: &str, cmd: &str, out: Output) -> Result<Output, ModuleError> {
    if out.ok() {
        return Ok(out);
    }
    Err(ModuleError {
        msg: what.to_string(),
        cmd: Some(cmd.to_string()),
        status: out.status,
        stdout: out.stdout_str(),
        stderr: out.stderr_str(),
        unreachable: false,
    })
}

#[cfg(test)]
pub(crate) mod testutil;

/// `systemctl start|restart NAME`, asking systemd to look at its unit files again (once) only
/// when the unit does not load as it is on disk: a unit file new since systemd last looked is
/// normally found on start (systemd retries a unit it could not find once its unit directories
/// changed), so a playbook that just wrote a new unit need not pay a `daemon-reload` up front.
pub(crate) fn systemctl_start(verb: &str, name: &str) -> String {
    let start = crate::quote::argv(&["systemctl", verb, name]);
    format!("{start} 2>/dev/null || {{ systemctl daemon-reload && {start}; }}")
}

/// `systemctl enable|disable NAME` for a node that runs systemd. The SysV compatibility step
/// (`systemd-sysv-install` → `update-rc.d`, for packages that also ship an init script) only
/// maintains rc.d links that systemd never reads, yet costs seconds per call; the implicit
/// daemon reload is not needed for enablement symlinks. Both are skipped.
/// A service that only has an init script (no native unit) still needs the SysV step: then
/// the plain command runs.
pub(crate) fn systemctl_enable(enable: bool, name: &str) -> String {
    let verb = if enable { "enable" } else { "disable" };
    let mut cmd = format!(
        "SYSTEMCTL_SKIP_SYSV=1 {} 2>/dev/null || {}",
        crate::quote::argv(&["systemctl", "--no-reload", verb, name]),
        crate::quote::argv(&["systemctl", verb, name])
    );
    if !enable {
        // A unit whose file is gone is as disabled as it gets (a restore run twice).
        cmd.push_str(&format!(
            " || ! systemctl cat {} >/dev/null 2>&1",
            crate::quote::quote(name)
        ));
    }
    cmd
}
