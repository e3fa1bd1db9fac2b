//! Planning: everything that can be known before contacting a host is resolved and checked
//! here — hosts of each play (patterns, `--limit`), connection parameters (addresses, ports, key
//! files, known_hosts, the lab route), variables merged per host (inventory < play vars < `-e`),
//! every argument and condition template checked against the variables that will exist
//! (undefined names are errors now unless facts or registered results will define them), and
//! template files found and compiled. A plan that builds is safe to run; one that does not has
//! contacted nobody (exit 2).

mod extra;
pub(crate) mod listing;
pub(crate) mod login;
pub(crate) mod lvs;
mod vars;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::assets::{Search, Shipped};
use crate::inventory::{Inventory, InventoryError, PatternError};
use crate::modules;
use crate::playbook::tags::TagFilter;
use crate::playbook::{Play, Playbook, PlaybookError, Task};
use crate::ssh::SshParams;
use crate::template::{self, Templates};
use crate::yaml::{Diag, Node, Pos, Source, Value};

pub(crate) use extra::parse_extra;
pub(crate) use vars::{has_template, is_secret, resolve_templated};

/// Errors found while planning: all are invalid input (exit 2), and nothing was contacted.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Playbook(#[from] PlaybookError),
    #[error("{0}")]
    Invalid(#[from] Diag),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Lvs(#[from] lvs::LvsError),
    #[error(transparent)]
    Load(#[from] crate::yaml::LoadError),
}

/// How to reach a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Conn {
    Ssh(SshParams),
    Local,
}

impl Conn {
    /// Who logs in, for messages.
    pub(crate) fn login(&self) -> String {
        match self {
            Conn::Ssh(p) => p.user.clone().unwrap_or_else(|| "the ssh user".into()),
            Conn::Local => "the local user".into(),
        }
    }
}

/// One host's fixed inputs.
#[derive(Debug)]
pub(crate) struct HostPlan {
    pub(crate) conn: Conn,
    /// Inventory variables plus magic variables (`inventory_hostname`, `groups`, ...).
    pub(crate) vars: Map<String, Json>,
    pub(crate) state_file: String,
    /// Whom tasks that `become` run as, and how.
    pub(crate) escalation: crate::ssh::Become,
}

/// One play with its hosts resolved.
#[derive(Debug)]
pub(crate) struct PlannedPlay {
    pub(crate) index: usize,
    pub(crate) hosts: Vec<String>,
}

/// What to run, validated.
pub(crate) struct Plan {
    pub(crate) playbook: Playbook,
    pub(crate) plays: Vec<PlannedPlay>,
    pub(crate) hosts: BTreeMap<String, HostPlan>,
    /// Host names in inventory order (for reports).
    pub(crate) order: Vec<String>,
    pub(crate) extra: Map<String, Json>,
    pub(crate) search: Search,
    pub(crate) templates: Templates,
    /// Every host's inventory variables (templates see them as `hostvars`, shared).
    pub(crate) hostvars: Json,
    /// Things that work, but not as the operator may think (printed before the run).
    pub(crate) warnings: Vec<lvs::Warning>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("plays", &self.plays)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Plan {
    pub(crate) fn play(&self, p: &PlannedPlay) -> &Play {
        &self.playbook.plays[p.index]
    }

    /// `--accept-new-host-keys`: hosts not yet in known_hosts get their key recorded; a
    /// changed key is still refused.
    pub(crate) fn accept_new_host_keys(&mut self) {
        for h in self.hosts.values_mut() {
            if let Conn::Ssh(p) = &mut h.conn {
                p.accept_new_host_keys = true;
            }
        }
    }

    /// The passwords asked with `-k` (login) and `-K` (become), for the hosts whose variables
    /// name none.
    fn default_passwords(
        &mut self,
        login: Option<&crate::secret::Secret>,
        escalation: Option<&crate::secret::Secret>,
    ) {
        for h in self.hosts.values_mut() {
            if let (Conn::Ssh(p), Some(pw)) = (&mut h.conn, login) {
                p.password.get_or_insert_with(|| pw.clone());
            }
            if let Some(pw) = escalation {
                h.escalation.password.get_or_insert_with(|| pw.clone());
            }
        }
    }
}

/// What the command line asked for.
pub(crate) struct Request<'a> {
    /// Loaded once by the command, which also found the lab route from it.
    pub(crate) inventory: &'a Inventory,
    /// How to reach the hosts when the inventory's embedded lab is up (found by the command:
    /// planning never looks at the machine).
    pub(crate) route: Option<&'a crate::lab::SshRoute>,
    /// `None`: gather facts only (`ping`).
    pub(crate) playbook: Option<PlaybookSource<'a>>,
    pub(crate) limit: Option<&'a str>,
    pub(crate) extra_vars: &'a [String],
    pub(crate) check: bool,
    /// Check the LVS vocabulary of an inventory with `directors` and `realservers` (`setup`,
    /// `verify`; not `run`, whose playbook may be about anything).
    pub(crate) lvs: bool,
    /// Which tasks run (`--tags`, `--skip-tags`).
    pub(crate) tags: TagFilter,
}

