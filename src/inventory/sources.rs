//! Which files make up an inventory, and which format each one is in. A directory is read as
//! Ansible reads it: every entry in name order, subdirectories too, skipping hidden names,
//! `group_vars`, `host_vars`, `vars_plugins` and backup or documentation files (`~`, `.bak`,
//! `.swp`, `.orig`, `.md`, `.txt`, ...). A file is YAML when named `.yml`, `.yaml` or `.json`,
//! INI when named `.ini`; without an extension it is YAML if it reads as a YAML mapping and
//! INI otherwise.

use std::path::{Path, PathBuf};

use super::{ini, yaml_format, Inventory, InventoryError};
use crate::yaml::{self, LoadError, Schema, Source, Value};

/// Name endings Ansible skips in an inventory directory.
const IGNORED_ENDINGS: &[&str] = &[
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];

/// Names Ansible skips in an inventory directory.
const IGNORED_NAMES: &[&str] = &["host_vars", "group_vars", "vars_plugins"];

/// Most entries read from one inventory directory tree (a guard against a wrong `-i /`).
const MAX_FILES: usize = 10_000;

/// The directory whose `group_vars/` and `host_vars/` belong to the inventory: the inventory
/// directory itself, or the directory holding the inventory file.
pub(super) fn basedir(path: &Path) -> PathBuf {
    if path.is_dir() {
        return path.to_path_buf();
    }
    // An inventory in the working directory: its files are named `group_vars/...` in errors.
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Read the inventory at `path` (a file or a directory) into `inv`.
pub(super) fn load(inv: &mut Inventory, path: &Path) -> Result<(), InventoryError> {
    if path.is_dir() {
        let mut budget = MAX_FILES;
        return load_dir(inv, path, &mut budget);
    }
    load_file(inv, path, true)
}

fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || IGNORED_NAMES.contains(&name)
        || IGNORED_ENDINGS.iter().any(|e| name.ends_with(e))
}

/// The entry names of `dir`, sorted (the order Ansible reads them in).
pub(super) fn sorted_names(dir: &Path) -> Result<Vec<String>, LoadError> {
    let io = |e| LoadError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    names.sort();
    Ok(names)
}

fn load_dir(inv: &mut Inventory, dir: &Path, budget: &mut usize) -> Result<(), InventoryError> {
    for name in sorted_names(dir)? {
        if ignored(&name) {
            continue;
        }
        *budget = budget.checked_sub(1).ok_or_else(|| {
            InventoryError::Unsupported(format!(
                "inventory directory {} holds more than {MAX_FILES} entries",
                dir.display()
            ))
        })?;
        let p = dir.join(&name);
        if p.is_dir() {
            load_dir(inv, &p, budget)?;
        } else {
            load_file(inv, &p, false)?;
        }
    }
    Ok(())
}

/// `given`: the file was named with `-i` (an unknown extension is then an error, not a skip).
fn load_file(inv: &mut Inventory, path: &Path, given: bool) -> Result<(), InventoryError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    match ext.as_str() {
        "yml" | "yaml" | "json" => {
            let text = yaml::read_file(path)?;
            yaml_format::load(inv, Source::new(path, text))
        }
        "ini" => {
            let text = yaml::read_file(path)?;
            Ok(ini::load(inv, Source::new(path, text))?)
        }
        "" => load_untyped(inv, path),
        "toml" => Err(InventoryError::Unsupported(format!(
            "{}: TOML inventories are not supported by lvslab; write it as YAML or INI",
            path.display()
        ))),
        other if given => Err(InventoryError::Unsupported(format!(
            "{}: cannot tell the inventory format from the extension `.{other}`; name it .yml, .yaml, .json or .ini (or leave the extension off)",
            path.display()
        ))),
        other => {
            inv.warnings.push(format!(
                "{}: skipped (no inventory format for `.{other}` files)",
                path.display()
            ));
            Ok(())
        }
    }
}

/// No extension: YAML when it reads as a YAML mapping, INI otherwise. When both fail, the
/// error shown is the one for the format the file looks like.
fn load_untyped(inv: &mut Inventory, path: &Path) -> Result<(), InventoryError> {
    let text = yaml::read_file(path)?;
    let src = Source::new(path, text);
    let as_yaml = yaml::parse_with(src.clone(), Schema::Ansible);
    if let Ok(root) = &as_yaml {
        if matches!(root.v, Value::Map(_)) {
            return yaml_format::load_tree(inv, &src, root);
        }
    }
    match ini::load(inv, src.clone()) {
        Ok(()) => Ok(()),
        Err(ini_err) => match as_yaml {
            Err(yaml_err) if looks_like_yaml(&src.text) => Err(LoadError::Syntax(yaml_err).into()),
            _ => Err(ini_err.into()),
        },
    }
}

/// The first significant line is a YAML key (`name:` or `name: value`) or `---`.
fn looks_like_yaml(text: &str) -> bool {
    let Some(line) = text
        .lines()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with(['#', ';']))
    else {
        return false;
    };
    line.starts_with("---")
        || (!line.starts_with('[') && (line.ends_with(':') || line.contains(": ")))
}
