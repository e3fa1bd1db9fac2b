//! The playbooks and templates lvslab ships, built into the binary so an installed `lvslab`
//! does its job from any directory, and the rule that lets a user's own copies replace them.
//!
//! A user's copy wins: `--playbook-dir DIR`, else the inventory's directory, else the
//! directory holding that one (the layout `lvslab init` writes: `inventory/`, `playbooks/`,
//! `templates/` side by side). A directory overrides a shipped playbook when it holds
//! `playbooks/NAME` (or `NAME`), and a template when it holds `templates/NAME`; whatever it
//! does not hold comes from the built-in copies.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// One file built into the binary, named by its path in the project layout.
#[derive(Debug)]
pub(crate) struct Builtin {
    pub(crate) path: &'static str,
    pub(crate) text: &'static str,
}

macro_rules! builtin {
    ($($path:literal),* $(,)?) => {
        &[$(Builtin { path: $path, text: include_str!(concat!("../", $path)) }),*]
    };
}

/// Every shipped file, as `lvslab init` writes them.
pub(crate) const BUILTINS: &[Builtin] = builtin![
    "inventory/lab.yml",
    "playbooks/setup.yml",
    "playbooks/teardown.yml",
    "templates/index.html.j2",
    "templates/ipvsadm.rules.j2",
    "templates/keepalived.conf.j2",
    "templates/lvslab-nat-route.service.j2",
    "templates/lvslab-tun.service.j2",
    "templates/lvslab-vip.service.j2",
];

/// How built-in files are named in messages: never a path on the user's disk.
const BUILTIN_PREFIX: &str = "(built-in)";

fn builtin(path: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.path == path)
}

/// A controller-side file a task reads (`template`'s or `copy`'s `src`): on disk, or built in.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    Disk(PathBuf),
    Builtin(&'static Builtin),
}

impl Found {
    /// The name messages show: the path on disk, or `(built-in)/templates/NAME`.
    pub(crate) fn display_path(&self) -> PathBuf {
        match self {
            Found::Disk(p) => p.clone(),
            Found::Builtin(b) => Path::new(BUILTIN_PREFIX).join(b.path),
        }
    }

    pub(crate) fn read(&self) -> std::io::Result<Cow<'static, [u8]>> {
        match self {
            Found::Disk(p) => std::fs::read(p).map(Cow::Owned),
            Found::Builtin(b) => Ok(Cow::Borrowed(b.text.as_bytes())),
        }
    }

    pub(crate) fn read_to_string(&self) -> std::io::Result<String> {
        match self {
            Found::Disk(p) => std::fs::read_to_string(p),
            Found::Builtin(b) => Ok(b.text.to_string()),
        }
    }
}

/// Where `template` and `copy` look for their sources, in order: directories on disk, then
/// (for the shipped playbooks) the built-in templates.
#[derive(Debug, Clone, Default)]
pub(crate) struct Search {
    dirs: Vec<PathBuf>,
    builtin: bool,
}

impl Search {
    pub(crate) fn new(dirs: Vec<PathBuf>, builtin: bool) -> Search {
        Search { dirs, builtin }
    }

    /// `src` absolute, or `<dir>/<sub>/<src>` then `<dir>/<src>` for each directory, then the
    /// built-in `<sub>/<src>`.
    pub(crate) fn find(&self, sub: &str, src: &str) -> Option<Found> {
        let p = Path::new(src);
        if p.is_absolute() {
            return p.is_file().then(|| Found::Disk(p.to_path_buf()));
        }
        let on_disk = self
            .dirs
            .iter()
            .flat_map(|d| [d.join(sub).join(p), d.join(p)])
            .find(|c| c.is_file());
        if let Some(path) = on_disk {
            return Some(Found::Disk(path));
        }
        self.builtin
            .then(|| builtin(&format!("{sub}/{src}")))
            .flatten()
            .map(Found::Builtin)
    }

    /// What was searched, for a "not found" message.
    pub(crate) fn describe(&self, sub: &str) -> String {
        let mut places: Vec<String> = Vec::new();
        for d in self.dirs.iter().map(|d| d.join(sub).display().to_string()) {
            if !places.contains(&d) {
                places.push(d);
            }
        }
        if self.builtin {
            places.push(format!("lvslab's built-in {sub}/"));
        }
        format!(
            "a file under {} (or a path relative to them)",
            places.join(" or ")
        )
    }
}

/// A playbook lvslab ships (`setup.yml`, `teardown.yml`), resolved to the copy that runs.
#[derive(Debug)]
pub(crate) struct Shipped {
    /// The user's copy, or `None` for the built-in one.
    pub(crate) file: Option<PathBuf>,
    /// The name messages show.
    pub(crate) path: PathBuf,
    pub(crate) text: Option<&'static str>,
    pub(crate) search: Search,
}