/// The playbook a run loads: a user's file (`run PLAYBOOK`), or one lvslab ships (`setup`,
/// `teardown`), whose templates fall back to the built-in ones.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PlaybookSource<'a> {
    File(&'a Path),
    Shipped(&'a Shipped),
}

impl PlaybookSource<'_> {
    /// The directory of the playbook file, whose `group_vars/` and `host_vars/` apply (as in
    /// Ansible); a built-in playbook has none.
    pub(crate) fn vars_dir(&self) -> Option<PathBuf> {
        let file = match self {
            PlaybookSource::File(p) => Some(*p),
            PlaybookSource::Shipped(s) => s.file.as_deref(),
        }?;
        Some(match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        })
    }
}

/// Print what loading the inventory skipped (stderr, before the run).
pub(crate) fn print_inventory_warnings(inv: &Inventory) {
    for w in inv.warnings() {
        eprintln!("warning: {w}");
    }
}

/// Load the playbook and say where its `template` and `copy` sources are looked up.
fn load_playbook(source: Option<PlaybookSource<'_>>) -> Result<(Playbook, Search), PlanError> {
    Ok(match source {
        Some(PlaybookSource::File(p)) => (Playbook::load(p)?, beside(p, false)),
        Some(PlaybookSource::Shipped(s)) => match (&s.file, s.text) {
            (Some(f), _) => (Playbook::load(f)?, s.search.clone()),
            (None, text) => (
                Playbook::from_text(&s.path, text.unwrap_or_default().to_string())?,
                s.search.clone(),
            ),
        },
        None => (ping_playbook(), Search::default()),
    })
}

/// A playbook's sources: the project directory holding the playbook's directory, then the
/// playbook's directory itself.
fn beside(playbook: &Path, builtin: bool) -> Search {
    let dir_of = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let pb_dir = dir_of(playbook);
    let root = dir_of(&pb_dir);
    Search::new(vec![root, pb_dir], builtin)
}

/// Print the plan's warnings (stderr; before any output of the run).
pub(crate) fn print_warnings(plan: &Plan) {
    for w in &plan.warnings {
        eprintln!("warning: {}", crate::secret::redact(&w.to_string()));
    }
}

fn pattern_diag(node: &Node, e: PatternError, what: &str) -> Diag {
    Diag::at(node, format!("{e} in {what}"))
        .expected("an inventory host or group (patterns: `a:b`, `!x`, `&g`, `*`)")
}

/// A play for `lvslab ping`: every (limited) host, facts only.
pub(crate) fn ping_playbook() -> Playbook {
    let src = Source::new(Path::new("<ping>"), "hosts: all\n".into());
    let node = Node {
        v: Value::Str("all".into()),
        pos: Pos { line: 1, col: 8 },
        src,
    };
    Playbook {
        path: PathBuf::from("<ping>"),
        plays: vec![Play {
            name: "ping".into(),
            hosts: node,
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
        }],
    }
}

