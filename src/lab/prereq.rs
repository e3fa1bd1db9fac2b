//! What the lab needs from the machine (root, qemu, debootstrap, ...), checked before anything
//! is started, with the exact command that installs what is missing; `--install-deps` runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::LabError;

/// A program the lab runs, and the Debian package that provides it.
struct Tool {
    program: &'static str,
    package: &'static str,
}

const TOOLS: &[Tool] = &[
    Tool {
        program: "qemu-system-x86_64",
        package: "qemu-system-x86",
    },
    Tool {
        program: "debootstrap",
        package: "debootstrap",
    },
    Tool {
        program: "mksquashfs",
        package: "squashfs-tools",
    },
    Tool {
        program: "mkfs.ext4",
        package: "e2fsprogs",
    },
    Tool {
        program: "ssh",
        package: "openssh-client",
    },
    Tool {
        program: "ssh-keygen",
        package: "openssh-client",
    },
    Tool {
        program: "ip",
        package: "iproute2",
    },
    Tool {
        program: "dpkg-deb",
        package: "dpkg",
    },
];

/// Static busybox for the initramfs (package busybox-static).
pub const BUSYBOX_CANDIDATES: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];

/// Every host package the lab uses (the argument list of `apt-get install`).
pub const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "debootstrap",
    "debian-archive-keyring",
    "busybox-static",
    "squashfs-tools",
    "e2fsprogs",
    "openssh-client",
    "iproute2",
    "xz-utils",
    "zstd",
];

pub fn install_command() -> String {
    format!(
        "apt-get install -y --no-install-recommends {}",
        PACKAGES.join(" ")
    )
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Find a program on PATH (plus the sbin directories, which a non-login root shell may lack).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A statically linked busybox, if installed (a dynamic one cannot run in the initramfs).
pub fn static_busybox() -> Option<PathBuf> {
    BUSYBOX_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| is_executable(p) && is_static_elf(p))
}

fn is_static_elf(p: &Path) -> bool {
    // A static executable has no PT_INTERP program header; look for the interpreter path.
    match std::fs::read(p) {
        Ok(data) => {
            data.starts_with(b"\x7fELF")
                && !data
                    .windows(b"/lib64/ld-linux".len())
                    .take(8192)
                    .any(|w| w == b"/lib64/ld-linux")
        }
        Err(_) => false,
    }
}

/// What is missing, as human-readable items (empty: all there).
pub fn missing() -> Vec<String> {
    let mut out = Vec::new();
    let mut packages: Vec<&str> = Vec::new();
    for t in TOOLS {
        if which(t.program).is_none() {
            out.push(format!("{} (package {})", t.program, t.package));
            if !packages.contains(&t.package) {
                packages.push(t.package);
            }
        }
    }
    if static_busybox().is_none() {
        out.push("a static busybox (package busybox-static)".into());
    }
    out
}

/// Check that the lab can run here: root, and every tool present.
pub fn check() -> Result<(), LabError> {
    if !is_root() {
        return Err(LabError::NotRoot);
    }
    let missing = missing();
    if !missing.is_empty() {
        return Err(LabError::MissingPrerequisites {
            missing: missing.join(", "),
            install: install_command(),
        });
    }
    Ok(())
}

/// `lab up --install-deps`: install the host packages with apt-get (Debian/Ubuntu).
pub fn install() -> Result<(), LabError> {
    if !is_root() {
        return Err(LabError::NotRoot);
    }
    if which("apt-get").is_none() {
        return Err(LabError::Prerequisite(format!(
            "--install-deps needs apt-get (Debian/Ubuntu); install these packages yourself: {}",
            PACKAGES.join(" ")
        )));
    }
    eprintln!("lab: installing host packages: {}", PACKAGES.join(" "));
    let update = Command::new("apt-get")
        .args(["update", "-q"])
        .status()
        .map_err(|e| LabError::Prerequisite(format!("apt-get update: {e}")))?;
    if !update.success() {
        return Err(LabError::Prerequisite(format!(
            "apt-get update failed ({update})"
        )));
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(PACKAGES)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| LabError::Prerequisite(format!("apt-get install: {e}")))?;
    if !status.success() {
        return Err(LabError::Prerequisite(format!(
            "`{}` failed ({status})",
            install_command()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_command_names_every_package() {
        let c = install_command();
        for p in PACKAGES {
            assert!(c.contains(p));
        }
        assert!(c.starts_with("apt-get install -y"));
    }

    #[test]
    fn which_finds_sh() {
        assert!(which("sh").is_some());
        assert!(which("surely-not-a-program-lvslab").is_none());
    }
}
