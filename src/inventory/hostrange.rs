//! Host entries as Ansible reads them in INI and YAML inventories: an optional `:port` suffix
//! (`db1:2222`, `[2001:db8::1]:22`) and ranges that expand to several hosts: `node[01:04]`
//! (zero padded), `web[a:c]`, `[1:10:2]` (a step), several ranges in one name.

/// A host entry expanded: its names and the port it gave, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    pub(crate) names: Vec<String>,
    pub(crate) port: Option<u16>,
}

/// Most hosts one entry may expand to (a typo like `[1:99999999]` must not eat the memory).
const MAX_HOSTS: usize = 100_000;

/// Split off the port, then expand the ranges.
pub(crate) fn expand(entry: &str) -> Result<Expanded, String> {
    let (name, port) = split_port(entry);
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("port `{p}` of host `{entry}` is out of range"))?,
        ),
        None => None,
    };
    // Depth first, in order, without recursion (a name may hold many ranges).
    let mut names = Vec::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        match expand_first(&n)? {
            None => names.push(n),
            Some(items) => todo.extend(items.into_iter().rev()),
        }
        if names.len() + todo.len() > MAX_HOSTS {
            return Err(format!("host entry expands to more than {MAX_HOSTS} hosts"));
        }
    }
    Ok(Expanded { names, port })
}

/// `host:port` or `[host]:port` when what is left is a host name or address; else no port.
fn split_port(entry: &str) -> (&str, Option<&str>) {
    let port_of = |host: &str, port: &str| {
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        (digits && valid_host(host)).then_some(())
    };
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((host, port)) = rest.rsplit_once("]:") {
            if port_of(host, port).is_some() {
                return (host, Some(port));
            }
        }
    }
    if let Some((host, port)) = entry.rsplit_once(':') {
        // The host part: no `:` outside complete bracketed ranges.
        let mut depth = 0i32;
        let mut outside_colon = false;
        for c in host.chars() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ':' if depth == 0 => outside_colon = true,
                _ => {}
            }
        }
        if depth == 0 && !outside_colon && port_of(host, port).is_some() {
            return (host, Some(port));
        }
    }
    (entry, None)
}

/// Roughly Ansible's address check: a host name or IPv4 (ranges allowed), or an IPv6 address.
fn valid_host(h: &str) -> bool {
    if h.is_empty() {
        return false;
    }
    let mut depth = 0;
    let colon_outside = h.chars().any(|c| {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        c == ':' && depth == 0
    });
    if colon_outside {
        return h
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '[' | ']'));
    }
    let mut depth = 0;
    for c in h.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            c if depth > 0 => {
                if !(c.is_ascii_alphanumeric() || c == ':') {
                    return false;
                }
            }
            c => {
                if !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) {
                    return false;
                }
            }
        }
    }
    depth == 0
        && h.split('.')
            .all(|l| !l.is_empty() && !l.starts_with(['-', '_']) && !l.ends_with(['-', '_']))
}

/// The names the first range of `name` gives; `None` when it has no range.
fn expand_first(name: &str) -> Result<Option<Vec<String>>, String> {
    let Some(open) = name.find('[') else {
        return Ok(None);
    };
    let close = name[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| format!("host range in `{name}` has no closing `]`"))?;
    let (head, range, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let bounds: Vec<&str> = range.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range `[{range}]` must be begin:end or begin:end:step"
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!("host range `[{range}]` has no end"));
    }
    let step: usize = match bounds.get(2) {
        Some(s) => s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
            format!("host range `[{range}]` has a step that is not a positive number")
        })?,
        None => 1,
    };
    let width = (beg.starts_with('0') && beg.len() > 1).then_some(beg.len());
    if width.is_some_and(|w| w != end.len()) {
        return Err(format!(
            "host range `[{range}]`: begin and end must have the same number of digits when zero padded"
        ));
    }
    let letters =
        |s: &str| (s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic()).then(|| s.as_bytes()[0]);
    let items: Vec<String> = match (letters(beg), letters(end)) {
        // Ansible orders letters as a..z then A..Z.
        (Some(b), Some(e)) => {
            let rank = |c: u8| {
                if c.is_ascii_lowercase() {
                    c - b'a'
                } else {
                    c - b'A' + 26
                }
            };
            let all: Vec<char> = ('a'..='z').chain('A'..='Z').collect();
            let (b, e) = (rank(b) as usize, rank(e) as usize);
            if b > e {
                return Err(format!("host range `[{range}]` must have begin <= end"));
            }
            all[b..=e]
                .iter()
                .step_by(step)
                .map(char::to_string)
                .collect()
        }
        _ => {
            let num = |s: &str| {
                s.parse::<u64>().map_err(|_| {
                    format!("host range `[{range}]`: `{s}` is neither a number nor a letter")
                })
            };
            let (b, e) = (num(beg)?, num(end)?);
            let count = e.saturating_sub(b) / step as u64 + 1;
            if e >= b && count > MAX_HOSTS as u64 {
                return Err(format!(
                    "host range `[{range}]` expands to more than {MAX_HOSTS} hosts"
                ));
            }
            (b..=e)
                .step_by(step)
                .map(|i| match width {
                    Some(w) => format!("{i:0w$}"),
                    None => i.to_string(),
                })
                .collect()
        }
    };
    Ok(Some(
        items
            .into_iter()
            .map(|item| format!("{head}{item}{tail}"))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &str) -> Vec<String> {
        expand(e).unwrap().names
    }

    #[test]
    fn ranges_expand_as_ansible_does() {
        assert_eq!(
            names("node[01:04]"),
            ["node01", "node02", "node03", "node04"]
        );
        assert_eq!(names("web[a:c].lab"), ["weba.lab", "webb.lab", "webc.lab"]);
        assert_eq!(names("h[1:7:3]"), ["h1", "h4", "h7"]);
        assert_eq!(names("r[1:2]c[a:b]"), ["r1ca", "r1cb", "r2ca", "r2cb"]);
        assert_eq!(names("h[:2]"), ["h0", "h1", "h2"]);
        assert_eq!(names("10.0.0.[1:2]"), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn ports() {
        assert_eq!(expand("db[1:2]:2222").unwrap().port, Some(2222));
        assert_eq!(
            expand("[2001:db8::1]:22").unwrap(),
            Expanded {
                names: vec!["2001:db8::1".into()],
                port: Some(22)
            }
        );
        assert_eq!(expand("2001:db8::1").unwrap().port, None);
        assert!(expand("h:99999").is_err());
    }

    #[test]
    fn bad_ranges() {
        assert!(expand("node[01:4]")
            .unwrap_err()
            .contains("same number of digits"));
        assert!(expand("node[1]").unwrap_err().contains("begin:end"));
        assert!(expand("node[c:a]").unwrap_err().contains("begin <= end"));
        assert!(expand("node[1:").is_err());
        assert!(expand("n[0:9999999]").is_err());
    }
}
