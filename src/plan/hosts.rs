//! The hosts of a plan: which hosts each play targets (its pattern, `--limit`), the variables
//! every host sees (`groups`, `hostvars`, the cluster's defaults), and each host's plan: its
//! variables merged and resolved, how it is reached, who it becomes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::check::check_var_names;
use super::connection::connection;
use super::{login, resolve_templated, Conn, HostPlan, PlanError, PlannedPlay};
use crate::inventory::{Inventory, PatternError};
use crate::modules;
use crate::playbook::Playbook;
use crate::template::Templates;
use crate::yaml::{Diag, Node, Pos, Source};

/// The hosts `--limit` keeps (`None`: all), each play's hosts, and every host some play targets.
pub(super) fn target(
    inv: &Inventory,
    playbook: &Playbook,
    limit: Option<&str>,
) -> Result<(Vec<PlannedPlay>, BTreeSet<String>), PlanError> {
    let kept: Option<Vec<String>> = match limit {
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
        if let Some(l) = &kept {
            hs.retain(|h| l.contains(h));
        }
        targeted.extend(hs.iter().cloned());
        plays.push(PlannedPlay {
            index: i,
            hosts: hs,
        });
    }
    if targeted.is_empty() {
        let msg = match limit {
            Some(l) => format!("no play of the playbook targets a host matching --limit `{l}`"),
            None => "the playbook targets no host".to_string(),
        };
        return Err(PlanError::Usage(msg));
    }
    Ok((plays, targeted))
}

/// The defaults of the LVS variables each host of the cluster leaves out.
pub(super) fn cluster_defaults(
    inv: &Inventory,
    hostvars: &Json,
    extra: &Map<String, Json>,
) -> BTreeMap<String, Map<String, Json>> {
    let Some(all) = hostvars.as_object() else {
        return BTreeMap::new();
    };
    all.iter()
        .filter(|(h, _)| is_lvs_host(inv, h))
        .filter_map(|(h, v)| {
            let mut view = v.as_object()?.clone();
            view.extend(extra.clone());
            Some((h.clone(), crate::cluster::defaults::missing(&view)))
        })
        .collect()
}

/// `hostvars` as templates see it: every host's variables with its cluster defaults.
pub(super) fn with_defaults(
    hostvars: &Json,
    defaults: &BTreeMap<String, Map<String, Json>>,
) -> Json {
    match hostvars {
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
    }
}

/// What every host's plan is made from.
pub(super) struct Common<'a> {
    pub(super) inv: &'a Inventory,
    pub(super) route: Option<&'a crate::lab::SshRoute>,
    pub(super) check: bool,
    pub(super) templates: &'a Templates,
    pub(super) extra: &'a Map<String, Json>,
    pub(super) groups: &'a Json,
    /// Names an inventory variable may use though they are not defined yet.
    pub(super) runtime: &'a HashSet<String>,
    pub(super) playbook: &'a Playbook,
}

/// Host `name`'s plan: its variables (with the cluster's `defaults` it leaves out), how it is
/// reached, who its tasks become, its state file.
pub(super) fn host_plan(
    c: &Common<'_>,
    name: &str,
    defaults: Option<&Map<String, Json>>,
    secrets: &mut crate::secret::Redactor,
) -> Result<HostPlan, PlanError> {
    let nodes = c.inv.host_var_nodes(name).unwrap_or_default();
    let mut conn = connection(c.inv, name, &nodes, c.route)?;
    let vars = host_vars(c, name, defaults);
    // Inventory values may themselves be templates: resolve what is knowable now.
    let resolved = resolve_templated(c.templates, &vars, c.extra);
    if let Err((var, e)) = &resolved {
        let node = nodes.get(var.as_str()).copied();
        return Err(match node {
            Some(n) => Diag::at(n, format!("in variable `{var}`: {e}")),
            None => Diag::new(
                &play_src(c.playbook),
                Pos { line: 1, col: 1 },
                format!("in variable `{var}`: {e}"),
            ),
        }
        .expected("variables defined in the inventory, play vars or -e")
        .into());
    }
    let mut escalation = crate::ssh::Become::default();
    if let Ok(ctx) = &resolved {
        secrets.add_vars(ctx);
        escalation = login::become_spec(ctx, &nodes)?;
        if let Some(pw) = &escalation.password {
            secrets.add_value(pw.expose());
        }
        if let Conn::Ssh(p) = &mut conn {
            p.password = login::login_password(ctx, &nodes)?;
            if let Some(pw) = &p.password {
                secrets.add_value(pw.expose());
            }
            // `-e ansible_user=NAME` wins, as in Ansible.
            if let Some(Json::String(u)) = c.extra.get("ansible_user") {
                p.user = Some(u.clone());
            }
        }
        let own: HashMap<String, &Node> = nodes
            .iter()
            .filter(|(k, _)| !c.extra.contains_key(k.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        check_var_names(c.templates, ctx, &own, c.runtime)?;
    }
    let state_file = vars
        .get("lvslab_state_file")
        .and_then(Json::as_str)
        .unwrap_or(modules::state_default())
        .to_string();
    Ok(HostPlan {
        conn,
        vars,
        state_file,
        escalation,
    })
}

/// Host `name`'s variables before templates are resolved: the inventory's, the cluster's
/// `defaults`, and the names Ansible defines for every host.
fn host_vars(
    c: &Common<'_>,
    name: &str,
    defaults: Option<&Map<String, Json>>,
) -> Map<String, Json> {
    let mut vars = c.inv.host_vars(name).unwrap_or_default();
    vars.extend(defaults.cloned().unwrap_or_default());
    vars.insert("inventory_hostname".into(), Json::String(name.to_string()));
    vars.insert(
        "inventory_hostname_short".into(),
        Json::String(name.split('.').next().unwrap_or(name).to_string()),
    );
    vars.insert("groups".into(), c.groups.clone());
    // As Ansible: every group of the host but `all`, sorted by name.
    let mut group_names: Vec<&str> = c.inv.groups_of(name);
    group_names.retain(|g| *g != "all");
    group_names.sort_unstable();
    vars.insert("group_names".into(), serde_json::json!(group_names));
    vars.insert("ansible_check_mode".into(), Json::Bool(c.check));
    vars
}

fn pattern_diag(node: &Node, e: PatternError, what: &str) -> Diag {
    Diag::at(node, format!("{e} in {what}"))
        .expected("an inventory host or group (patterns: `a:b`, `!x`, `&g`, `*`)")
}

fn play_src(pb: &Playbook) -> Arc<Source> {
    pb.plays
        .first()
        .map(|p| p.hosts.src.clone())
        .unwrap_or_else(|| Source::new(&pb.path, String::new()))
}

pub(super) fn groups_var(inv: &Inventory) -> Json {
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

/// A host of the LVS cluster: in `directors` or `realservers`.
fn is_lvs_host(inv: &Inventory, name: &str) -> bool {
    inv.groups_of(name)
        .iter()
        .any(|g| *g == "directors" || *g == "realservers")
}

/// Every host's inventory variables, each resolved in its own host's context (a templated
/// value of node02 must not be rendered with node01's variables).
pub(super) fn hostvars_var(
    inv: &Inventory,
    t: &Templates,
    groups: &Json,
    extra: &Map<String, Json>,
) -> Json {
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
