//! What the microVM lab test binaries (`tests/lab.rs`, `tests/lvs.rs`) share: the root gate and
//! running the real `lvslab` binary from the project root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Lab tests need root; without it they fail, unless `LVSLAB_SKIP_LAB_TESTS=1` skips them on
/// purpose (never a silent pass).
pub fn lab_tests_enabled() -> bool {
    if std::env::var("LVSLAB_SKIP_LAB_TESTS").as_deref() == Ok("1") {
        eprintln!("lab tests skipped: LVSLAB_SKIP_LAB_TESTS=1");
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "the lab tests need root (network namespaces, taps, qemu) and the lab's packages \
         (see README); run them as root, or set LVSLAB_SKIP_LAB_TESTS=1 to skip them explicitly"
    );
    true
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `lvslab -i INVENTORY ARGS...` from the project root (setup and teardown find their
/// playbooks there); echo the command line, exit status and stderr for the test log.
pub fn lvslab(inventory: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .current_dir(repo())
        .arg("-i")
        .arg(inventory)
        .args(args)
        .output()
        .expect("run lvslab");
    eprintln!(
        "$ lvslab -i {} {} -> {}\n{}",
        inventory.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run, require exit 0, return stdout.
pub fn ok(inventory: &Path, args: &[&str]) -> String {
    let out = lvslab(inventory, args);
    assert!(
        out.status.success(),
        "lvslab {} failed: {}\nstdout: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
