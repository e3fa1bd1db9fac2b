//! Plan-time checks of the LVS vocabulary (docs/inventory.md, "Validation").
//!
//! An inventory with `directors` and `realservers` groups describes one LVS cluster. A value
//! that ipvsadm, keepalived or the kernel would reject — or accept and then misbehave on (a VIP
//! outside the directors' LAN, two MASTERs, a DR real server on another port) — is reported
//! here, naming the file:line:column of the value (or the `-e` that set it), before any host is
//! contacted (exit 2). Only `setup` and `verify` run these checks: `run` does not know its
//! playbook is about LVS. Values still templated after planning are left to run time.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use serde_json::{Map, Value as Json};

use crate::inventory::Inventory;
use crate::yaml::{Diag, Node};

/// A value of the LVS vocabulary that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum LvsError {
    /// Set in the inventory: located.
    #[error("{0}")]
    At(Diag),
    /// About a host the inventory does not locate (not expected to happen).
    #[error("{0}")]
    Plain(String),
    /// Set with `-e`: no file position.
    #[error("{msg}\n ——▶ -e {key}={value}\n  = expected {expected}")]
    Extra {
        key: String,
        value: String,
        msg: String,
        expected: String,
    },
}

/// Something that works but not as the operator may think (printed, not fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    pub(crate) msg: String,
    pub(crate) at: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n ——▶ {}", self.msg, self.at)
    }
}

/// ipvsadm's longest persistence timeout (31 days).
const MAX_PERSISTENCE: i64 = 86400 * 31;

/// What a single value must look like.
enum Rule {
    Ipv4,
    Int(i64, i64),
    OneOf(&'static [&'static str]),
    IfName,
    /// An address label: starts with the device (a variable's value, or a fixed name).
    Label(Dev),
}

