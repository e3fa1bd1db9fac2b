//! The inventory, read as Ansible reads it: YAML and INI files, directories of them, and the
//! `group_vars/` and `host_vars/` beside the inventory and beside the playbook.
//!
//! It exists so an operator's existing Ansible inventory loads unchanged, and so the rest of the
//! engine (and the lab, which builds its VMs from it) gets hosts and merged variables from one
//! place. The model is Ansible's: groups with hosts, child groups and variables; every group
//! under `all`; hosts in no group in `ungrouped`. Variable precedence, lowest first: `all`'s
//! inventory variables, other groups' (by depth, then `ansible_group_priority`, then name),
//! `group_vars/all` beside the inventory then beside the playbook, the host's groups' files
//! in the same two places and order, the host's inventory variables, then `host_vars/` beside
//! the inventory and beside the playbook. Every value keeps the file, line and column it came
//! from, so an error in it points there.

mod build;
mod hostrange;
mod ini;
pub(crate) mod list;
mod literal;
mod pattern;
mod shlex;
mod sources;
mod vars_files;
mod yaml_format;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::yaml::{Diag, Key, LoadError, Node, Source};

pub(crate) use pattern::PatternError;

/// Errors loading an inventory. Every variant names file:line:column, or the path it could
/// not read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{0}")]
    Invalid(Diag),
    #[error("{0}")]
    Unsupported(String),
    /// An error that would show a secret known when it happened, as shown with it masked.
    #[error("{0}")]
    Masked(String),
}

impl InventoryError {
    /// This error, shown with what `secrets` knows masked (itself when that hides nothing).
    fn masked(self, secrets: &crate::secret::Redactor) -> InventoryError {
        let shown = self.to_string();
        let masked = secrets.redact(&shown);
        if masked == shown {
            return self;
        }
        InventoryError::Masked(masked)
    }
}

impl From<Diag> for InventoryError {
    fn from(d: Diag) -> Self {
        InventoryError::Invalid(d)
    }
}

/// Where something was declared: for errors about it as a whole.
#[derive(Debug, Clone)]
struct Origin {
    key: Key,
    src: Arc<Source>,
}

#[derive(Debug)]
struct Group {
    name: String,
    /// Longest path from `all` (all = 0).
    depth: usize,
    /// `ansible_group_priority`: among groups of one depth, the higher merges later.
    priority: i64,
    vars: Vec<(Key, Node)>,
    /// Hosts listed directly under this group, in the order they were added.
    hosts: Vec<String>,
    children: Vec<String>,
    origin: Option<Origin>,
}

#[derive(Debug)]
struct Host {
    name: String,
    origin: Origin,
    vars: Vec<(Key, Node)>,
}

/// Variables from `group_vars/` and `host_vars/` of one directory, by group or host name.
#[derive(Debug, Default)]
struct VarsDir {
    groups: HashMap<String, Vec<(Key, Node)>>,
    hosts: HashMap<String, Vec<(Key, Node)>>,
}

/// A loaded inventory.
#[derive(Debug)]
pub struct Inventory {
    path: PathBuf,
    hosts: Vec<Host>,
    groups: Vec<Group>,
    /// Beside the inventory, then beside the playbook.
    vars_dirs: Vec<VarsDir>,
    /// Files in an inventory directory that no format takes (skipped, as Ansible does).
    warnings: Vec<String>,
    /// Names declared secret and the values of secret variables (see `crate::secret`).
    secrets: crate::secret::Redactor,
}

