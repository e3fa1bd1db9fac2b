//! The `become_user` and `become_method` keywords of plays and tasks, and Ansible's order
//! among them and the variables: a variable (`ansible_become_user`, `ansible_become_method`,
//! from the inventory, play or task `vars`, or `-e`) wins over any keyword, as every variable
//! does in Ansible; then the task's keyword, then the play's; then `root` through `sudo`.

use serde_json::{Map, Value as Json};

use crate::ssh::{Become, Method};
use crate::yaml::{Diag, Node};

/// Whom a play's or a task's `become` makes the commands run as, when it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BecomeKeywords {
    pub(crate) user: Option<String>,
    pub(crate) method: Option<Method>,
}

impl BecomeKeywords {
    /// Take `become_user` or `become_method`; `false` for any other keyword.
    pub(crate) fn take(&mut self, key: &str, v: &Node) -> Result<bool, Diag> {
        match key {
            "become_user" => {
                const WHAT: &str = "a user name (letters, digits, `.`, `_`, `-`)";
                let u = v.as_scalar_str(WHAT)?;
                if !crate::ssh::valid_user(&u) {
                    return Err(Diag::at(v, format!("invalid become user `{u}`")).expected(WHAT));
                }
                self.user = Some(u);
            }
            "become_method" => {
                const WHAT: &str = "`sudo` or `su`";
                let m = v.as_scalar_str(WHAT)?;
                let method = Method::parse(m.trim()).ok_or_else(|| {
                    Diag::at(v, format!("unsupported become method `{m}`")).expected(WHAT)
                })?;
                self.method = Some(method);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// How a task becomes another user on a host: `host` (from the host's variables, `root` and
/// `sudo` where they say nothing) with the task's or else the play's keywords where no
/// variable in `vars` (the task's whole context) decides.
pub(crate) fn resolve(
    task: &BecomeKeywords,
    play: &BecomeKeywords,
    vars: &Map<String, Json>,
    host: &Become,
) -> Become {
    let set = |name: &str| vars.get(name).is_some_and(|v| !v.is_null());
    let mut b = host.clone();
    if !set("ansible_become_user") {
        if let Some(u) = task.user.as_ref().or(play.user.as_ref()) {
            b.user.clone_from(u);
        }
    }
    if !set("ansible_become_method") {
        if let Some(m) = task.method.or(play.method) {
            b.method = m;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_win_then_the_task_then_the_play() {
        let kw = |user: &str, method| BecomeKeywords {
            user: Some(user.into()),
            method: Some(method),
        };
        let (play, task) = (kw("app", Method::Su), kw("www-data", Method::Sudo));
        let none = BecomeKeywords::default();
        let host = Become::default();
        let empty = Map::new();
        let b = resolve(&task, &play, &empty, &host);
        assert_eq!((b.user.as_str(), b.method), ("www-data", Method::Sudo));
        let b = resolve(&none, &play, &empty, &host);
        assert_eq!((b.user.as_str(), b.method), ("app", Method::Su));
        assert_eq!(resolve(&none, &none, &empty, &host), host);
        // The host's variables say `postgres` through su: they win over both keywords.
        let vars: Map<String, Json> = serde_json::from_str(
            r#"{"ansible_become_user": "postgres", "ansible_become_method": "su"}"#,
        )
        .unwrap();
        let from_vars = Become {
            user: "postgres".into(),
            method: Method::Su,
            ..Become::default()
        };
        assert_eq!(resolve(&task, &play, &vars, &from_vars), from_vars);
        // Only the method set by a variable: the user still comes from the keyword.
        let vars: Map<String, Json> =
            serde_json::from_str(r#"{"ansible_become_method": "su"}"#).unwrap();
        let host = Become {
            method: Method::Su,
            ..Become::default()
        };
        let b = resolve(&task, &play, &vars, &host);
        assert_eq!((b.user.as_str(), b.method), ("www-data", Method::Su));
    }
}