/// Build and validate the plan.
pub(crate) fn build(req: &Request<'_>) -> Result<Plan, PlanError> {
    let inv = req.inventory;
    let extra = parse_extra(req.extra_vars)?;
    let (mut playbook, search) = load_playbook(req.playbook)?;
    for play in &mut playbook.plays {
        let inherited = play.tags.clone();
        play.tasks.retain(|t| {
            let all: Vec<String> = t.tags.iter().chain(&inherited).cloned().collect();
            req.tags.runs(&all)
        });
    }
    for play in &mut playbook.plays {
        crate::secret::declare_names(&play.vars)?;
        crate::secret::resolve_sources(&mut play.vars)?;
        for t in play.tasks.iter_mut().chain(play.handlers.iter_mut()) {
            crate::secret::resolve_sources(&mut t.vars)?;
        }
    }
    let limit: Option<Vec<String>> = match req.limit {
        None => None,
        Some(l) => {
            let hs = inv
                .resolve(l)
                .map_err(|e| PlanError::Usage(format!("{e} in --limit `{l}`")))?;
            if hs.is_empty() {
                return Err(PlanError::Usage(format!(
                    "--limit `{l}` matches no host of {}",
                    inv.path().display()
                )));
            }
            Some(hs)
        }
    };
    let mut plays = Vec::new();
    let mut targeted: BTreeSet<String> = BTreeSet::new();
    for (i, play) in playbook.plays.iter().enumerate() {
        let pat = play.hosts.as_scalar_str("a host pattern")?;
        let mut hs = inv
            .resolve(&pat)
            .map_err(|e| pattern_diag(&play.hosts, e, "`hosts`"))?;
        if let Some(l) = &limit {
            hs.retain(|h| l.contains(h));
        }
        targeted.extend(hs.iter().cloned());
        plays.push(PlannedPlay {
            index: i,
            hosts: hs,
        });
    }
    if targeted.is_empty() {
        let msg = match req.limit {
            Some(l) => format!("no play of the playbook targets a host matching --limit `{l}`"),
            None => "the playbook targets no host".to_string(),
        };
        return Err(PlanError::Usage(msg));
    }
    // Names an inventory variable may use: runtime ones and any play's vars (Ansible
    // templates inventory variables lazily, in the play's context).
    let mut runtime = runtime_names(&playbook);
    for play in &playbook.plays {
        runtime.extend(play.vars.iter().map(|(k, _)| k.name.clone()));
    }
    let mut templates = Templates::new();
    let mut hosts = BTreeMap::new();
    let groups = groups_var(inv);
    let hostvars = hostvars_var(inv, &templates, &groups, &extra);
    // An LVS run gives every host of the cluster the defaults of the variables it leaves out,
    // the same ones verify assumes; validation below still sees what the inventory says.
    let defaults: BTreeMap<String, Map<String, Json>> = match (req.lvs, hostvars.as_object()) {
        (true, Some(all)) => all
            .iter()
            .filter(|(h, _)| is_lvs_host(inv, h))
            .filter_map(|(h, v)| {
                let mut view = v.as_object()?.clone();
                view.extend(extra.clone());
                Some((h.clone(), crate::cluster::defaults::missing(&view)))
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let shared_hostvars = match &hostvars {
        Json::Object(all) if !defaults.is_empty() => Json::Object(
            all.iter()
                .map(|(h, v)| {
                    let mut v = v.clone();
                    if let (Json::Object(m), Some(d)) = (&mut v, defaults.get(h)) {
                        m.extend(d.clone());
                    }
                    (h.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    };
    templates.share("hostvars", &shared_hostvars);
    for name in &targeted {
        let nodes = inv.host_var_nodes(name).unwrap_or_default();
        let mut conn = connection(inv, name, &nodes, req.route)?;
        let mut vars = inv.host_vars(name).unwrap_or_default();
        vars.extend(defaults.get(name).cloned().unwrap_or_default());
        vars.insert("inventory_hostname".into(), Json::String(name.clone()));
        vars.insert(
            "inventory_hostname_short".into(),
            Json::String(name.split('.').next().unwrap_or(name).to_string()),
        );
        vars.insert("groups".into(), groups.clone());
        // As Ansible: every group of the host but `all`, sorted by name.
        let mut group_names: Vec<&str> = inv.groups_of(name);
        group_names.retain(|g| *g != "all");
        group_names.sort_unstable();
        vars.insert("group_names".into(), serde_json::json!(group_names));
        vars.insert("ansible_check_mode".into(), Json::Bool(req.check));
        // Inventory values may themselves be templates: resolve what is knowable now.
        let resolved = resolve_templated(&templates, &vars, &extra);
        if let Err((var, e)) = &resolved {
            let node = nodes.get(var.as_str()).copied();
            return Err(match node {
                Some(n) => Diag::at(n, format!("in variable `{var}`: {e}")),
                None => Diag::new(
                    &play_src(&playbook),
                    Pos { line: 1, col: 1 },
                    format!("in variable `{var}`: {e}"),
                ),
            }
            .expected("variables defined in the inventory, play vars or -e")
            .into());
        }
        let mut escalation = crate::ssh::Become::default();
        if let Ok(ctx) = &resolved {
            crate::secret::add_vars(ctx);
            escalation = login::become_spec(ctx, &nodes)?;
            if let Conn::Ssh(p) = &mut conn {
                p.password = login::login_password(ctx, &nodes)?;
                // `-e ansible_user=NAME` wins, as in Ansible.
                if let Some(Json::String(u)) = extra.get("ansible_user") {
                    p.user = Some(u.clone());
                }
            }
            let own: HashMap<String, &Node> = nodes
                .iter()
                .filter(|(k, _)| !extra.contains_key(k.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            check_var_names(&templates, ctx, &own, &runtime)?;
        }
        let state_file = vars
            .get("lvslab_state_file")
            .and_then(Json::as_str)
            .unwrap_or(modules::state_default())
            .to_string();
        hosts.insert(
            name.clone(),
            HostPlan {
                conn,
                vars,
                state_file,
                escalation,
            },
        );
    }
    for (k, v) in &extra {
        if let (true, Json::String(s)) = (is_secret(k), v) {
            crate::secret::check_length(k, s).map_err(|(msg, expected)| {
                PlanError::Usage(format!("-e {k}: {msg}; expected {expected}"))
            })?;
            crate::secret::add_value(s);
        }
    }
    for play in &playbook.plays {
        crate::secret::add_named(&play.vars)?;
        for t in play.tasks.iter().chain(&play.handlers) {
            crate::secret::add_named(&t.vars)?;
        }
    }
    let warnings = match (req.lvs, hostvars.as_object()) {
        (true, Some(hv)) => lvs::check(inv, hv, &extra)?,
        _ => Vec::new(),
    };
    let mut plan = Plan {
        playbook,
        plays,
        hosts,
        order: inv.host_names().into_iter().map(str::to_string).collect(),
        extra,
        search,
        templates,
        hostvars,
        warnings,
    };
    check_templates(&plan)?;
    let (login, escalation) = crate::secret::prompt::asked();
    plan.default_passwords(login, escalation);
    Ok(plan)
}

fn play_src(pb: &Playbook) -> Arc<Source> {
    pb.plays
        .first()
        .map(|p| p.hosts.src.clone())
        .unwrap_or_else(|| Source::new(&pb.path, String::new()))
}

fn groups_var(inv: &Inventory) -> Json {
    let mut m = Map::new();
    for g in inv.group_names() {
        let hs = inv.group_hosts(g).unwrap_or_default();
        m.insert(
            g.to_string(),
            Json::Array(
                hs.into_iter()
                    .map(|h| Json::String(h.to_string()))
                    .collect(),
            ),
        );
    }
    Json::Object(m)
}

/// Every host's inventory variables, each resolved in its own host's context (a templated
/// value of node02 must not be rendered with node01's variables).
/// A host of the LVS cluster: in `directors` or `realservers`.
fn is_lvs_host(inv: &Inventory, name: &str) -> bool {
    inv.groups_of(name)
        .iter()
        .any(|g| *g == "directors" || *g == "realservers")
}

fn hostvars_var(inv: &Inventory, t: &Templates, groups: &Json, extra: &Map<String, Json>) -> Json {
    let mut m = Map::new();
    for h in inv.host_names() {
        let mut v = inv.host_vars(h).unwrap_or_default();
        v.insert("inventory_hostname".into(), Json::String(h.to_string()));
        v.insert("groups".into(), groups.clone());
        let mut v = resolve_templated(t, &v, extra).unwrap_or(v);
        v.remove("groups");
        m.insert(h.to_string(), Json::Object(v));
    }
    Json::Object(m)
}

fn usable_address(a: &str) -> bool {
    !a.is_empty()
        && !a.starts_with('-')
        && a.len() <= 253
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'))
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

fn readable_file(n: &Node, what: &str) -> Result<PathBuf, Diag> {
    let s = n.as_scalar_str(&format!("a path to {what}"))?;
    let p = expand_home(&s);
    match std::fs::File::open(&p) {
        Ok(_) if p.is_file() => Ok(p),
        Ok(_) => Err(Diag::at(n, format!("{what} `{s}` is not a file"))
            .expected(format!("a readable {what}"))),
        Err(e) => Err(Diag::at(n, format!("cannot read {what} `{s}`: {e}"))
            .expected(format!("a readable {what}"))),
    }
}

fn connection(
    inv: &Inventory,
    name: &str,
    nodes: &HashMap<String, &Node>,
    route: Option<&crate::lab::SshRoute>,
) -> Result<Conn, Diag> {
    if let Some(c) = nodes.get("ansible_connection") {
        match c.as_scalar_str("`ssh` or `local`")?.as_str() {
            "local" => return Ok(Conn::Local),
            "ssh" | "smart" => {}
            other => {
                return Err(Diag::at(c, format!("unsupported connection `{other}`"))
                    .expected("`ssh` or `local`"))
            }
        }
    }
    let address = match nodes.get("ansible_host") {
        Some(n) => {
            let a = n.as_scalar_str("an address (IP or DNS name)")?;
            if !usable_address(&a) {
                return Err(
                    Diag::at(n, format!("host `{name}` has no usable address: `{a}`"))
                        .expected("`ansible_host: ADDRESS` (an IP address or DNS name)"),
                );
            }
            a
        }
        None => {
            if !usable_address(name) {
                let d = inv
                    .host_diag(name, format!("host `{name}` has no usable address"))
                    .unwrap_or_else(|| {
                        Diag::new(
                            &Source::new(inv.path(), String::new()),
                            Pos::default(),
                            "no address",
                        )
                    });
                return Err(d.expected("`ansible_host: ADDRESS` (an IP address or DNS name)"));
            }
            name.to_string()
        }
    };
    let port = match nodes.get("ansible_port") {
        Some(n) => {
            let s = n.as_scalar_str("a port number (1-65535)")?;
            match s.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    return Err(Diag::at(n, format!("invalid port `{s}`"))
                        .expected("a port number (1-65535)"))
                }
            }
        }
        None => None,
    };
    let user = match nodes.get("ansible_user") {
        Some(n) => Some(n.as_scalar_str("a user name")?),
        None => None,
    };
    let mut key = match nodes.get("ansible_ssh_private_key_file") {
        Some(n) => Some(readable_file(n, "private key file")?),
        None => None,
    };
    let mut known_hosts = match nodes.get("lvslab_known_hosts_file") {
        Some(n) => Some(readable_file(n, "known_hosts file")?),
        None => None,
    };
    let mut proxy_command = None;
    let mut options = Vec::new();
    for var in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(n) = nodes.get(var) {
            for (k, v) in ssh_options(n)? {
                if k.eq_ignore_ascii_case("ProxyCommand") {
                    proxy_command = Some(v);
                } else {
                    options.push((k, v));
                }
            }
        }
    }
    if let Some(r) = route {
        proxy_command = Some(r.proxy_command.clone());
        known_hosts = Some(r.known_hosts.clone());
        if key.is_none() {
            key = Some(r.identity.clone());
        }
    }
    Ok(Conn::Ssh(SshParams {
        address,
        port,
        user,
        key,
        known_hosts,
        proxy_command,
        options,
        accept_new_host_keys: false,
        password: None,
    }))
}

/// `-o Key=Value` options from `ansible_ssh_common_args`. Host key checking cannot be turned
/// off this way: keys are always checked.
fn ssh_options(n: &Node) -> Result<Vec<(String, String)>, Diag> {
    const EXPECT: &str = "ssh options as `-o Key=Value` (e.g. `-o ProxyCommand=...`)";
    let s = n.as_scalar_str(EXPECT)?;
    let words = crate::modules::split_words(&s)
        .map_err(|e| Diag::at(n, format!("cannot parse ssh arguments: {e}")).expected(EXPECT))?;
    let mut out = Vec::new();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let opt = match w.as_str() {
            "-o" => it.next().unwrap_or_default(),
            x if x.starts_with("-o") => x[2..].to_string(),
            x => {
                return Err(Diag::at(n, format!("unsupported ssh argument `{x}`")).expected(EXPECT))
            }
        };
        let (k, v) = opt
            .split_once('=')
            .or_else(|| opt.split_once(' '))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .ok_or_else(|| {
                Diag::at(n, format!("ssh option `{opt}` has no value")).expected(EXPECT)
            })?;
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) || v.contains('\n') {
            return Err(Diag::at(n, format!("invalid ssh option `{opt}`")).expected(EXPECT));
        }
        let lower = k.to_ascii_lowercase();
        if [
            "stricthostkeychecking",
            "userknownhostsfile",
            "globalknownhostsfile",
            "knownhostscommand",
        ]
        .contains(&lower.as_str())
        {
            return Err(Diag::at(
                n,
                format!("`{k}` cannot be set: host keys are always checked"),
            )
            .expected("`lvslab_known_hosts_file: PATH` to name the known_hosts file"));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Names that will exist at run time but not now: facts, registered results, `set_fact`
/// names, loop variables.
fn runtime_names(pb: &Playbook) -> HashSet<String> {
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
fn check_var_names(
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
fn check_templates(plan: &Plan) -> Result<(), Diag> {
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
pub(crate) fn static_context<'p>(
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

#[cfg(test)]
mod tests;
