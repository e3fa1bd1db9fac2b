//! `group_vars/` and `host_vars/`: per group and per host variable files, found as Ansible's
//! `host_group_vars` plugin finds them. For a name, the first of `NAME` (a file, or a directory
//! whose files are all read, in name order, subdirectories too), `NAME.yml`, `NAME.yaml`,
//! `NAME.json` that exists is used; later files of a directory override earlier ones. Hidden
//! files and `~` backups are skipped, as are files with other extensions. Only the names the
//! inventory knows are looked up.

use std::path::{Path, PathBuf};

use super::{InventoryError, VarsDir};
use crate::yaml::{self, Diag, Key, LoadError, Node, Schema, Source, Value};

const EXTENSIONS: &[&str] = &["yml", "yaml", "json"];

/// Most files read for one group or host (a guard against a huge tree by mistake).
const MAX_FILES: usize = 10_000;

/// The variable files of `dir` for the given groups and hosts.
pub(super) fn load(dir: &Path, groups: &[&str], hosts: &[&str]) -> Result<VarsDir, InventoryError> {
    let mut out = VarsDir::default();
    for (sub, names, map) in [
        ("group_vars", groups, &mut out.groups),
        ("host_vars", hosts, &mut out.hosts),
    ] {
        let base = dir.join(sub);
        if !base.is_dir() {
            continue;
        }
        for name in names {
            // A name that is a path (`/x`, `a/../b`) must not reach outside the directory.
            if name.starts_with('/') || name.split('/').any(|p| p == "..") {
                continue;
            }
            let files = find(&base, name)?;
            let mut vars: Vec<(Key, Node)> = Vec::new();
            for f in files {
                vars.extend(read(&f)?);
            }
            if !vars.is_empty() {
                map.insert(name.to_string(), vars);
            }
        }
    }
    Ok(out)
}

fn find(base: &Path, name: &str) -> Result<Vec<PathBuf>, InventoryError> {
    let bare = base.join(name);
    let candidates = std::iter::once(bare.clone())
        .chain(EXTENSIONS.iter().map(|e| base.join(format!("{name}.{e}"))));
    for c in candidates {
        if c.is_dir() {
            let mut found = Vec::new();
            walk(&c, &mut found)?;
            return Ok(found);
        }
        if c.exists() {
            return Ok(vec![c]);
        }
    }
    Ok(Vec::new())
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    for n in super::sources::sorted_names(dir)? {
        if n.starts_with('.') || n.ends_with('~') {
            continue;
        }
        let p = dir.join(&n);
        let ext = p.extension().map(|e| e.to_string_lossy().into_owned());
        if p.is_dir() && ext.is_none() {
            walk(&p, found)?;
        } else if p.is_file() && ext.as_deref().is_none_or(|e| EXTENSIONS.contains(&e)) {
            found.push(p);
        }
        if found.len() > MAX_FILES {
            return Err(InventoryError::Unsupported(format!(
                "{} holds more than {MAX_FILES} variable files",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// One variable file: a mapping of variables, or nothing.
fn read(path: &Path) -> Result<Vec<(Key, Node)>, InventoryError> {
    let text = yaml::read_file(path)?;
    let root =
        yaml::parse_with(Source::new(path, text), Schema::Ansible).map_err(LoadError::Syntax)?;
    match &root.v {
        Value::Map(m) => Ok(m.clone()),
        Value::Null => Ok(Vec::new()),
        _ => Err(
            Diag::at(&root, format!("wrong type: found {}", root.kind()))
                .expected("a mapping of variables (`name: value` lines)")
                .into(),
        ),
    }
}
