//! Conformance with Ansible: for every case under `tests/inventories/conformance/`,
//! `lvslab inventory` must print the same JSON document as `ansible-inventory` (ansible-core
//! from PyPI, installed by `scripts/install-deps`) given the same inventory and arguments.
//!
//! A case is a directory of inventory files plus `args`: the arguments, one per line, that both
//! tools take (`-i PATH`, `--list`, `--host NAME`, `-e VARS`), and lvslab's `--playbook FILE`,
//! which `ansible-inventory` spells `--playbook-dir DIR` (the directory holding FILE: where the
//! playbook's `group_vars/` and `host_vars/` are). Without `--playbook`, `ansible-inventory`
//! would treat its working directory as the playbook directory; it is given an empty directory
//! instead, which is what "no playbook" means to lvslab. Documents are compared whole, after
//! parsing (key order and indentation aside), including `_meta.profile`. `ansible-inventory`
//! leaves its magic variables (`inventory_hostname`, `groups`, ...) out of `hostvars`, and so
//! does lvslab: both print the inventory's own variables only.
//!
//! The test fails, rather than skips, when `ansible-inventory` is missing: set
//! `LVSLAB_ANSIBLE_INVENTORY` to its path if it is neither on `PATH` nor in `python3`'s scripts
//! directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value as Json;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inventories/conformance")
}

fn ansible_inventory() -> PathBuf {
    if let Some(p) = std::env::var_os("LVSLAB_ANSIBLE_INVENTORY") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    // pip puts console scripts in the interpreter's scripts directory, not always on PATH.
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .ok();
    std::env::split_paths(&path)
        .chain(scripts)
        .map(|d| d.join("ansible-inventory"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "ansible-inventory not found on PATH: run scripts/install-deps (it installs \
                 ansible-core from PyPI) or set LVSLAB_ANSIBLE_INVENTORY"
            )
        })
}

struct Run {
    json: Result<Json, String>,
    stderr: String,
}

fn run(mut cmd: Command, dir: &Path) -> Run {
    let out = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("command runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = if out.status.success() {
        serde_json::from_str(&stdout).map_err(|e| format!("not JSON ({e}): {stdout}"))
    } else {
        Err(format!("exit status {:?}", out.status.code()))
    };
    Run { json, stderr }
}

/// Both tools on one case; `Err` describes the difference.
fn compare(case: &Path, ansible: &Path) -> Result<(), String> {
    let args = std::fs::read_to_string(case.join("args")).map_err(|e| format!("args: {e}"))?;
    let args: Vec<&str> = args.lines().filter(|l| !l.is_empty()).collect();
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let empty = scratch.path().join("no-playbook");
    std::fs::create_dir(&empty).map_err(|e| e.to_string())?;
    let config = scratch.path().join("ansible.cfg");
    std::fs::write(&config, "").map_err(|e| e.to_string())?;

    let mut lvslab = Command::new(env!("CARGO_BIN_EXE_lvslab"));
    lvslab
        .env("HOME", scratch.path())
        .env_remove("LVSLAB_INVENTORY");
    let mut theirs = Command::new(ansible);
    theirs
        .env("HOME", scratch.path())
        .env("ANSIBLE_CONFIG", &config)
        .env("ANSIBLE_HOME", scratch.path().join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", scratch.path().join("ansible-tmp"))
        .env("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "true")
        .env("ANSIBLE_NOCOLOR", "1");
    let mut lv_args: Vec<String> = Vec::new();
    let mut playbook_dir: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == "--playbook" {
            let file = it.next().ok_or("--playbook needs a file")?;
            lv_args.extend(["--playbook".to_string(), file.to_string()]);
            let dir = Path::new(file).parent().unwrap_or(Path::new("."));
            playbook_dir = Some(case.join(dir));
        } else {
            lv_args.push(a.to_string());
            theirs.arg(a);
        }
    }
    // `lvslab -i X inventory --list`: the global options before the subcommand.
    let (global, local): (Vec<_>, Vec<_>) = {
        let mut g = Vec::new();
        let mut l = Vec::new();
        let mut i = 0;
        while i < lv_args.len() {
            if lv_args[i] == "-i" && i + 1 < lv_args.len() {
                g.extend([lv_args[i].clone(), lv_args[i + 1].clone()]);
                i += 2;
            } else {
                l.push(lv_args[i].clone());
                i += 1;
            }
        }
        (g, l)
    };
    lvslab.args(&global).arg("inventory").args(&local);
    theirs
        .arg("--playbook-dir")
        .arg(playbook_dir.unwrap_or(empty));

    let ours = run(lvslab, case);
    let ref_ = run(theirs, case);
    let theirs_json = ref_
        .json
        .map_err(|e| format!("ansible-inventory failed: {e}\n{}", ref_.stderr))?;
    let ours_json = ours
        .json
        .map_err(|e| format!("lvslab failed: {e}\n{}", ours.stderr))?;
    if ours_json != theirs_json {
        let pretty = |j: &Json| serde_json::to_string_pretty(j).unwrap_or_default();
        return Err(format!(
            "documents differ\n--- ansible-inventory\n{}\n--- lvslab\n{}",
            pretty(&theirs_json),
            pretty(&ours_json)
        ));
    }
    Ok(())
}

#[test]
fn lvslab_inventory_equals_ansible_inventory() {
    let ansible = ansible_inventory();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("tests/inventories/conformance")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("args").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "only {} cases", cases.len());
    // ansible-inventory spends most of its ~2 s starting Python: run a few cases at once.
    let results: Vec<(String, Result<(), String>)> = std::thread::scope(|s| {
        let chunks: Vec<&[PathBuf]> = cases.chunks(cases.len().div_ceil(4)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let ansible = &ansible;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|c| {
                            let name = c.file_name().unwrap_or_default().to_string_lossy();
                            (name.into_owned(), compare(c, ansible))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("case thread"))
            .collect()
    });
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from ansible-inventory:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
