//! The resolved inventory in `ansible-inventory`'s JSON shape: `--list` gives every group with
//! its `hosts` and `children` (groups with neither are left out, as Ansible does) and each
//! host's merged variables under `_meta.hostvars`; `--host NAME` gives one host's variables.
//! Extra variables (`-e`) are merged over every host's, as `ansible-inventory -e` does.

use std::collections::HashSet;

use serde_json::{json, Map, Value as Json};

use super::Inventory;

/// A host's variables as `ansible-inventory --host` prints them; `None` for an unknown host.
pub(crate) fn host(inv: &Inventory, name: &str, extra: &Map<String, Json>) -> Option<Json> {
    let mut vars = inv.host_vars(name)?;
    for (k, v) in extra {
        vars.insert(k.clone(), v.clone());
    }
    let mut doc = Json::Object(vars);
    inv.secrets().redact_json(&mut doc);
    Some(doc)
}

/// The whole inventory as `ansible-inventory --list` prints it.
pub(crate) fn list(inv: &Inventory, extra: &Map<String, Json>) -> Json {
    let mut out = Map::new();
    let mut seen = HashSet::new();
    group(inv, "all", &mut out, &mut seen);
    let mut hostvars = Map::new();
    for h in inv.host_names() {
        match host(inv, h, extra) {
            Some(Json::Object(v)) if !v.is_empty() => {
                hostvars.insert(h.to_string(), Json::Object(v));
            }
            _ => {}
        }
    }
    // `profile` names how values are encoded; plain JSON values are the legacy profile.
    out.insert(
        "_meta".into(),
        json!({"hostvars": hostvars, "profile": "inventory_legacy"}),
    );
    Json::Object(out)
}

fn group(inv: &Inventory, name: &str, out: &mut Map<String, Json>, seen: &mut HashSet<String>) {
    let Some(g) = inv.group(name) else {
        return;
    };
    let mut entry = Map::new();
    if name != "all" && !g.hosts.is_empty() {
        entry.insert("hosts".into(), json!(g.hosts));
    }
    if !g.children.is_empty() {
        entry.insert("children".into(), json!(g.children));
    }
    for c in &g.children {
        if seen.insert(c.clone()) {
            group(inv, c, out, seen);
        }
    }
    if !entry.is_empty() {
        out.insert(name.to_string(), Json::Object(entry));
    }
}
