//! Secrets: which variables are secret, where a secret's value may come from, and the one
//! redaction every piece of output goes through.
//!
//! A variable is secret when its name ends in `_pass`, `_password`, `_passwd`, `_secret` or
//! `_token` (so `keepalived_auth_pass` is secret by default), when it is listed (names or `*`
//! patterns) in `lvslab_secret_vars`, or when its value comes from a secret source:
//! `{secret_env: NAME}` (an environment variable) or `{secret_file: PATH}` (a file outside the
//! inventory, relative to the file that names it). Sources are read when the inventory or
//! playbook is loaded, so a missing one is an input error (exit 2) before any host is contacted.
//!
//! Output is redacted by value, not only by name: once a secret value is known it is replaced
//! by `********` wherever it appears — in task results, commands, diffs, errors, JSON — so a
//! secret that reaches output under another name (an error quoting a command line, a YAML source
//! line in flow style) is hidden too. What is known to be secret is a value, a [`Redactor`]:
//! the inventory's loader starts it, the plan completes it (play and task variables, `-e`,
//! every host's variables and passwords), and each place that writes output is handed it.

mod line;
pub mod prompt;
mod source;

use serde_json::{Map, Value as Json};

use crate::yaml::{Diag, Key, Node, Value};

pub(crate) use source::resolve_sources;

/// A password the engine hands to a tool on the node or to ssh (a login or `become` password):
/// it prints as the mask in any debug output, so a plan or connection parameters dumped for
/// diagnosis cannot show it. Its value is one a [`Redactor`] knows: the plan adds each it
/// makes, and the lab's come from secret-named variables the inventory already holds.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself, for the one place that hands it over (stdin of the node's command,
    /// ssh's askpass file).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

/// The inventory variable listing more secret variable names (or `*` patterns).
pub(crate) const SECRET_VARS: &str = "lvslab_secret_vars";

const MASK: &str = "********";

/// What one command knows to be secret, and the masking every piece of its output goes
/// through: the names declared secret (`lvslab_secret_vars`) and the secret values seen so far.
/// Loading and planning add to it; the reporter, error messages, ssh's debug log and the files
/// a module writes read it.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// Names or `*` patterns declared secret besides the built-in suffixes.
    patterns: Vec<String>,
    /// Longest first, so a secret containing another is replaced whole.
    values: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.patterns)
            .field("values", &self.values.len())
            .finish()
    }
}

