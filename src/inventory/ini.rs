//! The INI inventory format, as Ansible's `ini` plugin reads it: `[group]` sections of host
//! lines (`name[:port] key=value ...`, split like a shell line, ranges allowed), `[group:vars]`
//! sections of `key=value` lines, `[group:children]` sections of group names, `#` and `;`
//! comment lines, hosts before any section in `ungrouped`. Values are typed as Python literals
//! (see `literal`). A child group may be declared after the section naming it; one never
//! declared is an error, as is `[g:vars]` for a group declared nowhere.

use std::sync::Arc;

use super::{hostrange, literal, shlex, Inventory, Origin};
use crate::yaml::{Diag, Key, Node, Pos, Source};

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Hosts,
    Children,
    Vars,
}

/// A group named before it was declared, and where.
struct Pending {
    name: String,
    pos: Pos,
    /// A `:vars` section for it, or the `:children` sections (parents) naming it.
    vars: bool,
    parents: Vec<String>,
}

struct Reader<'a> {
    inv: &'a mut Inventory,
    src: Arc<Source>,
    pending: Vec<Pending>,
}

/// Read one INI inventory file into `inv`.
pub(super) fn load(inv: &mut Inventory, src: Arc<Source>) -> Result<(), Diag> {
    let mut r = Reader {
        inv,
        src: src.clone(),
        pending: Vec::new(),
    };
    let mut group = "ungrouped".to_string();
    let mut section = Section::Hosts;
    for (i, raw) in src.text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let indent = raw.chars().count() - raw.trim_start().chars().count();
        let at = |col: usize| Pos {
            line: i + 1,
            col: indent + col + 1,
        };
        if let Some(h) = header(line) {
            let (name, kind) = h.map_err(|msg| r.diag(at(0), msg, SECTION))?;
            group = name;
            section = kind;
            r.section(&group, kind, at(1))?;
            continue;
        }
        match section {
            Section::Hosts => r.host_line(&group, line, &at)?,
            Section::Vars => r.var_line(&group, line, &at)?,
            Section::Children => r.child_line(&group, line, at(0))?,
        }
    }
    match r.pending.first() {
        Some(p) if p.vars => Err(r.diag(
            p.pos,
            format!("section [{}:vars] is for a group declared nowhere", p.name),
            "the group declared by a `[name]` or `[name:children]` section",
        )),
        Some(p) => Err(r.diag(
            p.pos,
            format!(
                "section [{}:children] names group `{}`, declared nowhere",
                p.parents.last().map(String::as_str).unwrap_or(""),
                p.name
            ),
            "the group declared by a `[name]` or `[name:children]` section",
        )),
        None => Ok(()),
    }
}

const SECTION: &str = "`[group]`, `[group:vars]` or `[group:children]`";

/// A section header's group and kind; `None` if the line is not a header at all.
fn header(line: &str) -> Option<Result<(String, Section), String>> {
    let inner = line.strip_prefix('[')?;
    let bad = || {
        line.ends_with(']').then(|| {
            Err(format!(
                "invalid section `{line}` (no spaces or other characters may follow the name)"
            ))
        })
    };
    let Some(close) = inner.find(']') else {
        return bad();
    };
    let rest = inner[close + 1..].trim_start();
    let (name, tag) = match inner[..close].split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (&inner[..close], None),
    };
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !(rest.is_empty() || rest.starts_with('#'))
        || name.is_empty()
        || name.chars().any(char::is_whitespace)
        || !tag.is_none_or(word)
    {
        return bad();
    }
    let kind = match tag {
        None | Some("hosts") => Section::Hosts,
        Some("children") => Section::Children,
        Some("vars") => Section::Vars,
        Some(other) => {
            return Some(Err(format!(
                "section [{name}:{other}] has unknown type `{other}`"
            )))
        }
    };
    Some(Ok((name.to_string(), kind)))
}

