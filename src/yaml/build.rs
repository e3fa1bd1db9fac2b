//! Builds the located tree from the YAML parser's events.
//!
//! Ansible's inventories lean on anchors, aliases and merge keys (`<<: *defaults`) to share
//! settings between hosts and groups, so they are resolved here, with the positions of the text
//! they came from: an error in a value reached through an alias points at the anchored text,
//! where the value is written. Merge keys follow PyYAML (what Ansible uses): keys written in the
//! mapping win over merged ones, and of several merged mappings the first listed wins.

use std::collections::HashMap;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::scalar::{self, Schema};
use super::{Diag, Key, Node, Pos, Source, Value};

/// Most nodes one document may expand to (aliases included): a guard against alias bombs.
const MAX_NODES: usize = 2_000_000;

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        /// Entries brought in by `<<`, in PyYAML's order (see [`merge_order`]).
        merged: Vec<(Key, Node)>,
        key: Option<KeySlot>,
    },
}

enum KeySlot {
    Key(Key),
    Merge(Pos),
}

struct Builder<'a> {
    src: &'a Arc<Source>,
    schema: Schema,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    nodes: usize,
    error: Option<Diag>,
}

fn pos(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

fn size(n: &Node) -> usize {
    1 + match &n.v {
        Value::Seq(s) => s.iter().map(size).sum(),
        Value::Map(m) => m.iter().map(|(_, v)| size(v)).sum(),
        _ => 0,
    }
}

fn is_str_tag(t: &yaml_rust2::parser::Tag) -> bool {
    matches!(
        (t.handle.as_str(), t.suffix.as_str()),
        ("tag:yaml.org,2002:", "str") | ("!!", "str")
    )
}

impl Builder<'_> {
    fn fail(&mut self, at: Pos, msg: impl Into<String>, expected: &str) {
        if self.error.is_none() {
            self.error = Some(Diag::new(self.src, at, msg).expected(expected.to_string()));
        }
    }

    fn node(&self, v: Value, at: Pos) -> Node {
        Node {
            v,
            pos: at,
            src: self.src.clone(),
        }
    }

    /// A finished node: remembered under its anchor, then placed in its parent.
    fn complete(&mut self, node: Node, anchor: usize, weight: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        self.place(node);
    }

    fn place(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                merged,
                key,
                ..
            }) => match key.take() {
                None => {
                    let name = match &node.v {
                        Value::Str(s) => Some(s.clone()),
                        Value::Int(i) => Some(i.to_string()),
                        Value::Float(x) => Some(x.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        Value::Null => Some(String::new()),
                        _ => None,
                    };
                    match name {
                        Some(name) => {
                            *key = Some(KeySlot::Key(Key {
                                name,
                                pos: node.pos,
                            }))
                        }
                        None => {
                            let at = node.pos;
                            self.fail(at, "mapping keys must be plain scalars", "plain YAML data")
                        }
                    }
                }
                Some(KeySlot::Key(k)) => {
                    if entries.iter().any(|(e, _)| e.name == k.name) {
                        let at = k.pos;
                        let msg = format!("duplicate key `{}`", k.name);
                        self.fail(at, msg, "each key once per mapping");
                    } else {
                        entries.push((k, node));
                    }
                }
                Some(KeySlot::Merge(at)) => match merge_order(&node) {
                    Some(more) => merged.extend(more),
                    None => self.fail(
                        at,
                        format!("`<<` merges {}", node.kind()),
                        "a mapping or a list of mappings (e.g. `<<: *defaults`)",
                    ),
                },
            },
        }
    }
}

/// The entries `<<: value` brings in, in the order PyYAML lays them out: for a list of
/// mappings, the last mapping's entries first, so that the first listed wins when later
/// entries overwrite earlier ones.
fn merge_order(value: &Node) -> Option<Vec<(Key, Node)>> {
    match &value.v {
        Value::Map(m) => Some(m.clone()),
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items.iter().rev() {
                match &item.v {
                    Value::Map(m) => out.extend(m.iter().cloned()),
                    _ => return None,
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Merged entries then written ones; a key keeps its first place and its last value.
fn with_merges(merged: Vec<(Key, Node)>, entries: Vec<(Key, Node)>) -> Vec<(Key, Node)> {
    if merged.is_empty() {
        return entries;
    }
    let mut out: Vec<(Key, Node)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (k, v) in merged.into_iter().chain(entries) {
        match at.get(&k.name) {
            Some(&i) => out[i].1 = v,
            None => {
                at.insert(k.name.clone(), out.len());
                out.push((k, v));
            }
        }
    }
    out
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let at = pos(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = match (&tag, style) {
                    (Some(t), _) if !is_str_tag(t) => {
                        let name = format!("{}{}", t.handle, t.suffix);
                        return self.fail(
                            at,
                            format!("YAML tag `{name}` is not supported"),
                            "plain YAML data",
                        );
                    }
                    (Some(_), _) => Value::Str(text.clone()),
                    (None, TScalarStyle::Plain) => scalar::plain(&text, self.schema),
                    (None, _) => Value::Str(text.clone()),
                };
                // `<<` is a merge key only as a plain scalar (a quoted "<<" is an ordinary key).
                if style == TScalarStyle::Plain && tag.is_none() && text == "<<" {
                    if let Some(Frame::Map { key: k @ None, .. }) = self.stack.last_mut() {
                        *k = Some(KeySlot::Merge(at));
                        return;
                    }
                }
                let n = self.node(v, at);
                self.nodes += 1;
                self.complete(n, anchor, 1);
            }
            Event::SequenceStart(_, Some(t)) | Event::MappingStart(_, Some(t)) => self.fail(
                at,
                format!("YAML tag `{}{}` is not supported", t.handle, t.suffix),
                "plain YAML data",
            ),
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                pos: at,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                pos: at,
                anchor,
                entries: Vec::new(),
                merged: Vec::new(),
                key: None,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq { pos, anchor, items }) = self.stack.pop() {
                    let n = self.node(Value::Seq(items), pos);
                    self.nodes += 1;
                    let w = size(&n);
                    self.complete(n, anchor, w);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    merged,
                    ..
                }) = self.stack.pop()
                {
                    let n = self.node(Value::Map(with_merges(merged, entries)), pos);
                    self.nodes += 1;
                    let w = size(&n);
                    self.complete(n, anchor, w);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some((n, weight)) => {
                    self.nodes += weight;
                    if self.nodes > MAX_NODES {
                        return self.fail(
                            at,
                            "aliases expand to too many values",
                            "fewer or smaller aliased values",
                        );
                    }
                    self.place(n);
                }
                None => self.fail(
                    at,
                    "alias to an unknown anchor",
                    "an anchor defined earlier (`&name`)",
                ),
            },
            _ => {}
        }
    }
}

/// Build the tree of one YAML document (the caller has checked the syntax).
pub(super) fn build(src: &Arc<Source>, schema: Schema) -> Result<Option<Node>, Diag> {
    let mut b = Builder {
        src,
        schema,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        nodes: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(&src.text);
    if let Err(e) = parser.load(&mut b, false) {
        let m = e.marker();
        return Err(
            Diag::new(src, pos(m), format!("YAML syntax error: {}", e.info()))
                .expected("valid YAML"),
        );
    }
    match b.error {
        Some(d) => Err(d),
        None => Ok(b.root),
    }
}
