//! The operations every inventory format builds with, and what settles the structure once all
//! sources are read — the same steps as Ansible's `InventoryData`, so a host or group declared in
//! one file and extended in another ends up as Ansible has it.

use std::sync::Arc;

use super::{Group, Host, Inventory, Origin};
use crate::yaml::{Diag, Key, Node, Value};

impl Inventory {
    /// The group's index, created (empty) if new.
    pub(super) fn add_group(&mut self, name: &str, origin: Option<Origin>) -> usize {
        if let Some(i) = self.groups.iter().position(|g| g.name == name) {
            if self.groups[i].origin.is_none() {
                self.groups[i].origin = origin;
            }
            return i;
        }
        self.groups.push(Group {
            name: name.to_string(),
            depth: 0,
            priority: 1,
            vars: Vec::new(),
            hosts: Vec::new(),
            children: Vec::new(),
            origin,
        });
        self.groups.len() - 1
    }

    pub(super) fn has_group(&self, name: &str) -> bool {
        self.group(name).is_some()
    }

    /// Add a host (if new) and make it a member of `group`. A port given with the host entry
    /// (`db1:2222`) becomes its `ansible_port` when the host is first seen, as in Ansible.
    pub(super) fn add_host(&mut self, name: &str, group: &str, port: Option<u16>, origin: &Origin) {
        if !self.hosts.iter().any(|h| h.name == name) {
            let mut vars = Vec::new();
            if let Some(p) = port {
                let node = Node {
                    v: Value::Int(p.into()),
                    pos: origin.key.pos,
                    src: origin.src.clone(),
                };
                let key = Key {
                    name: "ansible_port".into(),
                    pos: origin.key.pos,
                };
                vars.push((key, node));
            }
            self.hosts.push(Host {
                name: name.to_string(),
                origin: origin.clone(),
                vars,
            });
        }
        let gi = self.add_group(group, None);
        let g = &mut self.groups[gi];
        if !g.hosts.iter().any(|h| h == name) {
            g.hosts.push(name.to_string());
        }
    }

    pub(super) fn set_host_var(&mut self, host: &str, key: Key, value: Node) {
        if let Some(h) = self.hosts.iter_mut().find(|h| h.name == host) {
            h.vars.push((key, value));
        }
    }

    /// Set a group variable; `ansible_group_priority` sets the group's merge priority instead.
    pub(super) fn set_group_var(&mut self, group: &str, key: Key, value: Node) -> Result<(), Diag> {
        let gi = self.add_group(group, None);
        if key.name == "ansible_group_priority" {
            let p = match &value.v {
                Value::Int(i) => Some(*i),
                Value::Str(s) => s.trim().parse().ok(),
                _ => None,
            };
            self.groups[gi].priority = p.ok_or_else(|| {
                value.type_error("an integer (`ansible_group_priority` orders groups of one depth)")
            })?;
            return Ok(());
        }
        self.groups[gi].vars.push((key, value));
        Ok(())
    }

    /// Make `child` a child group of `parent` (both must exist). Refuses loops.
    pub(super) fn add_child(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child {
            return Err(format!("group `{child}` cannot be a child of itself"));
        }
        if child == "all" {
            return Err("`all` cannot be a child group".into());
        }
        let pi = self.add_group(parent, None);
        if self.groups[pi].children.iter().any(|c| c == child) {
            return Ok(());
        }
        if self.descendants(child).iter().any(|d| d == parent) {
            return Err(format!(
                "making `{child}` a child of `{parent}` creates a loop of groups"
            ));
        }
        self.groups[pi].children.push(child.to_string());
        Ok(())
    }

    /// Every group below `name`.
    fn descendants(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut stack = vec![name.to_string()];
        while let Some(g) = stack.pop() {
            if let Some(g) = self.group(&g) {
                for c in &g.children {
                    if !out.contains(c) {
                        out.push(c.clone());
                        stack.push(c.clone());
                    }
                }
            }
        }
        out
    }

    fn has_parent(&self, name: &str) -> bool {
        self.groups
            .iter()
            .any(|g| g.children.iter().any(|c| c == name))
    }

    /// Ansible's reconcile: parentless groups go under `all`; a host in no group but `all`
    /// goes to `ungrouped`, one in another group leaves it; depths are set. lvslab also refuses
    /// a name used for both a host and a group (Ansible only warns), since host patterns
    /// could not tell them apart.
    pub(super) fn reconcile(&mut self) -> Result<(), Diag> {
        let orphans: Vec<String> = self
            .groups
            .iter()
            .filter(|g| g.name != "all" && !self.has_parent(&g.name))
            .map(|g| g.name.clone())
            .collect();
        for g in orphans {
            self.groups[0].children.push(g);
        }
        let ui = self.add_group("ungrouped", None);
        for hi in 0..self.hosts.len() {
            let name = self.hosts[hi].name.clone();
            let member_elsewhere = self
                .groups
                .iter()
                .any(|g| g.name != "all" && g.name != "ungrouped" && g.hosts.contains(&name));
            let ungrouped = &mut self.groups[ui];
            if member_elsewhere {
                ungrouped.hosts.retain(|h| *h != name);
            } else if !ungrouped.hosts.contains(&name) {
                ungrouped.hosts.push(name);
            }
        }
        self.set_depths();
        for h in &self.hosts {
            let Some(g) = self.group(&h.name) else {
                continue;
            };
            // Point at whichever came second in the file (the host, when in doubt).
            let (key, src, what) = match &g.origin {
                Some(o)
                    if Arc::ptr_eq(&o.src, &h.origin.src)
                        && (h.origin.key.pos.line, h.origin.key.pos.col)
                            < (o.key.pos.line, o.key.pos.col) =>
                {
                    (&o.key, &o.src, "host")
                }
                _ => (&h.origin.key, &h.origin.src, "group"),
            };
            return Err(
                Diag::at_key(key, src, format!("`{}` is already a {what} name", h.name))
                    .expected("distinct host and group names"),
            );
        }
        Ok(())
    }

    /// Longest path from `all`, as Ansible keeps `depth`.
    fn set_depths(&mut self) {
        let mut depth: std::collections::HashMap<String, usize> = Default::default();
        let mut frontier = vec![("all".to_string(), 0usize)];
        // Bounded: depths only grow, and are below the number of groups (no loops).
        while let Some((g, d)) = frontier.pop() {
            if depth.get(&g).is_some_and(|old| *old >= d) && g != "all" {
                continue;
            }
            depth.insert(g.clone(), d);
            if d > self.groups.len() {
                continue;
            }
            if let Some(gr) = self.group(&g) {
                for c in &gr.children {
                    frontier.push((c.clone(), d + 1));
                }
            }
        }
        for g in &mut self.groups {
            g.depth = depth.get(&g.name).copied().unwrap_or(1);
        }
    }
}
