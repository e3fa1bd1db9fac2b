//! YAML with source locations.
//!
//! Every user error must name file:line:column, so inventories and playbooks are not
//! deserialised straight into structs: they are parsed into a small located tree ([`Node`]) that
//! keeps the position of every key and value, and the typed layers walk that tree by hand. Syntax
//! errors come from `serde_yaml_ng` (libyaml's messages); the located tree is built from
//! `yaml-rust2`'s events (anchors, aliases and merge keys resolved there).

mod build;
mod scalar;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;

pub(crate) use scalar::Schema;

/// A loaded user file: its path (as given) and its text, kept to print the offending line.
#[derive(Debug)]
pub struct Source {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
}

impl Source {
    pub(crate) fn new(path: &Path, text: String) -> Arc<Source> {
        Arc::new(Source {
            path: path.to_path_buf(),
            text,
        })
    }
    /// The text of 1-based line `line`, without its newline.
    pub(crate) fn line(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }
}

/// A 1-based line and column in a [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub(crate) line: usize,
    pub(crate) col: usize,
}

/// A user-facing error located in a file: printed like `just` does, with the source line and a
/// caret under the mistake, plus what was expected.
#[derive(Debug, Clone)]
pub struct Diag {
    pub(crate) src: Arc<Source>,
    pub(crate) pos: Pos,
    pub(crate) width: usize,
    pub(crate) msg: String,
    pub(crate) expected: Option<String>,
}

impl Diag {
    pub(crate) fn new(src: &Arc<Source>, pos: Pos, msg: impl Into<String>) -> Diag {
        Diag {
            src: src.clone(),
            pos,
            width: 1,
            msg: msg.into(),
            expected: None,
        }
    }
    pub(crate) fn at(node: &Node, msg: impl Into<String>) -> Diag {
        let mut d = Diag::new(&node.src, node.pos, msg);
        d.width = node.width();
        d
    }
    pub(crate) fn at_key(key: &Key, src: &Arc<Source>, msg: impl Into<String>) -> Diag {
        let mut d = Diag::new(src, key.pos, msg);
        d.width = key.name.chars().count().max(1);
        d
    }
    pub(crate) fn expected(mut self, what: impl Into<String>) -> Diag {
        self.expected = Some(what.into());
        self
    }
    /// `file:line:column`
    pub(crate) fn location(&self) -> String {
        format!(
            "{}:{}:{}",
            self.src.path.display(),
            self.pos.line,
            self.pos.col
        )
    }
}

impl std::error::Error for Diag {}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line_no = self.pos.line.to_string();
        let pad = " ".repeat(line_no.len());
        // Shown as written: what it may hold of a secret is masked where output leaves the
        // program, by the redactor of the command that knows the secrets.
        let line = self.src.line(self.pos.line);
        writeln!(f, "{}", self.msg)?;
        writeln!(f, "{pad}——▶ {}", self.location())?;
        writeln!(f, "{pad} │")?;
        writeln!(f, "{line_no} │ {line}")?;
        let indent: String = line
            .chars()
            .take(self.pos.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let avail = line
            .chars()
            .count()
            .saturating_sub(self.pos.col.saturating_sub(1));
        let width = self.width.min(avail.max(1)).max(1);
        write!(f, "{pad} │ {indent}{}", "^".repeat(width))?;
        if let Some(exp) = &self.expected {
            write!(f, "\n{pad} = expected {exp}")?;
        }
        Ok(())
    }
}

/// A mapping key with its position.
#[derive(Debug, Clone)]
pub struct Key {
    pub(crate) name: String,
    pub(crate) pos: Pos,
}

/// A YAML value with its position and the file it came from.
#[derive(Debug, Clone)]
pub struct Node {
    pub(crate) v: Value,
    pub(crate) pos: Pos,
    pub(crate) src: Arc<Source>,
}