impl Inventory {
    /// Load and validate an inventory (a file or a directory of files) with the `group_vars/`
    /// and `host_vars/` beside it.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        Inventory::load_with(path, None)
    }

    /// As [`Inventory::load`], plus the `group_vars/` and `host_vars/` of `playbook_dir`.
    pub fn load_with(
        path: &Path,
        playbook_dir: Option<&Path>,
    ) -> Result<Inventory, InventoryError> {
        Inventory::empty(path).loaded(|inv| sources::load(inv, path), playbook_dir)
    }

    /// Load a YAML inventory from its text (`path` names it in errors and anchors relative paths).
    pub(crate) fn from_text(path: &Path, text: String) -> Result<Inventory, InventoryError> {
        let src = Source::new(path, text);
        Inventory::empty(path).loaded(|inv| yaml_format::load(inv, src), None)
    }

    /// Load an INI inventory from its text (as [`Inventory::from_text`] does for YAML).
    pub(crate) fn from_ini_text(path: &Path, text: String) -> Result<Inventory, InventoryError> {
        let src = Source::new(path, text);
        Inventory::empty(path).loaded(|inv| Ok(ini::load(inv, src)?), None)
    }

    /// This inventory once `load` has read its sources and [`Inventory::finish`] the rest. An
    /// error leaves with the secrets known by then masked: its caller may keep no redactor.
    fn loaded(
        mut self,
        load: impl FnOnce(&mut Inventory) -> Result<(), InventoryError>,
        playbook_dir: Option<&Path>,
    ) -> Result<Inventory, InventoryError> {
        match load(&mut self).and_then(|()| self.finish(playbook_dir)) {
            Ok(()) => Ok(self),
            Err(e) => Err(e.masked(&self.secrets)),
        }
    }

    /// What the inventory holds that is secret: the names it declares secret and the values
    /// of its secret variables.
    pub(crate) fn secrets(&self) -> &crate::secret::Redactor {
        &self.secrets
    }

    fn empty(path: &Path) -> Inventory {
        let mut inv = Inventory {
            path: path.to_path_buf(),
            hosts: Vec::new(),
            groups: Vec::new(),
            vars_dirs: Vec::new(),
            warnings: Vec::new(),
            secrets: Default::default(),
        };
        inv.add_group("all", None);
        inv.add_group("ungrouped", None);
        inv.groups[0].children.push("ungrouped".into());
        inv
    }

    /// After every source: the structure settled (Ansible's reconcile), the variable files
    /// read, secrets resolved.
    fn finish(&mut self, playbook_dir: Option<&Path>) -> Result<(), InventoryError> {
        self.reconcile()?;
        let mut dirs = vec![sources::basedir(&self.path)];
        if let Some(p) = playbook_dir {
            dirs.push(p.to_path_buf());
        }
        let mut seen = Vec::new();
        for d in dirs {
            let here = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &d
            };
            let canon = std::fs::canonicalize(here).unwrap_or_else(|_| d.clone());
            if seen.contains(&canon) {
                continue;
            }
            seen.push(canon);
            let vd = vars_files::load(&d, &self.group_names(), &self.host_names())?;
            self.vars_dirs.push(vd);
        }
        self.load_secrets()?;
        Ok(())
    }

    /// Names declared secret (`lvslab_secret_vars`), values read from their secret sources
    /// (`{secret_env: NAME}`, `{secret_file: PATH}`): see `crate::secret`.
    /// The values of secret variables are known from here on, so even an error found later
    /// (planning, a bad playbook) cannot print them.
    fn load_secrets(&mut self) -> Result<(), Diag> {
        let files = self
            .vars_dirs
            .iter()
            .flat_map(|d| d.groups.values().chain(d.hosts.values()));
        for vars in self
            .groups
            .iter()
            .map(|g| &g.vars)
            .chain(self.hosts.iter().map(|h| &h.vars))
            .chain(files)
        {
            self.secrets.declare_names(vars)?;
        }
        let groups = self.groups.iter_mut().map(|g| &mut g.vars);
        let hosts = self.hosts.iter_mut().map(|h| &mut h.vars);
        let files = self
            .vars_dirs
            .iter_mut()
            .flat_map(|d| d.groups.values_mut().chain(d.hosts.values_mut()));
        for vars in groups.chain(hosts).chain(files) {
            crate::secret::resolve_sources(vars, &mut self.secrets)?;
            self.secrets.add_named(vars)?;
        }
        Ok(())
    }

    /// The inventory path this was loaded from (a file or a directory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Files of an inventory directory that were skipped, and why.
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Every host, in the order it first appears.
    pub fn host_names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }

    /// Every group name (including `all` and `ungrouped`).
    pub fn group_names(&self) -> Vec<&str> {
        self.groups.iter().map(|g| g.name.as_str()).collect()
    }

    pub(crate) fn has_host(&self, name: &str) -> bool {
        self.hosts.iter().any(|h| h.name == name)
    }

    fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Hosts of a group and all its descendants, in inventory order. `None` if no such group.
    pub fn group_hosts(&self, name: &str) -> Option<Vec<&str>> {
        self.group(name)?;
        if name == "all" {
            return Some(self.host_names());
        }
        let mut set = BTreeSet::new();
        let mut stack = vec![name.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(g) = stack.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(g) = self.group(&g) {
                set.extend(g.hosts.iter().cloned());
                stack.extend(g.children.iter().cloned());
            }
        }
        Some(
            self.host_names()
                .into_iter()
                .filter(|h| set.contains(*h))
                .collect(),
        )
    }

    /// The groups a host belongs to (directly or through a child group), `all` first, then by
    /// depth, `ansible_group_priority` and name: the order their variables are merged in.
    pub(crate) fn groups_of(&self, host: &str) -> Vec<&str> {
        let mut gs: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| {
                self.group_hosts(&g.name)
                    .is_some_and(|hs| hs.contains(&host))
            })
            .collect();
        gs.sort_by(|a, b| {
            (a.name != "all")
                .cmp(&(b.name != "all"))
                .then(a.depth.cmp(&b.depth))
                .then(a.priority.cmp(&b.priority))
                .then(a.name.cmp(&b.name))
        });
        gs.into_iter().map(|g| g.name.as_str()).collect()
    }

    /// A host's variable lists, lowest precedence first (see the module documentation).
    fn layers(&self, name: &str) -> Option<Vec<&[(Key, Node)]>> {
        let host = self.hosts.iter().find(|h| h.name == name)?;
        let groups = self.groups_of(name);
        let (all, rest) = groups.split_first()?;
        let mut out: Vec<&[(Key, Node)]> = Vec::new();
        let inv_vars = |g: &str| self.group(g).map(|g| g.vars.as_slice());
        out.extend(inv_vars(all));
        out.extend(rest.iter().filter_map(|g| inv_vars(g)));
        for d in &self.vars_dirs {
            out.extend(d.groups.get(*all).map(Vec::as_slice));
        }
        for d in &self.vars_dirs {
            out.extend(
                rest.iter()
                    .filter_map(|g| d.groups.get(*g).map(Vec::as_slice)),
            );
        }
        out.push(&host.vars);
        for d in &self.vars_dirs {
            out.extend(d.hosts.get(name).map(Vec::as_slice));
        }
        Some(out)
    }

    /// A host's variables with their locations, merged by precedence.
    pub(crate) fn host_var_nodes(&self, name: &str) -> Option<HashMap<String, &Node>> {
        let mut out: HashMap<String, &Node> = HashMap::new();
        for layer in self.layers(name)? {
            for (k, v) in layer {
                out.insert(k.name.clone(), v);
            }
        }
        Some(out)
    }

    /// A host's variables merged by precedence (see the module documentation).
    pub fn host_vars(&self, name: &str) -> Option<Map<String, Json>> {
        let mut out = Map::new();
        for layer in self.layers(name)? {
            for (k, v) in layer {
                out.insert(k.name.clone(), v.to_json());
            }
        }
        Some(out)
    }

    /// Where a host is defined (for errors about the host as a whole).
    pub(crate) fn host_diag(&self, name: &str, msg: impl Into<String>) -> Option<Diag> {
        let h = self.hosts.iter().find(|h| h.name == name)?;
        Some(Diag::at_key(&h.origin.key, &h.origin.src, msg))
    }

    /// Resolve a host pattern (`all`, a host, a group, `a:b`, `a,b`, `!x`, `&g`, `web*`) to host
    /// names in inventory order.
    pub(crate) fn resolve(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        pattern::resolve(self, pattern)
    }
}

#[cfg(test)]
mod tests;
