//! How lab nodes are logged into, to try the job as real machines are reached: `lab_user`
//! (an unprivileged user with the lab's key and sudo rights), `lab_sudo_password` (sudo asks
//! for it; it is that user's password), `lab_root_login: false` (root's ssh login off),
//! `lab_password_login: true` (the user may log in with `lab_user_password`, which is then
//! also what sudo asks for). The passwords reach the node through 0600 files given to qemu's
//! fw_cfg, never a command line or the console.

use serde_json::{Map, Value};

use crate::secret::Secret;

/// A node's login settings (the defaults: root with the lab's key, nothing else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub lab_user: Option<String>,
    pub root_login: bool,
    pub password_login: bool,
    /// The user's password, when sudo asks for one or password logins are on.
    pub(crate) password: Option<Secret>,
    /// sudo asks for the password (else NOPASSWD).
    pub sudo_asks: bool,
}

impl Default for Login {
    fn default() -> Login {
        Login {
            lab_user: None,
            root_login: true,
            password_login: false,
            password: None,
            sudo_asks: false,
        }
    }
}

impl Login {
    /// The password written for the node (a line of its own), if any.
    pub(crate) fn password_line(&self) -> Option<String> {
        self.password.as_ref().map(|p| format!("{}\n", p.expose()))
    }
}

fn flag(vars: &Map<String, Value>, name: &str, default: bool) -> Result<bool, String> {
    match vars.get(name) {
        None => Ok(default),
        Some(v) => crate::plan::login::truthy(v).ok_or(format!("{name} {v} is not true or false")),
    }
}

fn secret(vars: &Map<String, Value>, name: &str) -> Result<Option<Secret>, String> {
    match vars.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && !s.contains(['\n', '\r', '\0', ':']) => {
            Ok(Some(Secret::new(s.clone())))
        }
        Some(_) => Err(format!(
            "{name} must be a password on one line (no `:`; secret_env or secret_file work)"
        )),
    }
}

/// Read a host's login settings; `user` is its `ansible_user`. Err: what is wrong.
pub(crate) fn from_vars(
    vars: &Map<String, Value>,
    user: &str,
    valid_user: fn(&str) -> bool,
) -> Result<Login, String> {
    let lab_user = match vars.get("lab_user") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_user(s) && s != "root" => Some(s.clone()),
        Some(v) => return Err(format!("lab_user {v} is not a user name other than root")),
    };
    let sudo = secret(vars, "lab_sudo_password")?;
    let own = secret(vars, "lab_user_password")?;
    let login = Login {
        root_login: flag(vars, "lab_root_login", true)?,
        password_login: flag(vars, "lab_password_login", false)?,
        sudo_asks: sudo.is_some(),
        password: own.clone().or(sudo.clone()),
        lab_user,
    };
    if login.lab_user.is_none()
        && (login.password.is_some() || login.password_login || !login.root_login)
    {
        return Err(
            "lab_sudo_password, lab_user_password, lab_password_login and lab_root_login need \
             lab_user (the user they are about)"
                .into(),
        );
    }
    if let (Some(a), Some(b)) = (&sudo, &own) {
        if a != b {
            return Err(
                "lab_sudo_password and lab_user_password differ: sudo asks for the user's own \
                 password"
                    .into(),
            );
        }
    }
    if login.password_login && own.is_none() {
        return Err("lab_password_login needs lab_user_password".into());
    }
    if !login.root_login && user == "root" {
        return Err(
            "lab_root_login is false but ansible_user is root: set ansible_user to lab_user".into(),
        );
    }
    Ok(login)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: serde_json::Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn user_ok(s: &str) -> bool {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase())
    }

    #[test]
    fn settings_need_a_user_and_agree_with_each_other() {
        let l = from_vars(&Map::new(), "root", user_ok).unwrap();
        assert_eq!(l, Login::default());
        let v = vars(
            serde_json::json!({"lab_user": "ops", "lab_sudo_password": "pw-sudo-1",
            "lab_root_login": "no"}),
        );
        let l = from_vars(&v, "ops", user_ok).unwrap();
        assert!(l.sudo_asks && !l.root_login && !l.password_login);
        assert_eq!(l.password_line().as_deref(), Some("pw-sudo-1\n"));
        assert!(
            format!("{l:?}").contains("********"),
            "the password never prints"
        );
        let e = from_vars(&v, "root", user_ok).unwrap_err();
        assert!(e.contains("ansible_user is root"), "{e}");
        let bad = |j: serde_json::Value| from_vars(&vars(j), "ops", user_ok).unwrap_err();
        assert!(bad(serde_json::json!({"lab_root_login": false})).contains("need lab_user"));
        assert!(
            bad(serde_json::json!({"lab_user": "ops", "lab_password_login": true}))
                .contains("needs lab_user_password")
        );
        assert!(bad(
            serde_json::json!({"lab_user": "ops", "lab_sudo_password": "a-pw",
            "lab_user_password": "b-pw"})
        )
        .contains("differ"));
        assert!(bad(serde_json::json!({"lab_user": "root"})).contains("other than root"));
    }
}
