//! Extra variables (`-e`), read as `ansible-playbook -e` reads them: `@FILE` loads a YAML or
//! JSON file of variables; text starting with `{` or `[` is inline YAML/JSON; anything else is
//! `key=value` pairs split like Ansible splits module arguments (`-e 'a=1 b="two words"'`),
//! every value a string (text that is not all `key=value` words is one `KEY=VALUE`, its value
//! everything after the first `=`). Later `-e` options override earlier ones.

use std::path::Path;

use serde_json::{Map, Value as Json};

use super::PlanError;
use crate::yaml::{self, Diag, LoadError, Node, Schema, Source, Value};

/// Parse every `-e` option, in order.
pub(crate) fn parse_extra(args: &[String]) -> Result<Map<String, Json>, PlanError> {
    let mut out = Map::new();
    for a in args {
        let t = a.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(file) = t.strip_prefix('@') {
            let path = Path::new(file);
            let text = yaml::read_file(path)?;
            let root = yaml::parse_with(Source::new(path, text), Schema::Ansible)
                .map_err(LoadError::Syntax)?;
            out.extend(mapping(&root, "a file of variables (`name: value` lines)")?);
        } else if t.starts_with(['/', '.']) {
            return Err(PlanError::Usage(format!(
                "-e {a}: to read variables from a file, put `@` before its name: -e @{t}"
            )));
        } else if t.starts_with(['{', '[']) {
            let root =
                yaml::parse_with(Source::new(Path::new("-e"), t.to_string()), Schema::Ansible)?;
            out.extend(mapping(
                &root,
                "a mapping of variables, e.g. {\"name\": \"value\"}",
            )?);
        } else {
            out.extend(key_values(a, t)?);
        }
    }
    Ok(out)
}

/// A document of variables: a mapping with valid names.
fn mapping(root: &Node, expected: &str) -> Result<Map<String, Json>, PlanError> {
    let Value::Map(m) = &root.v else {
        return Err(Diag::at(root, format!("wrong type: found {}", root.kind()))
            .expected(expected.to_string())
            .into());
    };
    let mut out = Map::new();
    for (k, v) in m {
        if !crate::names::is_identifier(&k.name) {
            return Err(Diag::at_key(
                k,
                &root.src,
                format!("`{}` is not a valid variable name", k.name),
            )
            .expected("a name of letters, digits and `_`, not starting with a digit")
            .into());
        }
        out.insert(k.name.clone(), v.to_json());
    }
    Ok(out)
}

/// `a=1 b="two words"`: Ansible's argument splitting, then each `key=value`. When the words are
/// not all `key=value` (`-e 'motd=hello world'`), the text is one `KEY=VALUE` whose value is
/// everything after the first `=`, as lvslab has always read it.
fn key_values(arg: &str, text: &str) -> Result<Map<String, Json>, PlanError> {
    let pairs: Option<Vec<(String, String)>> = split_args(text).and_then(|words| {
        words
            .iter()
            .map(|w| {
                let (k, v) = w.split_once('=')?;
                let k = k.trim();
                crate::names::is_identifier(k)
                    .then(|| (k.to_string(), unquote(v.trim()).to_string()))
            })
            .collect()
    });
    let pairs = match pairs {
        Some(p) => p,
        None => {
            let Some((k, v)) = text.split_once('=') else {
                return Err(PlanError::Usage(format!(
                    "-e {arg}: expected KEY=VALUE, @FILE or a JSON object"
                )));
            };
            if !crate::names::is_identifier(k) {
                return Err(PlanError::Usage(format!(
                    "-e {arg}: `{k}` is not a valid variable name"
                )));
            }
            vec![(k.to_string(), v.to_string())]
        }
    };
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k, Json::String(v)))
        .collect())
}

/// Ansible's `unquote`: one pair of matching outer quotes removed.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Ansible's `split_args` for one line of `key=value` pairs: split on spaces, except inside
/// quotes or `{{ }}` / `{% %}` blocks, which are kept whole (quotes included). `None` when a
/// quote or block is left open.
fn split_args(text: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut quote: Option<char> = None;
    let (mut print, mut block) = (0i32, 0i32);
    for (i, tok) in text.split(' ').enumerate() {
        if tok.is_empty() {
            if i > 0 && (quote.is_some() || print > 0 || block > 0) {
                if let Some(last) = out.last_mut() {
                    last.push(' ');
                }
            }
            continue;
        }
        let joined = quote.is_some() || print > 0 || block > 0;
        let mut prev = None;
        for c in tok.chars() {
            if (c == '"' || c == '\'') && prev != Some('\\') {
                match quote {
                    Some(q) if q == c => quote = None,
                    None => quote = Some(c),
                    _ => {}
                }
            }
            prev = Some(c);
        }
        print = (print + count(tok, "{{") - count(tok, "}}")).max(0);
        block = (block + count(tok, "{%") - count(tok, "%}")).max(0);
        match out.last_mut() {
            Some(last) if joined => {
                last.push(' ');
                last.push_str(tok);
            }
            _ => out.push(tok.to_string()),
        }
    }
    (quote.is_none() && print == 0 && block == 0).then_some(out)
}

fn count(s: &str, pat: &str) -> i32 {
    s.matches(pat).count() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn e(args: &[&str]) -> Result<Json, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_extra(&args)
            .map(Json::Object)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn key_values_split_as_ansible_does() {
        assert_eq!(
            e(&["a=1 b='two words'  c=\"x=y\"", "d=4"]).unwrap(),
            json!({"a": "1", "b": "two words", "c": "x=y", "d": "4"})
        );
        // Not all `key=value`: one variable, everything after the first `=` (as before).
        assert_eq!(e(&["msg={{ a }} b"]).unwrap(), json!({"msg": "{{ a }} b"}));
        assert_eq!(
            e(&["motd=hello world; x=1"]).unwrap(),
            json!({"motd": "hello world; x=1"})
        );
        assert_eq!(
            e(&["greeting"]).unwrap_err(),
            "-e greeting: expected KEY=VALUE, @FILE or a JSON object"
        );
        assert_eq!(
            e(&["t={{ a | default('x y') }}"]).unwrap(),
            json!({"t": "{{ a | default('x y') }}"})
        );
        assert_eq!(e(&["a='open"]).unwrap(), json!({"a": "'open"}));
        assert_eq!(e(&["a=1", "a=2"]).unwrap(), json!({"a": "2"}));
    }

    #[test]
    fn inline_yaml_and_files() {
        assert_eq!(
            e(&["{\"n\": 1, \"l\": [true]}"]).unwrap(),
            json!({"n": 1, "l": [true]})
        );
        let err = e(&["[1, 2]"]).unwrap_err();
        assert!(
            err.starts_with("wrong type: found a list\n ——▶ -e:1:1"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.yml");
        std::fs::write(&f, "port: 0644\nname: web\n").unwrap();
        let arg = format!("@{}", f.display());
        assert_eq!(e(&[&arg]).unwrap(), json!({"port": 420, "name": "web"}));
        std::fs::write(&f, "- a\n").unwrap();
        assert!(e(&[&arg]).unwrap_err().contains("v.yml:1:1"));
        assert!(e(&["./v.yml"]).unwrap_err().contains("put `@` before"));
        let missing = format!("@{}", dir.path().join("nope.yml").display());
        assert!(e(&[&missing]).unwrap_err().starts_with("cannot read "));
    }
}