/// The directories whose `playbooks/` and `templates/` replace the built-in ones.
fn override_dirs(playbook_dir: Option<&Path>, inventory: &Path) -> Vec<PathBuf> {
    if let Some(d) = playbook_dir {
        return vec![d.to_path_buf()];
    }
    let inv_dir = match inventory.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // A directory inventory is its own directory's neighbour, like a file in it.
    let inv_dir = if inventory.is_dir() {
        inventory.to_path_buf()
    } else {
        inv_dir
    };
    let mut dirs = vec![inv_dir.clone()];
    if let Some(parent) = std::fs::canonicalize(&inv_dir)
        .ok()
        .and_then(|d| d.parent().map(Path::to_path_buf))
    {
        dirs.push(parent);
    }
    dirs
}

/// The copy of shipped playbook `name` to run: the first override directory holding
/// `playbooks/NAME` or `NAME`, else the built-in one. Templates are looked up beside whichever
/// copy runs, then in every override directory, then built in.
pub(crate) fn shipped(
    name: &str,
    playbook_dir: Option<&Path>,
    inventory: &Path,
) -> Result<Shipped, String> {
    let dirs = override_dirs(playbook_dir, inventory);
    for d in &dirs {
        for candidate in [d.join("playbooks").join(name), d.join(name)] {
            if candidate.is_file() {
                let pb_dir = candidate
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                let mut search = vec![d.clone(), pb_dir];
                search.extend(dirs.iter().cloned());
                return Ok(Shipped {
                    path: candidate.clone(),
                    file: Some(candidate),
                    text: None,
                    search: Search::new(search, true),
                });
            }
        }
    }
    if let Some(d) = playbook_dir {
        if !d.is_dir() {
            return Err(format!("--playbook-dir {}: not a directory", d.display()));
        }
    }
    let key = format!("playbooks/{name}");
    let b = builtin(&key).ok_or_else(|| format!("lvslab ships no playbook {name}"))?;
    Ok(Shipped {
        file: None,
        path: Path::new(BUILTIN_PREFIX).join(b.path),
        text: Some(b.text),
        search: Search::new(dirs, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_a_shipped_playbook_names_is_built_in() {
        for pb in BUILTINS.iter().filter(|b| b.path.starts_with("playbooks/")) {
            for line in pb.text.lines() {
                let Some(rest) = line.trim().strip_prefix("src: ") else {
                    continue;
                };
                let src = rest.trim().trim_matches(|c| c == '"' || c == '\'');
                if src.ends_with(".j2") && !src.contains("{{") {
                    assert!(
                        builtin(&format!("templates/{src}")).is_some(),
                        "{} names template {src}, which is not built in",
                        pb.path
                    );
                }
            }
        }
    }

    #[test]
    fn a_user_directory_overrides_the_built_in_playbook_and_templates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = dir.path().join("inventory").join("hosts.yml");
        std::fs::create_dir_all(inv.parent().expect("parent")).expect("mkdir");
        std::fs::write(&inv, "all: {}\n").expect("write");
        // Nothing beside the inventory: the built-ins.
        let s = shipped("setup.yml", None, &inv).expect("shipped");
        assert!(s.file.is_none());
        assert!(s.text.is_some_and(|t| t.contains("keepalived")));
        assert!(matches!(
            s.search.find("templates", "keepalived.conf.j2"),
            Some(Found::Builtin(_))
        ));
        // A templates/ directory beside the inventory's directory replaces one template only.
        std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
        std::fs::write(dir.path().join("templates/index.html.j2"), "mine\n").expect("write");
        let s = shipped("setup.yml", None, &inv).expect("shipped");
        match s.search.find("templates", "index.html.j2") {
            Some(Found::Disk(p)) => assert!(p.ends_with("templates/index.html.j2")),
            other => panic!("expected the user's template, got {other:?}"),
        }
        assert!(matches!(
            s.search.find("templates", "keepalived.conf.j2"),
            Some(Found::Builtin(_))
        ));
        // A playbooks/ directory there replaces the playbook.
        std::fs::create_dir_all(dir.path().join("playbooks")).expect("mkdir");
        std::fs::write(dir.path().join("playbooks/setup.yml"), "[]\n").expect("write");
        let s = shipped("setup.yml", None, &inv).expect("shipped");
        assert!(s
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("playbooks/setup.yml")));
        // --playbook-dir names the one directory to look in.
        let other = tempfile::tempdir().expect("tempdir");
        let s = shipped("setup.yml", Some(other.path()), &inv).expect("shipped");
        assert!(s.file.is_none());
        let missing = other.path().join("nope");
        assert!(shipped("setup.yml", Some(&missing), &inv)
            .expect_err("missing dir")
            .contains("not a directory"));
    }
}