/// Is a variable with this name secret by its suffix alone (`_pass`, `_password`, ...)?
fn secret_by_suffix(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["_pass", "_password", "_secret", "_token", "_passwd"]
        .iter()
        .any(|s| n.ends_with(s))
        || n == "password"
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    if !name.ends_with(last) {
        return false;
    }
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The forms of a secret value that must never be printed: the value, and for values longer
/// than 8 characters their first 8 (keepalived uses only those of `auth_pass`, and a
/// validation error on the node may quote them). Values shorter than 2 characters would hide
/// half of every line and are not treated as findable text.
fn forms(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.chars().count() >= 2 {
        out.push(value.to_string());
        if value.chars().count() > 8 {
            out.push(value.chars().take(8).collect());
        }
    }
    out
}

/// A secret of one character cannot be told apart from the rest of the output (every `1` of
/// `changed=1` would be it), so it could never be hidden: refused, before any host is
/// contacted. Err: the message and what was expected. An empty secret hides nothing.
pub(crate) fn check_length(name: &str, value: &str) -> Result<(), (String, String)> {
    if value.chars().count() == 1 {
        return Err((
            format!("secret `{name}` is 1 character long"),
            "a secret of at least 2 characters (a single character cannot be hidden from output)"
                .to_string(),
        ));
    }
    Ok(())
}

impl Redactor {
    /// Is a variable with this name secret (by suffix, or declared in `lvslab_secret_vars`)?
    pub(crate) fn is_secret_name(&self, name: &str) -> bool {
        secret_by_suffix(name) || self.patterns.iter().any(|p| glob(p, name))
    }

    /// Take `lvslab_secret_vars` (a name or pattern, or a list of them) from variables as
    /// loaded.
    pub(crate) fn declare_names(&mut self, vars: &[(Key, Node)]) -> Result<(), Diag> {
        const EXPECT: &str = "a list of variable names or `*` patterns";
        for (k, v) in vars.iter().filter(|(k, _)| k.name == SECRET_VARS) {
            let names: Vec<String> = match &v.v {
                Value::Seq(items) => items
                    .iter()
                    .map(|i| i.as_str(EXPECT).map(str::to_string))
                    .collect::<Result<_, _>>()?,
                Value::Str(s) => vec![s.clone()],
                _ => return Err(v.type_error(EXPECT)),
            };
            if let Some(bad) = names
                .iter()
                .find(|n| n.is_empty() || n.chars().any(char::is_whitespace))
            {
                return Err(
                    Diag::at(v, format!("invalid name `{bad}` in `{}`", k.name)).expected(EXPECT)
                );
            }
            for n in names {
                if !self.patterns.contains(&n) {
                    self.patterns.push(n);
                }
            }
        }
        Ok(())
    }

    /// Remember a secret value: from now on it is masked in what this redactor cleans.
    pub(crate) fn add_value(&mut self, value: &str) {
        let fs = forms(value);
        if fs.is_empty() {
            return;
        }
        for f in fs {
            if !self.values.contains(&f) {
                self.values.push(f);
            }
        }
        self.values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Everything `other` knows too.
    pub(crate) fn extend(&mut self, other: &Redactor) {
        for p in &other.patterns {
            if !self.patterns.contains(p) {
                self.patterns.push(p.clone());
            }
        }
        for v in &other.values {
            self.add_value(v);
        }
    }

    /// Remember the values of the secret-named variables among loaded `vars`. Err: a secret
    /// too short to hide ([`check_length`]).
    pub(crate) fn add_named(&mut self, vars: &[(Key, Node)]) -> Result<(), Diag> {
        for (k, v) in vars {
            if self.is_secret_name(&k.name) {
                let value = match v.to_json() {
                    Json::String(s) if !crate::template::is_templated(&s) => s,
                    Json::Number(n) => n.to_string(),
                    _ => continue,
                };
                check_length(&k.name, &value)
                    .map_err(|(msg, expected)| Diag::at(v, msg).expected(expected))?;
                self.add_value(&value);
            }
        }
        Ok(())
    }

    /// Remember the values of every secret-named variable in `vars`, at any depth
    /// (`hostvars.node04.keepalived_auth_pass`).
    pub(crate) fn add_vars(&mut self, vars: &Map<String, Json>) {
        for v in self.secret_values(vars) {
            self.add_value(&v);
        }
    }

    /// Values of secret-named variables in `vars` (rendered: a value that still holds `{{`
    /// came out of a `{% raw %}` block, or is a template not yet rendered, and is hidden as it
    /// is), at any depth.
    fn secret_values(&self, vars: &Map<String, Json>) -> Vec<String> {
        fn walk(r: &Redactor, vars: &Map<String, Json>, out: &mut Vec<String>, depth: usize) {
            for (k, v) in vars {
                match v {
                    Json::String(s) if r.is_secret_name(k) => out.push(s.clone()),
                    Json::Number(n) if r.is_secret_name(k) => out.push(n.to_string()),
                    Json::Object(m) if depth < 4 => walk(r, m, out, depth + 1),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(self, vars, &mut out, 0);
        out
    }

    /// `s` with every known secret value replaced by `********`, and the value of every
    /// secret-named key masked in the source lines an error shows.
    pub(crate) fn redact(&self, s: &str) -> String {
        let shown = line::mask_shown_lines(s, |l| {
            self.mask_values(&line::redact_line(l, |k| self.is_secret_name(k)))
        });
        self.mask_values(&shown)
    }

    /// `s` with each known value (longest first) replaced by `********`.
    fn mask_values(&self, s: &str) -> String {
        let mut out = s.to_string();
        for v in &self.values {
            if !v.is_empty() && out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        out
    }

    /// Redact every string (keys included) inside a JSON document.
    pub(crate) fn redact_json(&self, v: &mut Json) {
        match v {
            Json::String(s) => *s = self.redact(s),
            Json::Array(a) => a.iter_mut().for_each(|x| self.redact_json(x)),
            Json::Object(m) => {
                let old = std::mem::take(m);
                for (k, mut x) in old {
                    self.redact_json(&mut x);
                    m.insert(self.redact(&k), x);
                }
            }
            _ => {}
        }
    }

    /// Does `content` hold a known secret value (so the file holding it must not be readable
    /// by everyone)?
    pub(crate) fn contains_secret(&self, content: &[u8]) -> bool {
        self.values
            .iter()
            .any(|v| !v.is_empty() && memfind(content, v.as_bytes()))
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_suffix_and_pattern() {
        let r = Redactor::default();
        assert!(r.is_secret_name("keepalived_auth_pass"));
        assert!(r.is_secret_name("db_password"));
        assert!(r.is_secret_name("api_token"));
        assert!(!r.is_secret_name("lvs_vip"));
        assert!(!r.is_secret_name("passive"));
        assert!(glob("vault_*", "vault_db"));
        assert!(glob("*_key", "tls_key"));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("a*b*c", "a-x-c"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn redacts_values_and_their_keepalived_prefix() {
        let vars = serde_json::json!({
            "keepalived_auth_pass": "supersecret99",
            "lvs_vip": "10.0.0.50",
            "hostvars": {"n4": {"other_pass": "n4secret"}},
            "t_pass": "{{ x }}",
        });
        let mut r = Redactor::default();
        r.add_vars(vars.as_object().unwrap());
        assert_eq!(
            r.redact("pass supersecret99 / supersec / 10.0.0.50 / n4secret"),
            "pass ******** / ******** / 10.0.0.50 / ********"
        );
        assert!(forms("x").is_empty());
        // What one redactor knows, another does not.
        assert_eq!(Redactor::default().redact("supersecret99"), "supersecret99");
    }

    fn parse(text: &str) -> Result<Node, Diag> {
        crate::yaml::parse(crate::yaml::Source::new(
            std::path::Path::new("t.yml"),
            text.to_string(),
        ))
    }

    #[test]
    fn secret_values_hidden_in_the_source_lines_errors_show() {
        let r = Redactor::default();
        let n = parse("vars:\n  keepalived_auth_pass: [oops]\n").unwrap();
        let v = n.get("vars").unwrap().get("keepalived_auth_pass").unwrap();
        let d = v.type_error("a string");
        assert!(
            r.redact(&d.to_string())
                .contains("2 │   keepalived_auth_pass: ********\n"),
            "{d}"
        );
        // Flow style.
        let n = parse("h: {a: 1, keepalived_auth_pass: s3cr3t, b: [x]}\n").unwrap();
        let d = n.get("h").unwrap().get("b").unwrap().type_error("a string");
        assert!(
            r.redact(&d.to_string())
                .contains("1 │ h: {a: 1, keepalived_auth_pass: ********, b: [x]}\n"),
            "{d}"
        );
    }
}
