//! Commands that need no inventory and no host: `init DIR` (the copy it writes is the project's
//! own inventory, playbooks and templates, and a second `init` into the same directory
//! overwrites nothing), `completions SHELL` and `man`.

use std::path::Path;
use std::process::Command;

fn init(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .arg("init")
        .arg(dir)
        .env_remove("LVSLAB_INVENTORY")
        .output()
        .expect("lvslab runs")
}

/// Every file under `sub` of `root`, as paths relative to `root`.
fn files(root: &Path, sub: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join(sub))
        .expect("read dir")
        .map(|e| format!("{sub}/{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

#[test]
fn init_writes_the_shipped_files_and_never_overwrites() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mylab");
    let out = init(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["playbooks", "templates"] {
        assert_eq!(files(&dir, sub), files(repo, sub), "{sub}/ differs");
        for f in files(repo, sub) {
            assert_eq!(
                std::fs::read(dir.join(&f)).expect("written"),
                std::fs::read(repo.join(&f)).expect("shipped"),
                "{f} differs from the shipped copy"
            );
        }
    }
    assert_eq!(
        std::fs::read(dir.join("inventory/lab.yml")).expect("written"),
        std::fs::read(repo.join("inventory/lab.yml")).expect("shipped")
    );

    // The user's edits survive a second init.
    let page = dir.join("templates/index.html.j2");
    std::fs::write(&page, "mine\n").expect("edit");
    let again = init(&dir);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read_to_string(&page).expect("page"), "mine\n");
}

fn lvslab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .args(args)
        .env_remove("LVSLAB_INVENTORY")
        .output()
        .expect("lvslab runs")
}

#[test]
fn completions_and_the_manual_cover_every_command() {
    let commands = [
        "setup", "verify", "trace", "teardown", "run", "ping", "lab", "demo", "init",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = lvslab(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for c in commands {
            assert!(script.contains(c), "{shell} completion lacks {c}");
        }
        assert!(
            script.contains("inventory"),
            "{shell} completion lacks --inventory"
        );
    }
    let out = lvslab(&["man"]);
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie"),
        "not roff: {}",
        &page[..page.len().min(80)]
    );
    assert!(page.contains(".TH lvslab 1"), "no title header");
    for c in commands {
        assert!(page.contains(c), "the manual lacks {c}");
    }
    let bad = lvslab(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}
