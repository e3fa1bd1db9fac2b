//! Planning: everything that can be known before contacting a host is resolved and checked
//! here — hosts of each play (patterns, `--limit`), connection parameters (addresses, ports, key
//! files, known_hosts, the lab route), variables merged per host (inventory < play vars < `-e`),
//! every argument and condition template checked against the variables that will exist
//! (undefined names are errors now unless facts or registered results will define them), and
//! template files found and compiled. A plan that builds is safe to run; one that does not has
//! contacted nobody (exit 2).

mod check;
mod connection;
mod extra;
mod hosts;
pub(crate) mod listing;
mod load;
pub(crate) mod login;
pub(crate) mod lvs;
mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::assets::{Search, Shipped};
use crate::inventory::{Inventory, InventoryError};
use crate::playbook::tags::TagFilter;
use crate::playbook::{Play, Playbook, PlaybookError};
use crate::secret::{prompt::Asked, Redactor};
use crate::ssh::SshParams;
use crate::template::Templates;
use crate::yaml::Diag;

#[cfg(test)]
use check::static_context;
use check::{check_templates, runtime_names};
pub(crate) use extra::parse_extra;
use load::load_playbook;
pub(crate) use load::{print_inventory_warnings, print_warnings};
pub(crate) use vars::{has_template, resolve_templated};

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
    /// An error that would show a secret known when it happened, as shown with it masked.
    #[error("{0}")]
    Masked(String),
}

impl PlanError {
    /// This error, shown with what `secrets` knows masked (itself when that hides nothing).
    fn masked(self, secrets: &Redactor) -> PlanError {
        let shown = self.to_string();
        let masked = secrets.redact(&shown);
        if masked == shown {
            return self;
        }
        PlanError::Masked(masked)
    }
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
    /// What is secret in this run: every output of it is masked with this.
    pub(crate) secrets: Redactor,
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
    pub(crate) fn default_passwords(&mut self, asked: &Asked) {
        for h in self.hosts.values_mut() {
            if let (Conn::Ssh(p), Some(pw)) = (&mut h.conn, &asked.login) {
                p.password.get_or_insert_with(|| pw.clone());
            }
            if let Some(pw) = &asked.escalation {
                h.escalation.password.get_or_insert_with(|| pw.clone());
            }
        }
        self.secrets.extend(&asked.redactor());
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

/// Build and validate the plan. Its secrets start as the inventory's; an error leaves with
/// those known by then masked (its caller may keep no redactor).
pub(crate) fn build(req: &Request<'_>) -> Result<Plan, PlanError> {
    let mut secrets = req.inventory.secrets().clone();
    match build_with(req, &mut secrets) {
        Ok(plan) => Ok(Plan { secrets, ..plan }),
        Err(e) => Err(e.masked(&secrets)),
    }
}

/// [`build`], telling `secrets` of every secret it meets.
fn build_with(req: &Request<'_>, secrets: &mut Redactor) -> Result<Plan, PlanError> {
    let inv = req.inventory;
    let extra = parse_extra(req.extra_vars)?;
    let (mut playbook, search) = load_playbook(req.playbook)?;
    keep_tagged(&mut playbook, &req.tags);
    for play in &mut playbook.plays {
        secrets.declare_names(&play.vars)?;
        crate::secret::resolve_sources(&mut play.vars, secrets)?;
        for t in play.tasks.iter_mut().chain(play.handlers.iter_mut()) {
            crate::secret::resolve_sources(&mut t.vars, secrets)?;
        }
    }
    let (plays, targeted) = hosts::target(inv, &playbook, req.limit)?;
    // Names an inventory variable may use: runtime ones and any play's vars (Ansible
    // templates inventory variables lazily, in the play's context).
    let mut runtime = runtime_names(&playbook);
    for play in &playbook.plays {
        runtime.extend(play.vars.iter().map(|(k, _)| k.name.clone()));
    }
    let mut templates = Templates::new();
    let groups = hosts::groups_var(inv);
    let hostvars = hosts::hostvars_var(inv, &templates, &groups, &extra);
    // An LVS run gives every host of the cluster the defaults of the variables it leaves out,
    // the same ones verify assumes; validation below still sees what the inventory says.
    let defaults = match req.lvs {
        true => hosts::cluster_defaults(inv, &hostvars, &extra),
        false => BTreeMap::new(),
    };
    templates.share("hostvars", &hosts::with_defaults(&hostvars, &defaults));
    let common = hosts::Common {
        inv,
        route: req.route,
        check: req.check,
        templates: &templates,
        extra: &extra,
        groups: &groups,
        runtime: &runtime,
        playbook: &playbook,
    };
    let mut host_plans = BTreeMap::new();
    for name in &targeted {
        let hp = hosts::host_plan(&common, name, defaults.get(name), secrets)?;
        host_plans.insert(name.clone(), hp);
    }
    register_secrets(&extra, &playbook, secrets)?;
    let warnings = match (req.lvs, hostvars.as_object()) {
        (true, Some(hv)) => lvs::check(inv, hv, &extra, secrets)?,
        _ => Vec::new(),
    };
    let plan = Plan {
        playbook,
        plays,
        hosts: host_plans,
        order: inv.host_names().into_iter().map(str::to_string).collect(),
        extra,
        search,
        templates,
        hostvars,
        warnings,
        secrets: Redactor::default(),
    };
    check_templates(&plan)?;
    Ok(plan)
}

/// Keep the tasks `--tags` / `--skip-tags` select (a task has its play's tags too).
fn keep_tagged(playbook: &mut Playbook, tags: &TagFilter) {
    for play in &mut playbook.plays {
        let inherited = play.tags.clone();
        play.tasks.retain(|t| {
            let all: Vec<String> = t.tags.iter().chain(&inherited).cloned().collect();
            tags.runs(&all)
        });
    }
}

/// Remember the secret values of `-e` and of the plays' and tasks' variables, refusing one
/// too short to hide.
fn register_secrets(
    extra: &Map<String, Json>,
    playbook: &Playbook,
    secrets: &mut Redactor,
) -> Result<(), PlanError> {
    for (k, v) in extra {
        if let (true, Json::String(s)) = (secrets.is_secret_name(k), v) {
            crate::secret::check_length(k, s).map_err(|(msg, expected)| {
                PlanError::Usage(format!("-e {k}: {msg}; expected {expected}"))
            })?;
            secrets.add_value(s);
        }
    }
    for play in &playbook.plays {
        secrets.add_named(&play.vars)?;
        for t in play.tasks.iter().chain(&play.handlers) {
            secrets.add_named(&t.vars)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
