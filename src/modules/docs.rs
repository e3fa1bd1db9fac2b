//! docs/modules.md documents every module's arguments in one table per module; this test keeps
//! those tables equal to what the modules accept, so an argument added to a module without its
//! documentation (or documented but not accepted) fails the build's tests.

use super::{Module, Ty, MODULES};

const DOC: &str = include_str!("../../docs/modules.md");

/// One row of a module's table: name, type, required, and the meaning cell.
#[derive(Debug)]
struct Row {
    name: String,
    ty: String,
    required: String,
    meaning: String,
}

/// The `### name` sections after `## Reference`, each with the rows of its argument table.
fn sections() -> Vec<(String, Vec<Row>)> {
    let reference = DOC
        .split_once("\n## Reference\n")
        .map(|(_, r)| r)
        .expect("docs/modules.md has a `## Reference` section");
    let reference = reference.split("\n## ").next().unwrap_or(reference);
    let mut out: Vec<(String, Vec<Row>)> = Vec::new();
    for line in reference.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            out.push((name.trim().to_string(), Vec::new()));
        } else if let (Some(rest), Some((_, rows))) = (line.strip_prefix("| `"), out.last_mut()) {
            // `| `name` | type | required | meaning |`; `\|` inside a cell is not a separator.
            let cells: Vec<String> = rest
                .replace("\\|", "\u{0}")
                .split(" | ")
                .map(|c| c.trim_end_matches(" |").replace('\u{0}', "|"))
                .collect();
            assert_eq!(
                cells.len(),
                4,
                "docs/modules.md: a row needs 4 cells: {line}"
            );
            rows.push(Row {
                name: cells[0].trim_end_matches('`').to_string(),
                ty: cells[1].clone(),
                required: cells[2].clone(),
                meaning: cells[3].clone(),
            });
        }
    }
    out
}

fn type_word(ty: Ty) -> &'static str {
    match ty {
        Ty::Str => "string",
        Ty::Int => "integer",
        Ty::Bool => "bool",
        Ty::List => "list",
        Ty::StrOrList => "string or list",
        Ty::Any => "any",
    }
}

fn check(m: &dyn Module, rows: &[Row]) -> Vec<String> {
    let mut errors = Vec::new();
    let name = m.name();
    if m.open_args() {
        if !rows.is_empty() {
            errors.push(format!("{name}: accepts any argument, so it has no table"));
        }
        return errors;
    }
    let declared: Vec<&str> = m.args().iter().map(|a| a.name).collect();
    let documented: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    if declared != documented {
        errors.push(format!(
            "{name}: the module accepts {declared:?}, docs/modules.md lists {documented:?} \
             (same names, same order)"
        ));
    }
    for a in m.args() {
        let Some(r) = rows.iter().find(|r| r.name == a.name) else {
            continue;
        };
        if r.ty != type_word(a.ty) {
            errors.push(format!(
                "{name}.{}: type is `{}`, docs say `{}`",
                a.name,
                type_word(a.ty),
                r.ty
            ));
        }
        let required = if a.required { "yes" } else { "no" };
        if r.required != required {
            errors.push(format!(
                "{name}.{}: required is `{required}`, docs say `{}`",
                a.name, r.required
            ));
        }
        for c in a.choices {
            if !r.meaning.contains(&format!("`{c}`")) {
                errors.push(format!(
                    "{name}.{}: the value `{c}` is not documented",
                    a.name
                ));
            }
        }
    }
    errors
}

#[test]
fn modules_md_lists_every_argument_of_every_module() {
    let sections = sections();
    let mut errors = Vec::new();
    for m in MODULES {
        match sections.iter().find(|(n, _)| n == m.name()) {
            Some((_, rows)) => errors.extend(check(*m, rows)),
            None => errors.push(format!("{}: no `### {}` section", m.name(), m.name())),
        }
    }
    for (n, _) in &sections {
        if !MODULES.iter().any(|m| m.name() == n) {
            errors.push(format!("`### {n}` documents a module lvslab does not have"));
        }
    }
    assert!(errors.is_empty(), "docs/modules.md:\n{}", errors.join("\n"));
}

#[test]
fn a_missing_argument_is_caught() {
    // The check itself must be able to fail: drop one documented row of `file`.
    let sections = sections();
    let (_, rows) = sections
        .iter()
        .find(|(n, _)| n == "file")
        .expect("a file section");
    let file = MODULES
        .iter()
        .find(|m| m.name() == "file")
        .expect("the file module");
    assert!(check(*file, rows).is_empty());
    assert!(!check(*file, &rows[1..]).is_empty());
}
