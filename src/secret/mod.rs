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
//! line in flow style) is hidden too. The known values live in one process-wide registry:
//! redaction is needed by every layer, including error formatting in `main`, long after the
//! variables themselves are out of reach.

mod line;
pub mod prompt;
mod source;

use std::sync::RwLock;

use serde_json::{Map, Value as Json};

use crate::yaml::{Diag, Key, Node, Value};

pub(crate) use line::redact_line;
pub(crate) use source::resolve_sources;

/// A password the engine hands to a tool on the node or to ssh (a login or `become` password):
/// it prints as the mask in any debug output, so a plan or connection parameters dumped for
/// diagnosis cannot show it, and it is registered for redaction when made.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: String) -> Secret {
        add_value(&value);
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

#[derive(Default)]
struct Registry {
    patterns: Vec<String>,
    /// Longest first, so a secret containing another is replaced whole.
    values: Vec<String>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    patterns: Vec::new(),
    values: Vec::new(),
});

/// Is a variable with this name secret (by suffix, or listed in `lvslab_secret_vars`)?
pub(crate) fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let builtin = ["_pass", "_password", "_secret", "_token", "_passwd"]
        .iter()
        .any(|s| n.ends_with(s))
        || n == "password";
    builtin
        || REGISTRY
            .read()
            .map(|r| r.patterns.iter().any(|p| glob(p, name)))
            .unwrap_or(false)
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

/// Take `lvslab_secret_vars` (a name or pattern, or a list of them) from variables as loaded.
pub(crate) fn declare_names(vars: &[(Key, Node)]) -> Result<(), Diag> {
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
        add_names(names);
    }
    Ok(())
}

/// Add names or patterns to those that are secret.
fn add_names<I: IntoIterator<Item = String>>(names: I) {
    if let Ok(mut r) = REGISTRY.write() {
        for n in names {
            if !r.patterns.contains(&n) {
                r.patterns.push(n);
            }
        }
    }
}

/// The forms of a secret value that must never be printed: the value, and for values longer
/// than 8 characters their first 8 (keepalived uses only those of `auth_pass`, and a
/// validation error on the node may quote them). Values shorter than 2 characters would hide
/// half of every line and are not treated as findable text.
pub(crate) fn forms(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.chars().count() >= 2 {
        out.push(value.to_string());
        if value.chars().count() > 8 {
            out.push(value.chars().take(8).collect());
        }
    }
    out
}

/// Forget every secret name pattern and value (the fuzz targets load many inventories in one
/// process).
pub(crate) fn reset() {
    if let Ok(mut r) = REGISTRY.write() {
        r.patterns.clear();
        r.values.clear();
    }
}

