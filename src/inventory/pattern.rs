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
    // Iterative, with one backtrack point (the last `*`): time O(len(pat) × len(s)). The
    // recursive version was exponential in the number of `*` (fuzzing: a 347-byte inventory
    // took longer than 10 s).
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == t[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            star = Some((si, sj + 1));
            i = si + 1;
            j = sj + 1;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
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

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_matches_like_a_shell_star() {
        for (p, s, want) in [
            ("web*", "web-1", true),
            ("*-1", "web-1", true),
            ("w*b*1", "web-1", true),
            ("w*x*1", "web-1", false),
            ("*", "", true),
            ("a*", "", false),
            ("**a**", "bab", true),
            ("é*ü", "é-ü", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(p, s), want, "{p} ~ {s}");
        }
    }

    /// Fuzzing regression (fuzz/artifacts/inventory/timeout-77113f3b…): a pattern of many `*`
    /// against a long name that does not match took exponential time.
    #[test]
    fn many_stars_take_linear_time() {
        let pat = format!("{}x", "*E".repeat(40));
        let name = "E".repeat(200);
        // The exponential version never returns here (about 200^40 steps).
        assert!(!glob(&pat, &name));
        assert!(glob(&pat, &format!("{name}x")));
    }
}
