//! How a host is logged into and how commands become another user, from Ansible's variables:
//! `ansible_password` (`ansible_ssh_pass`) for a password login; `ansible_become`,
//! `ansible_become_user`, `ansible_become_method` (`sudo`, `su`), `ansible_become_password`
//! (`ansible_become_pass`) for escalation. As in Ansible, these variables win over the play's
//! and task's `become` keyword, and `-k` / `-K` give the passwords of the hosts whose
//! variables name none.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use crate::secret::Secret;
use crate::ssh::{Become, Method};
use crate::yaml::{Diag, Node};

/// `true`/`false` the way Ansible reads a boolean variable (`yes`, `on`, `1` too).
pub(crate) fn truthy(v: &Json) -> Option<bool> {
    match v {
        Json::Bool(b) => Some(*b),
        Json::Number(n) => n.as_i64().map(|i| i != 0),
        Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "y" => Some(true),
            "false" | "no" | "off" | "0" | "n" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a task becomes: `ansible_become` among its variables, else the task's keyword,
/// else the play's.
pub(crate) fn task_becomes(vars: &Map<String, Json>, task: Option<bool>, play: bool) -> bool {
    vars.get("ansible_become")
        .and_then(truthy)
        .or(task)
        .unwrap_or(play)
}

/// The first of `names` that is set, as a string.
fn first<'a>(vars: &'a Map<String, Json>, names: &[&'a str]) -> Option<(&'a str, String)> {
    names.iter().find_map(|n| {
        vars.get(*n).and_then(|v| match v {
            Json::String(s) => Some((*n, s.clone())),
            Json::Null => None,
            other => Some((*n, other.to_string())),
        })
    })
}

/// A password to hand over on a line of its own.
fn password(
    vars: &Map<String, Json>,
    names: &[&str],
    nodes: &HashMap<String, &Node>,
) -> Result<Option<Secret>, Diag> {
    let Some((name, value)) = first(vars, names) else {
        return Ok(None);
    };
    if value.contains(['\n', '\r', '\0']) {
        let msg = format!("`{name}` holds a line break or NUL byte");
        return Err(located(nodes, name, msg, "a password on one line"));
    }
    Ok(Some(Secret::new(value)))
}

fn located(nodes: &HashMap<String, &Node>, name: &str, msg: String, expected: &str) -> Diag {
    match nodes.get(name) {
        Some(n) => Diag::at(n, msg).expected(expected),
        None => Diag::new(
            &crate::yaml::Source::new(std::path::Path::new("-e"), String::new()),
            crate::yaml::Pos::default(),
            msg,
        )
        .expected(expected),
    }
}

/// The login password of a host (`ansible_password`, `ansible_ssh_pass`).
pub(crate) fn login_password(
    vars: &Map<String, Json>,
    nodes: &HashMap<String, &Node>,
) -> Result<Option<Secret>, Diag> {
    password(
        vars,
        &[
            "ansible_password",
            "ansible_ssh_pass",
            "ansible_ssh_password",
        ],
        nodes,
    )
}

/// Whom a host's tasks become, and how.
pub(crate) fn become_spec(
    vars: &Map<String, Json>,
    nodes: &HashMap<String, &Node>,
) -> Result<Become, Diag> {
    let mut b = Become::default();
    if let Some((name, m)) = first(vars, &["ansible_become_method"]) {
        b.method = Method::parse(m.trim()).ok_or_else(|| {
            located(
                nodes,
                name,
                format!("unsupported become method `{m}`"),
                "`sudo` or `su`",
            )
        })?;
    }
    if let Some((name, u)) = first(vars, &["ansible_become_user"]) {
        let u = u.trim().to_string();
        if !crate::ssh::valid_user(&u) {
            return Err(located(
                nodes,
                name,
                format!("invalid become user `{u}`"),
                "a user name (letters, digits, `.`, `_`, `-`)",
            ));
        }
        b.user = u;
    }
    b.password = password(
        vars,
        &["ansible_become_password", "ansible_become_pass"],
        nodes,
    )?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_win_over_keywords_and_aliases_are_read() {
        let vars: Map<String, Json> = serde_json::from_str(
            r#"{"ansible_become": "no", "ansible_become_pass": "pw-alias-x",
                "ansible_become_method": "su", "ansible_ssh_pass": "login-pw-y"}"#,
        )
        .unwrap();
        assert!(!task_becomes(&vars, Some(true), true));
        assert!(task_becomes(&Map::new(), None, true));
        assert!(!task_becomes(&Map::new(), Some(false), true));
        let nodes = HashMap::new();
        let b = become_spec(&vars, &nodes).unwrap();
        assert_eq!(b.method, Method::Su);
        assert_eq!(b.user, "root");
        assert_eq!(b.password.unwrap().expose(), "pw-alias-x");
        let l = login_password(&vars, &nodes).unwrap().unwrap();
        assert_eq!(format!("{l:?}"), "********");
        let bad: Map<String, Json> =
            serde_json::from_str(r#"{"ansible_become_method": "doas"}"#).unwrap();
        let e = become_spec(&bad, &nodes).unwrap_err().to_string();
        assert!(e.contains("unsupported become method `doas`"), "{e}");
    }
}