/// Remember a secret value: from now on it is redacted from all output.
pub(crate) fn add_value(value: &str) {
    let fs = forms(value);
    if fs.is_empty() {
        return;
    }
    if let Ok(mut r) = REGISTRY.write() {
        for f in fs {
            if !r.values.contains(&f) {
                r.values.push(f);
            }
        }
        r.values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Remember the values of the secret-named variables among loaded `vars`. Err: a secret too
/// short to hide (`check_length`).
pub(crate) fn add_named(vars: &[(Key, Node)]) -> Result<(), Diag> {
    for (k, v) in vars {
        if is_secret_name(&k.name) {
            let value = match v.to_json() {
                Json::String(s) if !crate::template::is_templated(&s) => s,
                Json::Number(n) => n.to_string(),
                _ => continue,
            };
            check_length(&k.name, &value)
                .map_err(|(msg, expected)| Diag::at(v, msg).expected(expected))?;
            add_value(&value);
        }
    }
    Ok(())
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

/// Remember the values of every secret-named variable in `vars`, at any depth
/// (`hostvars.node04.keepalived_auth_pass`).
pub(crate) fn add_vars(vars: &Map<String, Json>) {
    for v in secret_values(vars) {
        add_value(&v);
    }
}

/// Values of secret-named variables in `vars` (rendered: a value that still holds `{{` came
/// out of a `{% raw %}` block, or is a template not yet rendered, and is hidden as it is), at
/// any depth.
pub(crate) fn secret_values(vars: &Map<String, Json>) -> Vec<String> {
    fn walk(vars: &Map<String, Json>, out: &mut Vec<String>, depth: usize) {
        for (k, v) in vars {
            match v {
                Json::String(s) if is_secret_name(k) => out.push(s.clone()),
                Json::Number(n) if is_secret_name(k) => out.push(n.to_string()),
                Json::Object(m) if depth < 4 => walk(m, out, depth + 1),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(vars, &mut out, 0);
    out
}

/// `s` with every known secret value replaced by `********`, and the value of every
/// secret-named key masked in the source lines an error shows.
pub fn redact(s: &str) -> String {
    let Ok(r) = REGISTRY.read() else {
        return s.to_string();
    };
    let shown = line::mask_shown_lines(s, |l| redact_with(&redact_line(l), &r.values));
    redact_with(&shown, &r.values)
}

/// `s` with each of `values` (longest first) replaced by `********`.
pub(crate) fn redact_with(s: &str, values: &[String]) -> String {
    let mut out = s.to_string();
    for v in values {
        if !v.is_empty() && out.contains(v.as_str()) {
            out = out.replace(v.as_str(), MASK);
        }
    }
    out
}

/// Redact every string (keys included) inside a JSON document.
pub(crate) fn redact_json(v: &mut Json) {
    match v {
        Json::String(s) => *s = redact(s),
        Json::Array(a) => a.iter_mut().for_each(redact_json),
        Json::Object(m) => {
            let old = std::mem::take(m);
            for (k, mut x) in old {
                redact_json(&mut x);
                m.insert(redact(&k), x);
            }
        }
        _ => {}
    }
}

/// Does `content` hold a known secret value (so the file holding it must not be readable by
/// everyone)?
pub(crate) fn contains_secret(content: &[u8]) -> bool {
    let Ok(r) = REGISTRY.read() else {
        return false;
    };
    r.values
        .iter()
        .any(|v| !v.is_empty() && memfind(content, v.as_bytes()))
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_suffix_and_pattern() {
        assert!(is_secret_name("keepalived_auth_pass"));
        assert!(is_secret_name("db_password"));
        assert!(is_secret_name("api_token"));
        assert!(!is_secret_name("lvs_vip"));
        assert!(!is_secret_name("passive"));
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
        let mut values: Vec<String> = secret_values(vars.as_object().unwrap())
            .iter()
            .flat_map(|v| forms(v))
            .collect();
        values.sort_by_key(|s| std::cmp::Reverse(s.len()));
        assert_eq!(
            redact_with(
                "pass supersecret99 / supersec / 10.0.0.50 / n4secret",
                &values
            ),
            "pass ******** / ******** / 10.0.0.50 / ********"
        );
        assert!(forms("x").is_empty());
    }

    fn parse(text: &str) -> Result<Node, Diag> {
        crate::yaml::parse(crate::yaml::Source::new(
            std::path::Path::new("t.yml"),
            text.to_string(),
        ))
    }

    #[test]
    fn secret_values_hidden_in_the_source_lines_errors_show() {
        let n = parse("vars:\n  keepalived_auth_pass: [oops]\n").unwrap();
        let v = n.get("vars").unwrap().get("keepalived_auth_pass").unwrap();
        let d = v.type_error("a string");
        assert!(
            redact(&d.to_string()).contains("2 │   keepalived_auth_pass: ********\n"),
            "{d}"
        );
        // Flow style.
        let n = parse("h: {a: 1, keepalived_auth_pass: s3cr3t, b: [x]}\n").unwrap();
        let d = n.get("h").unwrap().get("b").unwrap().type_error("a string");
        assert!(
            redact(&d.to_string())
                .contains("1 │ h: {a: 1, keepalived_auth_pass: ********, b: [x]}\n"),
            "{d}"
        );
    }
}