impl Reader<'_> {
    fn diag(&self, pos: Pos, msg: impl Into<String>, expected: &str) -> Diag {
        Diag::new(&self.src, pos, msg).expected(expected.to_string())
    }

    fn origin(&self, name: &str, pos: Pos) -> Origin {
        Origin {
            key: Key {
                name: name.to_string(),
                pos,
            },
            src: self.src.clone(),
        }
    }

    fn section(&mut self, group: &str, kind: Section, pos: Pos) -> Result<(), Diag> {
        if !self.inv.has_group(group) {
            if kind == Section::Vars && !self.pending.iter().any(|p| p.name == group) {
                self.pending.push(Pending {
                    name: group.to_string(),
                    pos,
                    vars: true,
                    parents: Vec::new(),
                });
            }
            let origin = (kind != Section::Vars).then(|| self.origin(group, pos));
            self.inv.add_group(group, origin);
        } else if kind != Section::Vars {
            let origin = self.origin(group, pos);
            self.inv.add_group(group, Some(origin));
        }
        if kind != Section::Vars {
            self.resolve_pending(group, pos)?;
        }
        Ok(())
    }

    /// A group named earlier is declared now: join it to the parents that named it.
    fn resolve_pending(&mut self, group: &str, pos: Pos) -> Result<(), Diag> {
        let Some(i) = self.pending.iter().position(|p| p.name == group) else {
            return Ok(());
        };
        let p = self.pending.remove(i);
        if p.vars {
            return Ok(());
        }
        for parent in &p.parents {
            self.inv
                .add_child(parent, group)
                .map_err(|e| self.diag(pos, e, "groups without loops"))?;
            if self.pending.iter().any(|q| q.name == *parent && !q.vars) {
                self.resolve_pending(parent, pos)?;
            }
        }
        Ok(())
    }

    fn value(&self, text: &str, pos: Pos) -> Node {
        let node = |v| Node {
            v,
            pos,
            src: self.src.clone(),
        };
        node(literal::typed(text).into_value(&node))
    }

    fn host_line(
        &mut self,
        group: &str,
        line: &str,
        at: &dyn Fn(usize) -> Pos,
    ) -> Result<(), Diag> {
        let words = shlex::split(line).map_err(|e| {
            self.diag(
                at(e.col),
                format!("cannot split the host line: {}", e.msg),
                "balanced quotes",
            )
        })?;
        let Some((first, rest)) = words.split_first() else {
            return Ok(());
        };
        let entry_pos = at(first.col);
        let entry = &first.text;
        if entry.trim() == "---" {
            return Err(self.diag(
                entry_pos,
                "`---` is not a host: is this a YAML file?",
                "a YAML inventory named `.yml`/`.yaml`, or INI host lines",
            ));
        }
        let found = hostrange::expand(entry).map_err(|e| {
            let expected = "a host name, `name:port` or a range like `node[01:04]`";
            let mut d = self.diag(entry_pos, e, expected);
            d.width = entry.chars().count().max(1);
            d
        })?;
        if entry.trim_end().ends_with(':') && found.port.is_none() {
            return Err(self.diag(
                entry_pos,
                format!("host `{entry}` ends in `:` without a port"),
                "`name:port`, e.g. `db1:2222`",
            ));
        }
        let mut vars = Vec::new();
        for w in rest {
            let pos = at(w.col);
            let Some((k, v)) = w.text.split_once('=') else {
                return Err(self.diag(
                    pos,
                    format!("`{}` is not a host variable assignment", w.text),
                    "`key=value` after the host name",
                ));
            };
            let vpos = Pos {
                line: pos.line,
                col: pos.col + k.chars().count() + 1,
            };
            vars.push((
                Key {
                    name: k.to_string(),
                    pos,
                },
                self.value(v, vpos),
            ));
        }
        let origin = self.origin(entry, entry_pos);
        for name in &found.names {
            self.inv.add_host(name, group, found.port, &origin);
            for (k, v) in &vars {
                self.inv.set_host_var(name, k.clone(), v.clone());
            }
        }
        Ok(())
    }

    fn var_line(&mut self, group: &str, line: &str, at: &dyn Fn(usize) -> Pos) -> Result<(), Diag> {
        let Some((k, v)) = line.split_once('=') else {
            return Err(self.diag(
                at(0),
                format!("`{line}` is not a variable assignment"),
                "`key=value`",
            ));
        };
        let key = Key {
            name: k.trim().to_string(),
            pos: at(0),
        };
        let vcol = k.chars().count() + 1 + (v.chars().count() - v.trim_start().chars().count());
        let value = self.value(v.trim(), at(vcol));
        self.inv.set_group_var(group, key, value)
    }

    fn child_line(&mut self, group: &str, line: &str, pos: Pos) -> Result<(), Diag> {
        let name = line.split('#').next().unwrap_or("").trim_end();
        if name.is_empty() || name.contains([':', ']']) || name.chars().any(char::is_whitespace) {
            return Err(self.diag(
                pos,
                format!("`{line}` is not a group name"),
                "one group name per line",
            ));
        }
        if self.inv.has_group(name) {
            return self
                .inv
                .add_child(group, name)
                .map_err(|e| self.diag(pos, e, "groups without loops"));
        }
        match self.pending.iter_mut().find(|p| p.name == name) {
            Some(p) => p.parents.push(group.to_string()),
            None => self.pending.push(Pending {
                name: name.to_string(),
                pos,
                vars: false,
                parents: vec![group.to_string()],
            }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Inventory;
    use crate::yaml::Source;
    use serde_json::json;
    use std::path::Path;

    fn ini(text: &str) -> Result<Inventory, String> {
        let mut inv = Inventory::empty(Path::new("hosts"));
        super::load(&mut inv, Source::new(Path::new("hosts"), text.into()))
            .map_err(|d| d.to_string())?;
        inv.reconcile().map_err(|d| d.to_string())?;
        Ok(inv)
    }

    #[test]
    fn groups_children_vars_and_ungrouped() {
        let i = ini("lone\n[web]\nnode[01:02] x=1 s='a b'\n[web:vars]\ng=True\n[prod:children]\nweb\ndb\n[db]\ndb1:2222\n").unwrap();
        assert_eq!(i.host_names(), ["lone", "node01", "node02", "db1"]);
        assert_eq!(i.group_hosts("prod").unwrap(), ["node01", "node02", "db1"]);
        assert_eq!(i.group_hosts("ungrouped").unwrap(), ["lone"]);
        let v = i.host_vars("node02").unwrap();
        assert_eq!(v["x"], json!(1));
        assert_eq!(v["s"], json!("a b"));
        assert_eq!(v["g"], json!(true));
        assert_eq!(i.host_vars("db1").unwrap()["ansible_port"], json!(2222));
        assert_eq!(i.groups_of("node01"), ["all", "prod", "web"]);
    }

    #[test]
    fn errors_are_located() {
        let e = ini("[web]\nh1 x='open\n").unwrap_err();
        assert!(
            e.starts_with("cannot split the host line: no closing quotation\n ——▶ hosts:2:6\n"),
            "{e}"
        );
        let e = ini("[web]\n  h1 junk\n").unwrap_err();
        assert!(
            e.starts_with("`junk` is not a host variable assignment\n ——▶ hosts:2:6\n"),
            "{e}"
        );
        let e = ini("[a:vars]\nx=1\n").unwrap_err();
        assert!(
            e.starts_with("section [a:vars] is for a group declared nowhere\n ——▶ hosts:1:2\n"),
            "{e}"
        );
        let e = ini("[p:children]\nc\n").unwrap_err();
        assert!(
            e.starts_with(
                "section [p:children] names group `c`, declared nowhere\n ——▶ hosts:2:1\n"
            ),
            "{e}"
        );
        let e = ini("[web ]\n").unwrap_err();
        assert!(e.starts_with("invalid section `[web ]`"), "{e}");
        let e = ini("[web:hostz]\n").unwrap_err();
        assert!(
            e.starts_with("section [web:hostz] has unknown type `hostz`"),
            "{e}"
        );
        let e = ini("[web]\nn[01:3]\n").unwrap_err();
        assert!(e.contains("same number of digits"), "{e}");
    }

    #[test]
    fn pending_children_join_when_declared() {
        let i = ini("[p:children]\nc\n[c]\nh\n").unwrap();
        assert_eq!(i.group_hosts("p").unwrap(), ["h"]);
        assert_eq!(i.groups_of("h"), ["all", "p", "c"]);
    }
}
