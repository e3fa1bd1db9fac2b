//! What a plan is built from besides the inventory: the playbook loaded (a user's file, a
//! shipped one, or the `ping` play) with the directories its sources are looked up in, and the
//! warnings printed before a run.

use std::path::{Path, PathBuf};

use super::{Plan, PlanError, PlaybookSource};
use crate::assets::Search;
use crate::inventory::Inventory;
use crate::playbook::{Play, Playbook};
use crate::yaml::{Node, Pos, Source, Value};

/// Print what loading the inventory skipped (stderr, before the run).
pub(crate) fn print_inventory_warnings(inv: &Inventory) {
    for w in inv.warnings() {
        eprintln!("warning: {w}");
    }
}

/// Load the playbook and say where its `template` and `copy` sources are looked up.
pub(super) fn load_playbook(
    source: Option<PlaybookSource<'_>>,
) -> Result<(Playbook, Search), PlanError> {
    Ok(match source {
        Some(PlaybookSource::File(p)) => (Playbook::load(p)?, beside(p, false)),
        Some(PlaybookSource::Shipped(s)) => match (&s.file, s.text) {
            (Some(f), _) => (Playbook::load(f)?, s.search.clone()),
            (None, text) => (
                Playbook::from_text(&s.path, text.unwrap_or_default().to_string())?,
                s.search.clone(),
            ),
        },
        None => (ping_playbook(), Search::default()),
    })
}

/// A playbook's sources: the project directory holding the playbook's directory, then the
/// playbook's directory itself.
fn beside(playbook: &Path, builtin: bool) -> Search {
    let dir_of = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let pb_dir = dir_of(playbook);
    let root = dir_of(&pb_dir);
    Search::new(vec![root, pb_dir], builtin)
}

/// Print the plan's warnings (stderr; before any output of the run).
pub(crate) fn print_warnings(plan: &Plan) {
    for w in &plan.warnings {
        eprintln!("warning: {}", plan.secrets.redact(&w.to_string()));
    }
}

/// A play for `lvslab ping`: every (limited) host, facts only.
fn ping_playbook() -> Playbook {
    let src = Source::new(Path::new("<ping>"), "hosts: all\n".into());
    let node = Node {
        v: Value::Str("all".into()),
        pos: Pos { line: 1, col: 8 },
        src,
    };
    Playbook {
        path: PathBuf::from("<ping>"),
        plays: vec![Play::new("ping".into(), node)],
    }
}
