//! How each host is reached: `ansible_connection`, its address, port, user, key file,
//! known_hosts and ssh options checked, or the embedded lab's route when it is up.

use std::collections::HashMap;
use std::path::PathBuf;

use super::Conn;
use crate::inventory::Inventory;
use crate::ssh::SshParams;
use crate::yaml::{Diag, Node, Pos, Source};

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

pub(super) fn connection(
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