/// The YAML core-schema value of a [`Node`].
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Node {
    /// A human name for this node's type, for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self.v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
    fn width(&self) -> usize {
        match &self.v {
            Value::Str(s) => s
                .lines()
                .next()
                .map(|l| l.chars().count())
                .unwrap_or(1)
                .max(1),
            Value::Int(i) => i.to_string().len(),
            Value::Bool(b) => b.to_string().len(),
            _ => 1,
        }
    }
    pub(crate) fn type_error(&self, expected: &str) -> Diag {
        Diag::at(self, format!("wrong type: found {}", self.kind())).expected(expected.to_string())
    }
    pub(crate) fn as_map(&self, expected: &str) -> Result<&[(Key, Node)], Diag> {
        match &self.v {
            Value::Map(m) => Ok(m),
            Value::Null => Ok(&[]),
            _ => Err(self.type_error(expected)),
        }
    }
    pub(crate) fn as_seq(&self, expected: &str) -> Result<&[Node], Diag> {
        match &self.v {
            Value::Seq(s) => Ok(s),
            Value::Null => Ok(&[]),
            _ => Err(self.type_error(expected)),
        }
    }
    /// A scalar as text (strings, numbers and booleans; YAML authors write `port: 22`).
    pub(crate) fn as_scalar_str(&self, expected: &str) -> Result<String, Diag> {
        match &self.v {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Float(x) => Ok(x.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(self.type_error(expected)),
        }
    }
    pub(crate) fn as_str(&self, expected: &str) -> Result<&str, Diag> {
        match &self.v {
            Value::Str(s) => Ok(s),
            _ => Err(self.type_error(expected)),
        }
    }
    pub(crate) fn as_bool(&self, expected: &str) -> Result<bool, Diag> {
        match &self.v {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.type_error(expected)),
        }
    }
    /// Drop locations: the plain JSON value (variables, module arguments).
    pub(crate) fn to_json(&self) -> Json {
        match &self.v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(x) => serde_json::Number::from_f64(*x)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            Value::Str(s) => Json::String(s.clone()),
            Value::Seq(s) => Json::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
    /// The value of `key` in a mapping node.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.v {
            Value::Map(m) => m.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Read a user file's text.
pub(crate) fn read_file(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|e| LoadError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Errors reading a user file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(Diag),
}

/// Parse YAML text into a located tree, plain scalars typed by the playbook schema.
pub(crate) fn parse(src: Arc<Source>) -> Result<Node, Diag> {
    parse_with(src, Schema::Core)
}

/// Parse YAML text into a located tree, plain scalars typed by `schema`.
pub(crate) fn parse_with(src: Arc<Source>, schema: Schema) -> Result<Node, Diag> {
    // libyaml (through serde_yaml_ng) gives the better syntax messages; check with it first.
    // It also refuses several documents in one file and aliases that expand without bound.
    let top = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&src.text);
    if let Err(e) = &top {
        let pos = e
            .location()
            .map(|l| Pos {
                line: l.line(),
                col: l.column(),
            })
            .unwrap_or(Pos { line: 1, col: 1 });
        // An error at the end of the text is shown at the end of its last line, not on an
        // empty line after it.
        let lines = src.text.lines().count();
        let pos = match src.text.lines().last() {
            Some(last) if pos.line > lines => Pos {
                line: lines,
                col: last.chars().count() + 1,
            },
            _ => pos,
        };
        let msg = e.to_string();
        // serde_yaml_ng appends " at line X column Y"; the location is printed separately.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        return Err(
            Diag::new(&src, pos, format!("YAML syntax error: {msg}")).expected("valid YAML")
        );
    }
    let root = build::build(&src, schema)?;
    Ok(root.unwrap_or(Node {
        v: Value::Null,
        pos: Pos { line: 1, col: 1 },
        src,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Node, Diag> {
        parse(Source::new(Path::new("t.yml"), text.to_string()))
    }

    #[test]
    fn typed_scalars_and_positions() {
        let n = p("a: 1\nb: 'x'\nc: yes\nd: 1.5\ne:\n  - 0644\nf: \"0644\"\n").unwrap();
        assert!(matches!(n.get("a").unwrap().v, Value::Int(1)));
        assert!(matches!(n.get("b").unwrap().v, Value::Str(ref s) if s == "x"));
        assert!(matches!(n.get("c").unwrap().v, Value::Bool(true)));
        assert!(matches!(n.get("d").unwrap().v, Value::Float(_)));
        assert!(matches!(n.get("f").unwrap().v, Value::Str(ref s) if s == "0644"));
        assert_eq!(n.get("b").unwrap().pos, Pos { line: 2, col: 4 });
    }

    #[test]
    fn syntax_error_is_located() {
        let e = p("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.msg.starts_with("YAML syntax error"), "{}", e.msg);
        assert_eq!(e.src.path, Path::new("t.yml"));
        assert!(e.pos.line >= 1);
    }

    #[test]
    fn renders_caret_under_value() {
        let n = p("hosts:\n  web: 12\n").unwrap();
        let v = n.get("hosts").unwrap().get("web").unwrap();
        let d = v.type_error("a mapping");
        assert_eq!(
            d.to_string(),
            "wrong type: found a number\n ——▶ t.yml:2:8\n  │\n2 │   web: 12\n  │        ^^\n  = expected a mapping"
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys_keep_where_values_are_written() {
        let text = "\
base: &base
  port: 22
  user: admin
extra: &extra
  user: ops
  shell: sh
host:
  <<: [*extra, *base]
  port: 2222
again: *base
quoted:
  \"<<\": 1
";
        let n = p(text).unwrap();
        let h = n.get("host").unwrap();
        let Value::Map(m) = &h.v else { panic!() };
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(keys, ["port", "user", "shell"]);
        // Written keys win; of the merged mappings the first listed wins.
        assert!(matches!(h.get("port").unwrap().v, Value::Int(2222)));
        assert!(matches!(h.get("user").unwrap().v, Value::Str(ref s) if s == "ops"));
        // A merged value points at its anchored text.
        assert_eq!(h.get("shell").unwrap().pos, Pos { line: 6, col: 10 });
        assert_eq!(
            n.get("again").unwrap().get("port").unwrap().pos,
            Pos { line: 2, col: 9 }
        );
        assert!(n.get("quoted").unwrap().get("<<").is_some());
    }

    #[test]
    fn merge_of_a_scalar_is_located() {
        let e = p("a: &a 1\nb:\n  <<: *a\n").unwrap_err();
        assert_eq!(e.msg, "`<<` merges a number");
        assert_eq!(e.pos, Pos { line: 3, col: 3 });
    }

    #[test]
    fn ansible_schema_types_like_pyyaml() {
        let src = Source::new(Path::new("t.yml"), "a: 0644\nb: on\nc: '0644'\n".into());
        let n = parse_with(src, Schema::Ansible).unwrap();
        assert!(matches!(n.get("a").unwrap().v, Value::Int(420)));
        assert!(matches!(n.get("b").unwrap().v, Value::Bool(true)));
        assert!(matches!(n.get("c").unwrap().v, Value::Str(_)));
    }

    #[test]
    fn tags_other_than_str_rejected() {
        let e = p("a: !vault xyz\n").unwrap_err();
        assert_eq!(e.msg, "YAML tag `!vault` is not supported");
        let n = p("a: !!str 12\n").unwrap();
        assert!(matches!(n.get("a").unwrap().v, Value::Str(ref s) if s == "12"));
    }

    #[test]
    fn duplicate_keys_rejected() {
        let e = p("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.msg, "YAML syntax error: duplicate entry with key \"a\"");
    }
}
