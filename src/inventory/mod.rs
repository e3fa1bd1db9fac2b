//! The Ansible YAML inventory: groups (`all`, `children` nested to any depth), hosts, variables.
//!
//! It exists so an operator's existing Ansible inventory loads unchanged, and so the rest of the
//! engine (and the lab, which builds its VMs from it) gets hosts and merged variables from one
//! place. Variable precedence: `all` < parent group < child group < host (ties between groups of
//! the same depth: alphabetical by group name, as Ansible does). Every value keeps its location.

mod pattern;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::yaml::{self, Diag, Key, LoadError, Node, Source};

pub(crate) use pattern::PatternError;

/// Errors loading an inventory. Every variant names file:line:column.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{0}")]
    Invalid(Diag),
}

impl From<Diag> for InventoryError {
    fn from(d: Diag) -> Self {
        InventoryError::Invalid(d)
    }
}

#[derive(Debug)]
struct Group {
    name: String,
    /// How far below `all` (all = 0).
    depth: usize,
    vars: Vec<(Key, Node)>,
    /// Hosts listed directly under this group.
    hosts: Vec<String>,
    children: Vec<String>,
}

#[derive(Debug)]
struct Host {
    name: String,
    key: Key,
    vars: Vec<(Key, Node)>,
}

/// A loaded inventory.
#[derive(Debug)]
pub struct Inventory {
    path: PathBuf,
    src: Arc<Source>,
    hosts: Vec<Host>,
    groups: Vec<Group>,
}

const GROUP_KEYS: &str = "`hosts`, `vars` or `children`";

