//! `lvslab init DIR`: an editable copy of what lvslab ships (inventory, playbooks, templates),
//! laid out so that `lvslab` run from DIR finds and prefers it.

use std::path::Path;
use std::process::ExitCode;

use crate::assets::BUILTINS;
use crate::Error;

pub fn run(dir: &Path) -> Result<ExitCode, Error> {
    // Nothing is overwritten: a file already there may be the user's own work.
    let existing: Vec<String> = BUILTINS
        .iter()
        .map(|b| dir.join(b.path))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(Error::Usage(format!(
            "{} already holds {}; nothing was written (remove them or choose another directory)",
            dir.display(),
            existing.join(", ")
        )));
    }
    for b in BUILTINS {
        let path = dir.join(b.path);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, b.text)
        };
        write().map_err(|e| Error::Write(format!("cannot write {}: {e}", path.display())))?;
        eprintln!("wrote {}", path.display());
    }
    eprintln!(
        "\nNext: cd {} && lvslab lab up && lvslab setup   (or edit inventory/lab.yml to name your \
         own hosts first)",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
