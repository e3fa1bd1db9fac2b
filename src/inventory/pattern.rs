//! Host patterns, as Ansible spells them: `all`, a host, a group, unions `a:b` (or `a,b`),
//! exclusions `!x`, intersections `&g`, and `*` wildcards. Used by `hosts:` and `--limit`.

use super::Inventory;

/// A pattern that names nothing the inventory knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("unknown host or group `{0}`")]
    Unknown(String),
    #[error("empty host pattern")]
    Empty,
}

fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((pre, rest)) => {
            let Some(tail) = s.strip_prefix(pre) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

fn term<'a>(inv: &'a Inventory, name: &str) -> Result<Vec<&'a str>, PatternError> {
    if name.contains('*') {
        let mut out: Vec<&str> = Vec::new();
        for g in inv.group_names() {
            if glob(name, g) {
                out.extend(inv.group_hosts(g).unwrap_or_default());
            }
        }
        out.extend(inv.host_names().into_iter().filter(|h| glob(name, h)));
        return Ok(out);
    }
    if let Some(hs) = inv.group_hosts(name) {
        return Ok(hs);
    }
    if inv.has_host(name) {
        return Ok(inv
            .host_names()
            .into_iter()
            .filter(|h| *h == name)
            .collect());
    }
    Err(PatternError::Unknown(name.to_string()))
}

pub(super) fn resolve(inv: &Inventory, pattern: &str) -> Result<Vec<String>, PatternError> {
    let parts: Vec<&str> = pattern
        .split([':', ','])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(PatternError::Empty);
    }
    let mut include: Vec<&str> = Vec::new();
    let mut and: Vec<Vec<&str>> = Vec::new();
    let mut not: Vec<&str> = Vec::new();
    for p in parts {
        if let Some(x) = p.strip_prefix('!') {
            not.extend(term(inv, x)?);
        } else if let Some(x) = p.strip_prefix('&') {
            and.push(term(inv, x)?);
        } else {
            include.extend(term(inv, p)?);
        }
    }
    Ok(inv
        .host_names()
        .into_iter()
        .filter(|h| include.contains(h))
        .filter(|h| and.iter().all(|s| s.contains(h)))
        .filter(|h| !not.contains(h))
        .map(str::to_string)
        .collect())
}