impl Inventory {
    /// Load and validate an inventory file.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = yaml::read_file(path)?;
        Inventory::from_text(path, text)
    }

    /// Load an inventory from its text (`path` names it in errors and anchors relative paths).
    pub(crate) fn from_text(path: &Path, text: String) -> Result<Inventory, InventoryError> {
        let root = yaml::parse(Source::new(path, text)).map_err(LoadError::Syntax)?;
        let src = root.src.clone();
        let mut inv = Inventory {
            path: path.to_path_buf(),
            src,
            hosts: Vec::new(),
            groups: Vec::new(),
        };
        let top = root.as_map("a mapping of groups, e.g. `all:`")?;
        if top.is_empty() {
            return Err(Diag::at(&root, "the inventory defines no groups")
                .expected("a mapping of groups, e.g. `all:`")
                .into());
        }
        inv.groups.push(Group {
            name: "all".into(),
            depth: 0,
            vars: Vec::new(),
            hosts: Vec::new(),
            children: Vec::new(),
        });
        for (k, v) in top {
            if k.name != "all" {
                inv.groups[0].children.push(k.name.clone());
            }
            let depth = if k.name == "all" { 0 } else { 1 };
            inv.load_group(k, v, depth)?;
        }
        inv.load_secrets()?;
        Ok(inv)
    }

    /// Names declared secret (`lvslab_secret_vars`), values read from their secret sources
    /// (`{secret_env: NAME}`, `{secret_file: PATH}`): see `crate::secret`.
    /// The values of secret variables are known from here on, so even an error found later
    /// (planning, a bad playbook) cannot print them.
    fn load_secrets(&mut self) -> Result<(), Diag> {
        for vars in self.groups.iter().map(|g| &g.vars) {
            crate::secret::declare_names(vars)?;
        }
        for vars in self.hosts.iter().map(|h| &h.vars) {
            crate::secret::declare_names(vars)?;
        }
        let groups = self.groups.iter_mut().map(|g| &mut g.vars);
        let hosts = self.hosts.iter_mut().map(|h| &mut h.vars);
        for vars in groups.chain(hosts) {
            crate::secret::resolve_sources(vars)?;
            crate::secret::add_named(vars)?;
        }
        Ok(())
    }

    fn group_index(&mut self, name: &str, depth: usize) -> usize {
        if let Some(i) = self.groups.iter().position(|g| g.name == name) {
            let g = &mut self.groups[i];
            g.depth = g.depth.max(depth);
            return i;
        }
        self.groups.push(Group {
            name: name.to_string(),
            depth,
            vars: Vec::new(),
            hosts: Vec::new(),
            children: Vec::new(),
        });
        self.groups.len() - 1
    }

    fn load_group(&mut self, key: &Key, node: &Node, depth: usize) -> Result<(), Diag> {
        if depth > 64 {
            return Err(Diag::at_key(key, &self.src, "groups nested too deeply"));
        }
        let gi = self.group_index(&key.name, depth);
        if self.hosts.iter().any(|h| h.name == key.name) {
            return Err(Diag::at_key(
                key,
                &self.src,
                format!("`{}` is already a host name", key.name),
            )
            .expected("distinct host and group names"));
        }
        for (k, v) in node.as_map(&format!("a mapping with {GROUP_KEYS}"))? {
            match k.name.as_str() {
                "vars" => {
                    let vars = v.as_map("a mapping of variables")?;
                    self.groups[gi].vars.extend(vars.iter().cloned());
                }
                "hosts" => {
                    for (hk, hv) in v.as_map("a mapping of host names")? {
                        let vars = hv
                            .as_map("a mapping of host variables (or nothing)")?
                            .to_vec();
                        if self.groups.iter().any(|g| g.name == hk.name) {
                            return Err(Diag::at_key(
                                hk,
                                &self.src,
                                format!("`{}` is already a group name", hk.name),
                            )
                            .expected("distinct host and group names"));
                        }
                        match self.hosts.iter_mut().find(|h| h.name == hk.name) {
                            Some(h) => h.vars.extend(vars),
                            None => self.hosts.push(Host {
                                name: hk.name.clone(),
                                key: hk.clone(),
                                vars,
                            }),
                        }
                        let g = &mut self.groups[gi];
                        if !g.hosts.contains(&hk.name) {
                            g.hosts.push(hk.name.clone());
                        }
                    }
                }
                "children" => {
                    for (ck, cv) in v.as_map("a mapping of child groups")? {
                        if ck.name == "all" {
                            return Err(Diag::at_key(
                                ck,
                                &self.src,
                                "`all` cannot be a child group",
                            )
                            .expected("a group name other than `all`"));
                        }
                        let gi = self.group_index(&key.name, depth);
                        if !self.groups[gi].children.contains(&ck.name) {
                            self.groups[gi].children.push(ck.name.clone());
                        }
                        self.load_group(ck, cv, depth + 1)?;
                    }
                }
                other => {
                    return Err(Diag::at_key(
                        k,
                        &self.src,
                        format!("unknown key `{other}` in group `{}`", key.name),
                    )
                    .expected(GROUP_KEYS.to_string()))
                }
            }
        }
        Ok(())
    }

    /// The inventory file this was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every host, in the order it first appears in the file.
    pub fn host_names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }

    /// Every group name (including `all`).
    pub fn group_names(&self) -> Vec<&str> {
        self.groups.iter().map(|g| g.name.as_str()).collect()
    }

    pub(crate) fn has_host(&self, name: &str) -> bool {
        self.hosts.iter().any(|h| h.name == name)
    }

    fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Hosts of a group and all its descendants, in file order. `None` if no such group.
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
    /// depth, ties alphabetical: the order their variables are merged in.
    pub(crate) fn groups_of(&self, host: &str) -> Vec<&str> {
        let mut gs: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| {
                self.group_hosts(&g.name)
                    .is_some_and(|hs| hs.contains(&host))
            })
            .collect();
        gs.sort_by(|a, b| a.depth.cmp(&b.depth).then(a.name.cmp(&b.name)));
        gs.into_iter().map(|g| g.name.as_str()).collect()
    }

    /// A host's variables with their locations, merged all < parent < child < host.
    pub(crate) fn host_var_nodes(&self, name: &str) -> Option<HashMap<String, &Node>> {
        let host = self.hosts.iter().find(|h| h.name == name)?;
        let mut out: HashMap<String, &Node> = HashMap::new();
        for g in self.groups_of(name) {
            if let Some(g) = self.group(g) {
                for (k, v) in &g.vars {
                    out.insert(k.name.clone(), v);
                }
            }
        }
        for (k, v) in &host.vars {
            out.insert(k.name.clone(), v);
        }
        Some(out)
    }

    /// A host's variables merged with precedence all < parent group < child group < host.
    pub fn host_vars(&self, name: &str) -> Option<Map<String, Json>> {
        let host = self.hosts.iter().find(|h| h.name == name)?;
        let mut out = Map::new();
        for g in self.groups_of(name) {
            if let Some(g) = self.group(g) {
                for (k, v) in &g.vars {
                    out.insert(k.name.clone(), v.to_json());
                }
            }
        }
        for (k, v) in &host.vars {
            out.insert(k.name.clone(), v.to_json());
        }
        Some(out)
    }

    /// Where a host is defined (for errors about the host as a whole).
    pub(crate) fn host_diag(&self, name: &str, msg: impl Into<String>) -> Option<Diag> {
        let h = self.hosts.iter().find(|h| h.name == name)?;
        Some(Diag::at_key(&h.key, &self.src, msg))
    }

    /// Resolve a host pattern (`all`, a host, a group, `a:b`, `a,b`, `!x`, `&g`, `web*`) to host
    /// names in inventory order.
    pub(crate) fn resolve(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        pattern::resolve(self, pattern)
    }
}

#[cfg(test)]
mod tests;