enum Dev {
    Var(&'static str),
    Fixed(&'static str),
}

/// Every single-value rule, checked per LVS node wherever the variable is set.
const RULES: &[(&str, Rule)] = &[
    ("ansible_host", Rule::Ipv4),
    ("lvs_mode", Rule::OneOf(&["ha", "lvs"])),
    ("lan_interface", Rule::IfName),
    ("lan_prefix", Rule::Int(8, 30)),
    ("lvs_vip", Rule::Ipv4),
    ("lvs_vip_prefix", Rule::Int(0, 32)),
    ("lvs_vip_label", Rule::Label(Dev::Var("lan_interface"))),
    ("lvs_lo_label", Rule::Label(Dev::Fixed("lo"))),
    ("lvs_port", Rule::Int(1, 65535)),
    ("lvs_rs_port", Rule::Int(1, 65535)),
    ("lvs_protocol", Rule::OneOf(&["tcp", "udp"])),
    ("lvs_scheduler", Rule::OneOf(crate::cluster::SCHEDULERS)),
    ("lvs_method", Rule::OneOf(&["dr", "nat", "tun"])),
    ("lvs_weight", Rule::Int(0, 65535)),
    ("lvs_persistence_timeout", Rule::Int(0, MAX_PERSISTENCE)),
    ("keepalived_state", Rule::OneOf(&["MASTER", "BACKUP"])),
    ("keepalived_priority", Rule::Int(1, 255)),
    ("keepalived_router_id", Rule::Int(1, 255)),
    ("keepalived_advert_int", Rule::Int(1, 255)),
];

/// Variables describing the one virtual service: the same on every director and real server.
const SHARED: &[&str] = &["lvs_vip", "lvs_port", "lvs_protocol", "lvs_method"];

/// A value as the plan resolved it, and where it was set.
struct Val<'a> {
    var: &'a str,
    json: &'a Json,
    node: Option<&'a Node>,
    extra: bool,
}

impl Val<'_> {
    fn text(&self) -> String {
        match self.json {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    fn int(&self) -> Option<i64> {
        match self.json {
            Json::Number(n) => n.as_i64(),
            Json::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

struct Check<'a> {
    inv: &'a Inventory,
    hostvars: &'a Map<String, Json>,
    extra: &'a Map<String, Json>,
    /// Which `-e` names are secret (their values are masked in errors).
    secrets: &'a crate::secret::Redactor,
    nodes: HashMap<String, HashMap<String, &'a Node>>,
}

type Res<T> = Result<T, LvsError>;

impl<'a> Check<'a> {
    /// `var` of `host`, unless unset or still a template.
    fn val(&self, host: &str, var: &'a str) -> Option<Val<'_>> {
        let json = self.hostvars.get(host)?.get(var)?;
        if matches!(json, Json::Null) || super::has_template(json) {
            return None;
        }
        let extra = self.extra.contains_key(var);
        let node = match extra {
            true => None,
            false => self.nodes.get(host).and_then(|m| m.get(var)).copied(),
        };
        Some(Val {
            var,
            json,
            node,
            extra,
        })
    }

    /// Is `var` set for `host` (templated or not)?
    fn is_set(&self, host: &str, var: &str) -> bool {
        self.hostvars
            .get(host)
            .and_then(|m| m.get(var))
            .is_some_and(|v| !v.is_null())
    }

    /// An error about `v` of `host`: at its value, else at the host, else naming the `-e`.
    fn fail(&self, host: &str, v: &Val, msg: String, expected: String) -> LvsError {
        match (v.node, v.extra) {
            (Some(n), _) => LvsError::At(Diag::at(n, msg).expected(expected)),
            (None, false) => self.host_fail(host, &msg, &expected),
            (None, true) => LvsError::Extra {
                key: v.var.to_string(),
                value: match self.secrets.is_secret_name(v.var) {
                    true => "********".into(),
                    false => v.text(),
                },
                msg,
                expected,
            },
        }
    }

    /// An error about a host as a whole: at its name in the inventory.
    fn host_fail(&self, host: &str, msg: &str, expected: &str) -> LvsError {
        match self.inv.host_diag(host, msg) {
            Some(d) => LvsError::At(d.expected(expected)),
            None => LvsError::Plain(format!("{msg} (expected {expected})")),
        }
    }

    /// An error about `var` of `host`, whether it is set or not.
    fn var_fail(&self, host: &str, var: &'a str, msg: String, expected: &str) -> LvsError {
        match self.val(host, var) {
            Some(v) => self.fail(host, &v, msg, expected.to_string()),
            None => self.host_fail(host, &msg, expected),
        }
    }

    fn rule(&self, host: &str, v: &Val, rule: &Rule) -> Res<()> {
        let text = v.text();
        let var = v.var;
        let (msg, expected) = match rule {
            Rule::Ipv4 if text.parse::<Ipv4Addr>().is_ok() => return Ok(()),
            Rule::Ipv4 => (
                format!("`{var}` is not an IPv4 address: `{text}`"),
                "an IPv4 address, e.g. 192.168.163.50".to_string(),
            ),
            Rule::Int(lo, hi) => match v.int() {
                Some(i) if (*lo..=*hi).contains(&i) => return Ok(()),
                Some(i) => (
                    format!("`{var}` is out of range: {i}"),
                    format!("a whole number {lo}-{hi}"),
                ),
                None => (
                    format!("`{var}` is not a whole number: `{text}`"),
                    format!("a whole number {lo}-{hi}"),
                ),
            },
            Rule::OneOf(words) if words.contains(&text.as_str()) => return Ok(()),
            Rule::OneOf(words) => (
                format!("unknown `{var}`: `{text}`"),
                format!("one of {}", words.join(" ")),
            ),
            Rule::IfName if ifname_ok(&text) => return Ok(()),
            Rule::IfName => (
                format!("`{var}` is not a valid interface name: `{text}`"),
                "a Linux interface name: 1-15 characters, no `/`, `:` or whitespace".into(),
            ),
            Rule::Label(dev) => {
                let dev = match dev {
                    Dev::Fixed(d) => d.to_string(),
                    Dev::Var(d) => match self.val(host, d) {
                        Some(dv) => dv.text(),
                        None => return Ok(()),
                    },
                };
                let exp = format!("`{dev}` or `{dev}:N`, at most 15 characters");
                if !text.starts_with(&dev) {
                    (
                        format!("`{var}` `{text}` does not start with the device name `{dev}`"),
                        exp,
                    )
                } else if text.chars().count() > 15 || text.contains(['/', ' ', '\t']) {
                    (
                        format!("`{var}` is not a valid address label: `{text}`"),
                        exp,
                    )
                } else {
                    return Ok(());
                }
            }
        };
        Err(self.fail(host, v, msg, expected))
    }
}

/// Linux accepts 1-15 bytes, none of `/`, `:` (alias syntax) or whitespace, not `.`/`..`.
fn ifname_ok(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

fn net(addr: Ipv4Addr, prefix: u32) -> (Ipv4Addr, Ipv4Addr) {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    let n = u32::from(addr) & mask;
    (Ipv4Addr::from(n), Ipv4Addr::from(n | !mask))
}

/// Check the inventory's LVS cluster. `hostvars`: every host's variables as the plan resolved
/// them (`-e` included); `extra`: the `-e` variables. No `directors`/`realservers`: nothing to do.
pub(crate) fn check(
    inv: &Inventory,
    hostvars: &Map<String, Json>,
    extra: &Map<String, Json>,
    secrets: &crate::secret::Redactor,
) -> Result<Vec<Warning>, LvsError> {
    let (Some(directors), Some(reals)) =
        (inv.group_hosts("directors"), inv.group_hosts("realservers"))
    else {
        return Ok(Vec::new());
    };
    let nodes = inv
        .host_names()
        .into_iter()
        .map(|h| (h.to_string(), inv.host_var_nodes(h).unwrap_or_default()))
        .collect();
    let c = Check {
        inv,
        hostvars,
        extra,
        secrets,
        nodes,
    };
    let lvs_nodes: Vec<&str> = inv
        .host_names()
        .into_iter()
        .filter(|h| directors.contains(h) || reals.contains(h))
        .collect();
    for h in &lvs_nodes {
        if directors.contains(h) && reals.contains(h) {
            let msg = format!("host `{h}` is both a director and a real server");
            return Err(c.host_fail(h, &msg, "each host in either `directors` or `realservers`"));
        }
        for (var, rule) in RULES {
            if let Some(v) = c.val(h, var) {
                c.rule(h, &v, rule)?;
            }
        }
    }
    shared(&c, &lvs_nodes)?;
    addresses(&c, &lvs_nodes, &directors)?;
    masters(&c, &directors)?;
    rs_ports(&c, &reals)?;
    Ok(warnings(&c, &lvs_nodes))
}

/// One service: directors and real servers agree on it.
fn shared(c: &Check, lvs_nodes: &[&str]) -> Res<()> {
    for var in SHARED {
        let mut first: Option<(&str, String)> = None;
        for h in lvs_nodes {
            let Some(v) = c.val(h, var) else { continue };
            match &first {
                None => first = Some((h, v.text())),
                Some((f, t)) if *t != v.text() => {
                    return Err(c.fail(
                        h,
                        &v,
                        format!("`{var}` is `{}` for `{h}` but `{t}` for `{f}`", v.text()),
                        format!("the same `{var}` on every director and real server"),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// One IPv4 address per node, none shared; the VIP none of them and on the directors' LAN.
fn addresses(c: &Check, lvs_nodes: &[&str], directors: &[&str]) -> Res<()> {
    let mut addrs: Vec<(&str, Ipv4Addr)> = Vec::new();
    for h in lvs_nodes {
        let a = match c.val(h, "ansible_host") {
            Some(v) => v.text().parse().ok(),
            None if !c.is_set(h, "ansible_host") => match h.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    let msg = format!("host `{h}` has no IPv4 address");
                    let exp = "`ansible_host: ADDRESS` (directors and real servers are addressed by IPv4)";
                    return Err(c.host_fail(h, &msg, exp));
                }
            },
            None => None,
        };
        let Some(a) = a else { continue };
        if let Some((other, _)) = addrs.iter().find(|(_, b)| *b == a) {
            let msg = format!("host `{h}` has the same address as `{other}`: {a}");
            let exp = "a different address for every host";
            return Err(c.var_fail(h, "ansible_host", msg, exp));
        }
        addrs.push((h, a));
    }
    for h in lvs_nodes {
        let Some(v) = c.val(h, "lvs_vip") else {
            continue;
        };
        let Ok(vip) = v.text().parse::<Ipv4Addr>() else {
            continue;
        };
        if let Some((owner, _)) = addrs.iter().find(|(_, a)| *a == vip) {
            return Err(c.fail(
                h,
                &v,
                format!("`lvs_vip` {vip} is the address of host `{owner}`"),
                "an address no host has (the VIP moves between directors)".into(),
            ));
        }
        // The VIP lives on the directors' LAN segment (ARP for it must reach them).
        if !directors.contains(h) {
            continue;
        }
        let (Some(addr), Some(prefix)) = (
            addrs.iter().find(|(n, _)| n == h).map(|(_, a)| *a),
            c.val(h, "lan_prefix").and_then(|p| p.int()),
        ) else {
            continue;
        };
        let (lo, hi) = net(addr, prefix as u32);
        let cidr = format!("{lo}/{prefix}");
        let msg = if vip < lo || vip > hi {
            format!(
                "`lvs_vip` {vip} is outside the directors' LAN {cidr} (`{h}` is {addr}/{prefix})"
            )
        } else if vip == lo || vip == hi {
            format!("`lvs_vip` {vip} is the network or broadcast address of {cidr}")
        } else {
            continue;
        };
        return Err(c.fail(h, &v, msg, format!("a host address in {cidr}")));
    }
    Ok(())
}

/// DR and TUN forward the packet unchanged: the real server must listen on the service port.
fn rs_ports(c: &Check, reals: &[&str]) -> Res<()> {
    for h in reals {
        let (Some(rs), Some(port), Some(method)) = (
            c.val(h, "lvs_rs_port"),
            c.val(h, "lvs_port").and_then(|v| v.int()),
            c.val(h, "lvs_method").map(|v| v.text()),
        ) else {
            continue;
        };
        match rs.int() {
            Some(p) if p != port && method != "nat" => {
                return Err(c.fail(
                    h,
                    &rs,
                    format!("`lvs_rs_port` {p} differs from `lvs_port` {port}, which `{method}` cannot do"),
                    format!("`lvs_rs_port` equal to `lvs_port` ({port}) with `lvs_method` dr or tun (nat can map ports)"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// keepalived: exactly one MASTER among the directors, and it outranks every BACKUP. A
/// director without `keepalived_state` is MASTER in lvs mode (the playbook's default) and an
/// error in ha mode.
fn masters(c: &Check, directors: &[&str]) -> Res<()> {
    let ha = c
        .hostvars
        .values()
        .next()
        .and_then(|m| m.get("lvs_mode"))
        .and_then(Json::as_str)
        .is_none_or(|m| m != "lvs");
    let mut master: Option<&str> = None;
    for h in directors {
        let set = c.is_set(h, "keepalived_state");
        let state = match c.val(h, "keepalived_state") {
            Some(v) => v.text(),
            None if set => return Ok(()), // templated: known at run time only
            None if ha => {
                let msg = format!("director `{h}` has no `keepalived_state`");
                let exp = "`keepalived_state: MASTER` or `BACKUP` on every director (ha mode)";
                return Err(c.host_fail(h, &msg, exp));
            }
            None => "MASTER".into(),
        };
        if state != "MASTER" {
            continue;
        }
        if let Some(m) = master {
            let msg = format!("two MASTER directors: `{m}` and `{h}`");
            let exp = "exactly one director with `keepalived_state: MASTER`, the others BACKUP";
            return Err(c.var_fail(h, "keepalived_state", msg, exp));
        }
        master = Some(h);
    }
    let Some(master) = master else {
        let first = directors.first().copied().unwrap_or("-");
        let exp = "exactly one director with `keepalived_state: MASTER`";
        return Err(c.var_fail(
            first,
            "keepalived_state",
            "no director is MASTER".into(),
            exp,
        ));
    };
    let Some(mp) = c.val(master, "keepalived_priority").and_then(|v| v.int()) else {
        return Ok(());
    };
    for h in directors.iter().filter(|h| **h != master) {
        let Some(v) = c.val(h, "keepalived_priority") else {
            continue;
        };
        if let Some(p) = v.int().filter(|p| *p >= mp) {
            return Err(c.fail(
                h,
                &v,
                format!("BACKUP `{h}` has priority {p}, not below MASTER `{master}`'s {mp}"),
                format!("a priority below {mp} (the MASTER's)"),
            ));
        }
    }
    Ok(())
}

/// keepalived uses only the first 8 characters of `auth_pass`. Never shows the value.
fn warnings(c: &Check, hosts: &[&str]) -> Vec<Warning> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for h in hosts {
        let Some(v) = c.val(h, "keepalived_auth_pass") else {
            continue;
        };
        if v.text().chars().count() <= 8 {
            continue;
        }
        let at = match v.node {
            Some(n) => Diag::at(n, "").location(),
            None => "-e keepalived_auth_pass=********".into(),
        };
        if seen.insert(at.clone()) {
            out.push(Warning {
                msg: "`keepalived_auth_pass` is longer than 8 characters: keepalived uses only the first 8".into(),
                at,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
