//! The YAML inventory format: top-level groups, each with `hosts`, `vars` and `children`
//! (nested to any depth), host entries that may carry a port or a range (`node[01:04]:2222`).

use std::sync::Arc;

use super::{hostrange, Inventory, InventoryError, Origin};
use crate::yaml::{self, Diag, Key, LoadError, Node, Schema, Source, Value};

const GROUP_KEYS: &str = "`hosts`, `vars` or `children`";

/// Most levels of `children` (deeper is surely a mistake, and recursion must stay bounded).
const MAX_DEPTH: usize = 64;

/// Read one YAML inventory file into `inv`.
pub(super) fn load(inv: &mut Inventory, src: Arc<Source>) -> Result<(), InventoryError> {
    let root = yaml::parse_with(src.clone(), Schema::Ansible).map_err(LoadError::Syntax)?;
    load_tree(inv, &src, &root)
}

/// Add an already parsed YAML inventory to `inv`.
pub(super) fn load_tree(
    inv: &mut Inventory,
    src: &Arc<Source>,
    root: &Node,
) -> Result<(), InventoryError> {
    let top = root.as_map("a mapping of groups, e.g. `all:`")?;
    if top.is_empty() {
        return Err(Diag::at(root, "the inventory defines no groups")
            .expected("a mapping of groups, e.g. `all:`")
            .into());
    }
    if let Some((k, _)) = top.iter().find(|(k, _)| k.name == "plugin") {
        return Err(Diag::at_key(
            k,
            src,
            "inventory plugin configurations are not supported by lvslab",
        )
        .expected("a YAML or INI inventory listing the hosts (e.g. `ansible-inventory --list -y` writes one)")
        .into());
    }
    for (k, v) in top {
        load_group(inv, src, k, v, 0)?;
    }
    Ok(())
}

/// `hosts: web1` and `children: web` are short for a mapping with one empty entry.
fn entries(node: &Node, expected: &str) -> Result<Vec<(Key, Node)>, Diag> {
    if let Value::Str(s) = &node.v {
        let key = Key {
            name: s.clone(),
            pos: node.pos,
        };
        let empty = Node {
            v: Value::Null,
            pos: node.pos,
            src: node.src.clone(),
        };
        return Ok(vec![(key, empty)]);
    }
    Ok(node.as_map(expected)?.to_vec())
}

fn load_group(
    inv: &mut Inventory,
    src: &Arc<Source>,
    key: &Key,
    node: &Node,
    depth: usize,
) -> Result<(), Diag> {
    if depth > MAX_DEPTH {
        return Err(Diag::at_key(key, src, "groups nested too deeply"));
    }
    let origin = Origin {
        key: key.clone(),
        src: src.clone(),
    };
    inv.add_group(&key.name, Some(origin));
    for (k, v) in node.as_map(&format!("a mapping with {GROUP_KEYS}"))? {
        match k.name.as_str() {
            "vars" => {
                for (vk, vv) in v.as_map("a mapping of variables")? {
                    inv.set_group_var(&key.name, vk.clone(), vv.clone())?;
                }
            }
            "hosts" => {
                for (hk, hv) in entries(v, "a mapping of host names")? {
                    let vars = hv.as_map("a mapping of host variables (or nothing)")?;
                    let found = hostrange::expand(&hk.name).map_err(|e| {
                        Diag::at_key(&hk, src, e)
                            .expected("a host name, `name:port` or a range like `node[01:04]`")
                    })?;
                    let origin = Origin {
                        key: hk.clone(),
                        src: src.clone(),
                    };
                    for name in &found.names {
                        inv.add_host(name, &key.name, found.port, &origin);
                        for (vk, vv) in vars {
                            inv.set_host_var(name, vk.clone(), vv.clone());
                        }
                    }
                }
            }
            "children" => {
                for (ck, cv) in entries(v, "a mapping of child groups")? {
                    if ck.name == "all" {
                        return Err(Diag::at_key(&ck, src, "`all` cannot be a child group")
                            .expected("a group name other than `all`"));
                    }
                    load_group(inv, src, &ck, &cv, depth + 1)?;
                    inv.add_child(&key.name, &ck.name)
                        .map_err(|e| Diag::at_key(&ck, src, e).expected("groups without loops"))?;
                }
            }
            other => {
                return Err(Diag::at_key(
                    k,
                    src,
                    format!("unknown key `{other}` in group `{}`", key.name),
                )
                .expected(GROUP_KEYS.to_string()))
            }
        }
    }
    Ok(())
}
