//! The lab's cache: parts built once and shared by every lab and node, rebuilt only when their
//! inputs change (each directory is named after a hash of its inputs).
//!
//! ```text
//! $LVSLAB_CACHE_DIR (default /var/cache/lvslab)
//!   rootfs/<image>-<hash>/  debootstrap tree (package list, suite, mirror)
//!   repo/<image>-<hash>/    what setup installs, with dependencies, and its apt index (fresh images)
//!   kernel/<package>/       the release's Debian kernel package, unpacked (vmlinuz + modules)
//!   base/<image>-<hash>/    rootfs.squashfs (root + modules + lvslab units), vmlinuz, initramfs.cpio
//!   labs/<lab>/             per-lab state: keys, known_hosts, node disks, saved VM states
//! ```
//!
//! Everything release-specific comes from the release's own archive, resolved against the
//! image's own apt state (debootstrap's package lists, run in a chroot): the kernel that
//! `linux-image-amd64` depends on there, and the packages setup installs with the dependencies
//! that root filesystem lacks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::image::{self, Image, Packages};
use super::{initramfs, LabError};

/// Bump when the way the base is assembled changes (forces a rebuild of `base/`).
const BASE_RECIPE: &str = "lvslab-base-v10";

/// Units that only cost boot time on a lab node (found with `systemd-analyze blame`), and the
/// services a pristine node must have installed but not running (the playbooks start them).
const MASKED_UNITS: &[&str] = &[
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "man-db.timer",
    "systemd-pstore.service",
    "getty@tty1.service",
    "serial-getty@ttyS0.service",
    "getty.target",
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
    "systemd-journal-catalog-update.service",
    "systemd-hwdb-update.service",
    "ldconfig.service",
    "modprobe@drm.service",
    "modprobe@fuse.service",
    "modprobe@configfs.service",
    "modprobe@efi_pstore.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount",
    "dev-mqueue.mount",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "systemd-firstboot.service",
    "systemd-machine-id-commit.service",
    "systemd-random-seed.service",
    "systemd-boot-system-token.service",
    "cryptsetup.target",
    "systemd-logind.service",
    "systemd-sysusers.service",
    "systemd-journal-flush.service",
    "modprobe@loop.service",
    "modprobe@dm_mod.service",
    "kmod-static-nodes.service",
    "systemd-remount-fs.service",
    // Records that /etc and /var have seen the image's /usr: the units that act on that
    // (ldconfig, hwdb) are masked above, and it ran at every node's first boot.
    "systemd-update-done.service",
];
/// Generators systemd runs at every boot that have nothing to find on a lab node (no
/// encrypted, GPT-partitioned or hibernated disks, no getty on the console, no TPM, no
/// AF_VSOCK for sshd's socket units; the last two exist from systemd 257 on); each one is a
/// program start that costs hundreds of milliseconds under TCG. fstab, sysv (ipvsadm's init
/// script) and rc-local generators stay.
const MASKED_GENERATORS: &[&str] = &[
    "systemd-cryptsetup-generator",
    "systemd-debug-generator",
    "systemd-getty-generator",
    "systemd-gpt-auto-generator",
    "systemd-hibernate-resume-generator",
    "systemd-integritysetup-generator",
    "systemd-run-generator",
    "systemd-ssh-generator",
    "systemd-system-update-generator",
    "systemd-tpm2-generator",
    "systemd-veritysetup-generator",
];
/// Masked on preinstalled images only: on a fresh image the package is not there (setup
/// installs it as on any machine).
const MASKED_PREINSTALLED: &[&str] = &["apache-htcacheclean.service"];
/// Kernel module directories no lab node needs (keeps the image and its build small).
const MODULE_EXCLUDES: &[&str] = &[
    "kernel/sound",
    "kernel/drivers/gpu",
    "kernel/drivers/media",
    "kernel/drivers/net/wireless",
    "kernel/drivers/net/ethernet",
    "kernel/drivers/infiniband",
    "kernel/drivers/staging",
    "kernel/drivers/usb",
    "kernel/drivers/bluetooth",
    "kernel/drivers/iio",
    "kernel/drivers/hid",
    "kernel/drivers/input",
    "kernel/drivers/isdn",
    "kernel/drivers/scsi",
    "kernel/drivers/mtd",
    "kernel/drivers/video",
    "kernel/net/wireless",
    "kernel/net/mac80211",
    "kernel/net/bluetooth",
];

const NODE_SETUP: &str = include_str!("assets/node-setup.sh");
const NODE_SETUP_UNIT: &str = include_str!("assets/lvslab-node-setup.service");
const CLOCK: &str = include_str!("assets/clock.sh");
const CLOCK_UNIT: &str = include_str!("assets/lvslab-clock.service");
const SSHD_CONF: &str = include_str!("assets/sshd.conf");
const SSH_DROPIN: &str = include_str!("assets/ssh-fast.conf");

/// Root of the cache (`LVSLAB_CACHE_DIR`, default `/var/cache/lvslab`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("LVSLAB_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/lvslab"))
}

/// The built parts every VM boots from.
#[derive(Debug, Clone)]
pub struct Base {
    /// Hash naming this build (a saved VM state is only valid with the same base).
    pub id: String,
    pub squashfs: PathBuf,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

fn hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run(cmd: &mut Command, what: &str) -> Result<String, LabError> {
    let out = cmd
        .output()
        .map_err(|e| LabError::Build(format!("{what}: cannot run {:?}: {e}", cmd.get_program())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(LabError::Build(format!(
            "{what}: {:?} failed ({}):\n{}",
            cmd.get_program(),
            out.status,
            tail.join("\n")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> LabError {
    let what = what.to_string();
    move |e| LabError::Build(format!("{what}: {e}"))
}

/// The Debian mirror the host's apt already uses (`LVSLAB_MIRROR` overrides).
pub fn apt_mirror() -> String {
    if let Some(m) = std::env::var("LVSLAB_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
    {
        return m;
    }
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let name = p.to_string_lossy().to_string();
            if name.ends_with(".sources") || name.ends_with(".list") {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    texts.push(t);
                }
            }
        }
    }
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.insert(0, t);
    }
    texts
        .iter()
        .find_map(|t| mirror_from_sources(t))
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_string())
}

/// The first Debian main-archive URI in a sources.list or deb822 `.sources` text.
pub fn mirror_from_sources(text: &str) -> Option<String> {
    let debian = |uri: &str| {
        (uri.starts_with("http://") || uri.starts_with("https://"))
            && uri.contains("debian")
            && !uri.contains("security")
            && !uri.contains("debian-ports")
    };
    // deb822 stanzas.
    for stanza in text.split("\n\n") {
        let mut types_deb = false;
        let mut uris = Vec::new();
        for line in stanza.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("Types:") {
                types_deb = v.split_whitespace().any(|t| t == "deb");
            } else if let Some(v) = line.strip_prefix("URIs:") {
                uris.extend(v.split_whitespace().map(str::to_string));
            }
        }
        if types_deb {
            if let Some(u) = uris.into_iter().find(|u| debian(u)) {
                return Some(u);
            }
        }
    }
    // one-line format: deb [opts] URI suite components
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        for w in words {
            if w.starts_with('[') || w.ends_with(']') || w.contains('=') {
                continue;
            }
            if debian(w) {
                return Some(w.to_string());
            }
            break;
        }
    }
    None
}

/// An exclusive lock on the cache while building (released when dropped).
struct CacheLock(std::fs::File);

impl CacheLock {
    fn take(dir: &Path) -> Result<CacheLock, LabError> {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(dir).map_err(io(dir.display()))?;
        let path = dir.join(".lock");
        let f = std::fs::File::create(&path).map_err(io(path.display()))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(LabError::Build(format!(
                "cannot lock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            )));
        }
        Ok(CacheLock(f))
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking our own descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Where the kernel package chosen for a root filesystem is recorded inside it.
const KERNEL_RECORD: &str = ".lvslab-kernel";

/// The kernel package `linux-image-amd64` depends on in a root filesystem's own apt state
/// (e.g. `linux-image-6.1.0-56-amd64` on bookworm).
fn kernel_package(rootfs: &Path) -> Result<String, LabError> {
    let out = run(
        Command::new("chroot")
            .arg(rootfs)
            .args(["apt-cache", "depends", "linux-image-amd64"]),
        "finding the kernel package",
    )?;
    kernel_from_depends(&out).ok_or_else(|| {
        LabError::Build(format!(
            "apt in {} knows no kernel for linux-image-amd64",
            rootfs.display()
        ))
    })
}

/// The kernel package in `apt-cache depends linux-image-amd64` output.
fn kernel_from_depends(out: &str) -> Option<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && !p.contains("amd64-unsigned"))
        .map(|p| p.trim_start_matches('<').trim_end_matches('>').to_string())
}

/// A build directory's name: the image it is for (so builds of other images are never pruned
/// in its place) and the hash of its inputs.
fn build_name(image: Image, id: &str) -> String {
    format!("{}-{}-{id}", image.suite.name(), image.packages.name())
}

/// Make sure the base of `image` exists (building what is missing) and return it.
pub fn ensure_base(image: Image, say: &dyn Fn(&str)) -> Result<Base, LabError> {
    let root = cache_dir();
    let _lock = CacheLock::take(&root)?;
    let mirror = apt_mirror();
    let suite = image.suite.name();
    let packages = image.rootfs_packages().join(",");
    let rootfs_name = build_name(image, &hash(&["rootfs", suite, &mirror, &packages]));
    let rootfs = root.join("rootfs").join(&rootfs_name);
    let started = Instant::now();
    if !rootfs.join(".done").exists() {
        say(&format!(
            "building the {image} node root filesystem (debootstrap {suite} from {mirror}, about a minute)"
        ));
        build_rootfs(&rootfs, &mirror, image)?;
        prune(&root.join("rootfs"), &rootfs_name);
    }
    let kpkg = std::fs::read_to_string(rootfs.join(KERNEL_RECORD))
        .map_err(io(rootfs.join(KERNEL_RECORD).display()))?
        .trim()
        .to_string();
    let repo_name = (image.packages == Packages::Fresh).then(|| {
        build_name(
            image,
            &hash(&[
                super::repo::RECIPE,
                &rootfs_name,
                &image::SERVICE_PACKAGES.join(","),
            ]),
        )
    });
    let masked = masked_units(image);
    let base_name = build_name(
        image,
        &hash(&[
            BASE_RECIPE,
            &rootfs_name,
            &kpkg,
            repo_name.as_deref().unwrap_or("no repository"),
            image::REPO_SOURCE,
            initramfs::INIT_SCRIPT,
            &initramfs::ROOT_MODULES.join(","),
            NODE_SETUP,
            NODE_SETUP_UNIT,
            CLOCK,
            CLOCK_UNIT,
            SSHD_CONF,
            SSH_DROPIN,
            &masked.join(","),
            &MASKED_GENERATORS.join(","),
            &image.disabled_units().join(","),
            &MODULE_EXCLUDES.join(","),
        ]),
    );
    let base_dir = root.join("base").join(&base_name);
    let base = Base {
        id: base_name.clone(),
        squashfs: base_dir.join("rootfs.squashfs"),
        kernel: base_dir.join("vmlinuz"),
        initramfs: base_dir.join("initramfs.cpio"),
    };
    if base_dir.join(".done").exists() {
        return Ok(base);
    }
    let kdir = root.join("kernel").join(&kpkg);
    if !kdir.join(".done").exists() {
        say(&format!("fetching the {suite} kernel ({kpkg})"));
        fetch_kernel(&kdir, &kpkg, &rootfs)?;
    }
    let repo = match &repo_name {
        Some(name) => {
            let dir = root.join("repo").join(name);
            if !dir.join(".done").exists() {
                say(&format!(
                    "downloading what setup installs on {suite} ({}, with dependencies)",
                    image::SERVICE_PACKAGES.join(", ")
                ));
                super::repo::build(&dir, &rootfs, image::SERVICE_PACKAGES)?;
                prune(&root.join("repo"), name);
            }
            Some(dir)
        }
        None => None,
    };
    say(&format!(
        "assembling the {image} node image (squashfs, initramfs)"
    ));
    assemble(&base_dir, &rootfs, &kdir, image, repo.as_deref())?;
    prune(&root.join("base"), &base_name);
    say(&format!(
        "{image} image ready in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        base_dir.display()
    ));
    Ok(base)
}

/// The units masked on an image.
fn masked_units(image: Image) -> Vec<&'static str> {
    let mut m = MASKED_UNITS.to_vec();
    if image.packages == Packages::Preinstalled {
        m.extend(MASKED_PREINSTALLED);
    }
    m
}

/// Remove the builds in `dir` of the same image as `keep` (same name up to its hash), other than
/// `keep`, that no running VM uses (a VM started from an older base keeps it until it stops; its
/// saved state is not restored into a newer base).
fn prune(dir: &Path, keep: &str) {
    let image = keep.rsplit_once('-').map_or(keep, |(image, _)| image);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let in_use = running_qemu_cmdlines();
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let same_image = name.rsplit_once('-').is_some_and(|(i, _)| i == image);
        if name == keep || !same_image || !path.is_dir() {
            continue;
        }
        let p = path.display().to_string();
        if in_use.iter().any(|c| c.contains(&p)) {
            continue;
        }
        let _ = std::fs::remove_dir_all(&path);
    }
}

/// Command lines of every qemu process on the machine (to see which base images are in use).
fn running_qemu_cmdlines() -> Vec<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("qemu-system"))
        .collect()
}

/// debootstrap the image's release with its packages, then record the kernel its apt picks.
fn build_rootfs(dir: &Path, mirror: &str, image: Image) -> Result<(), LabError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(io(dir.display()))?;
    run(
        Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--include={}", image.rootfs_packages().join(",")))
            .arg(image.suite.name())
            .arg(dir)
            .arg(mirror),
        "debootstrap",
    )?;
    let kpkg = kernel_package(dir)?;
    std::fs::write(dir.join(KERNEL_RECORD), &kpkg).map_err(io(dir.display()))?;
    std::fs::write(dir.join(".done"), "").map_err(io(dir.display()))?;
    Ok(())
}

/// Download `package` with the root filesystem's apt (its release's archive) and unpack it.
fn fetch_kernel(dir: &Path, package: &str, rootfs: &Path) -> Result<(), LabError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir.display()))?;
    }
    let inside = "/var/tmp/lvslab-kernel";
    let dl = rootfs.join(inside.trim_start_matches('/'));
    let _ = std::fs::remove_dir_all(&dl);
    std::fs::create_dir_all(&dl).map_err(io(dl.display()))?;
    let fetched = run(
        Command::new("chroot").arg(rootfs).args([
            "sh",
            "-c",
            &format!(
                "cd {inside} && apt-get download -q {}",
                crate::quote::quote(package)
            ),
        ]),
        "downloading the kernel package",
    );
    let unpacked = fetched.and_then(|_| {
        let deb = std::fs::read_dir(&dl)
            .map_err(io(dl.display()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .ok_or_else(|| LabError::Build(format!("apt-get download {package} left no .deb")))?;
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        // dpkg-deb makes its target directory but not the ones above it: in a cache built from
        // nothing, the first kernel is also the first entry of `kernel/`.
        if let Some(parent) = tmp.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent.display()))?;
        }
        run(
            Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp),
            "unpacking the kernel",
        )?;
        std::fs::rename(&tmp, dir).map_err(io(dir.display()))?;
        std::fs::write(dir.join(".done"), "").map_err(io(dir.display()))
    });
    let _ = std::fs::remove_dir_all(&dl);
    unpacked
}

/// Where an unpacked kernel package keeps its modules: `usr/lib/modules` in releases with a
/// merged /usr (trixie), `lib/modules` before.
fn kernel_modules(kdir: &Path) -> PathBuf {
    let merged = kdir.join("usr/lib/modules");
    if merged.is_dir() {
        merged
    } else {
        kdir.join("lib/modules")
    }
}

fn kernel_version(kdir: &Path) -> Result<String, LabError> {
    let mods = kernel_modules(kdir);
    std::fs::read_dir(&mods)
        .map_err(io(mods.display()))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .next()
        .ok_or_else(|| LabError::Build(format!("no kernel modules under {}", mods.display())))
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent.display()))?;
    }
    std::fs::write(path, text).map_err(io(path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(path.display()))?;
    Ok(())
}

/// Copy the debootstrap tree, add the kernel modules, lvslab's units and (fresh images) the
/// package repository, mask boot-time noise, then pack it as a squashfs; build the initramfs
/// from the same modules.
fn assemble(
    base_dir: &Path,
    rootfs: &Path,
    kdir: &Path,
    image: Image,
    repo: Option<&Path>,
) -> Result<(), LabError> {
    let kver = kernel_version(kdir)?;
    let staging = base_dir.with_extension("staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(staging.display()))?;
    }
    if base_dir.exists() {
        std::fs::remove_dir_all(base_dir).map_err(io(base_dir.display()))?;
    }
    std::fs::create_dir_all(&staging).map_err(io(staging.display()))?;
    run(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", rootfs.display()))
            .arg(&staging),
        "copying the root filesystem",
    )?;
    let _ = std::fs::remove_file(staging.join(".done"));
    let _ = std::fs::remove_file(staging.join(KERNEL_RECORD));
    let mods_dst = add_modules(&staging, kdir, &kver)?;
    let busybox = add_lvslab_units(&staging)?;
    configure_units(&staging, image)?;
    if let Some(repo) = repo {
        add_repo(&staging, repo)?;
    }
    // Downloaded .debs are not part of a machine.
    if let Ok(dir) = std::fs::read_dir(staging.join("var/cache/apt/archives")) {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "deb") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let tmp = base_dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(tmp.display()))?;
    run(
        Command::new("mksquashfs")
            .arg(&staging)
            .arg(tmp.join("rootfs.squashfs"))
            .args(["-comp", "lz4", "-noappend", "-quiet", "-no-progress"]),
        "mksquashfs",
    )?;
    initramfs::build(&busybox, &mods_dst, &tmp.join("initramfs.cpio"))
        .map_err(|e| LabError::Build(format!("initramfs: {e}")))?;
    let vmlinuz = kdir.join("boot").join(format!("vmlinuz-{kver}"));
    let config = std::fs::read_to_string(kdir.join("boot").join(format!("config-{kver}")))
        .unwrap_or_default();
    // Under TCG the kernel's own decompression costs time at every boot (xz: seconds, zstd:
    // about 0.4 s); a kernel with a PVH entry boots from the uncompressed ELF directly
    // (measured 6.3 s -> 2.7 s to init for xz).
    let pvh = config.lines().any(|l| l == "CONFIG_PVH=y");
    if !(pvh && extract_vmlinux(&vmlinuz, &tmp.join("vmlinuz"))) {
        std::fs::copy(&vmlinuz, tmp.join("vmlinuz")).map_err(io("copying vmlinuz"))?;
    }
    std::fs::remove_dir_all(&staging).map_err(io(staging.display()))?;
    std::fs::write(tmp.join(".done"), &kver).map_err(io(tmp.display()))?;
    std::fs::rename(&tmp, base_dir).map_err(io(base_dir.display()))?;
    Ok(())
}

/// The kernel's modules (minus what no node needs), indexed by the guest's own depmod.
/// Returns their directory in the staging tree.
fn add_modules(staging: &Path, kdir: &Path, kver: &str) -> Result<PathBuf, LabError> {
    let mods_dst = staging.join("lib/modules").join(kver);
    std::fs::create_dir_all(staging.join("lib/modules")).map_err(io("lib/modules"))?;
    run(
        Command::new("cp")
            .arg("-a")
            .arg(kernel_modules(kdir).join(kver))
            .arg(&mods_dst),
        "copying the kernel modules",
    )?;
    for ex in MODULE_EXCLUDES {
        let p = mods_dst.join(ex);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(io(p.display()))?;
        }
    }
    run(
        Command::new("chroot")
            .arg(staging)
            .args(["depmod", "-a", kver]),
        "depmod",
    )?;
    Ok(mods_dst)
}

/// sshd, the node setup unit (identity from fw_cfg at boot, no shared host keys), the clock
/// agent a resume talks to, no motd, the machine id placeholder. Returns the static busybox the
/// node setup and the clock agent run under.
fn add_lvslab_units(staging: &Path) -> Result<PathBuf, LabError> {
    for entry in std::fs::read_dir(staging.join("etc/ssh"))
        .map_err(io("etc/ssh"))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            std::fs::remove_file(entry.path()).map_err(io(entry.path().display()))?;
        }
    }
    write(
        &staging.join("etc/systemd/system/ssh.service.d/lvslab.conf"),
        SSH_DROPIN,
        0o644,
    )?;
    write(
        &staging.join("etc/ssh/sshd_config.d/lvslab.conf"),
        SSHD_CONF,
        0o644,
    )?;
    // Every ssh login ran the motd scripts (forks cost most of a login under TCG).
    let pam_sshd = staging.join("etc/pam.d/sshd");
    if let Ok(text) = std::fs::read_to_string(&pam_sshd) {
        write(&pam_sshd, &without_pam_motd(&text), 0o644)?;
    }
    // The node setup runs under a static busybox (assets/node-setup.sh says why).
    let busybox = super::prereq::static_busybox()
        .ok_or_else(|| LabError::Build("no static busybox (package busybox-static)".into()))?;
    let bb_dst = staging.join("usr/local/lib/lvslab/busybox");
    std::fs::create_dir_all(staging.join("usr/local/lib/lvslab")).map_err(io("usr/local/lib"))?;
    std::fs::copy(&busybox, &bb_dst).map_err(io("copying busybox"))?;
    write(
        &staging.join("usr/local/sbin/lvslab-node-setup"),
        NODE_SETUP,
        0o755,
    )?;
    write(
        &staging.join("etc/systemd/system/lvslab-node-setup.service"),
        NODE_SETUP_UNIT,
        0o644,
    )?;
    write(&staging.join("usr/local/sbin/lvslab-clock"), CLOCK, 0o755)?;
    write(
        &staging.join("etc/systemd/system/lvslab-clock.service"),
        CLOCK_UNIT,
        0o644,
    )?;
    write(
        &staging.join("etc/fstab"),
        "# lvslab node: root is set up by the initramfs\n",
        0o644,
    )?;
    // A placeholder id; the initramfs writes the node's own from the kernel command line.
    write(
        &staging.join("etc/machine-id"),
        "00000000000000000000000000000001\n",
        0o444,
    )?;
    let _ = std::fs::remove_file(staging.join("var/lib/dbus/machine-id"));
    let _ = std::fs::remove_file(staging.join("etc/hostname"));
    Ok(busybox)
}

/// Enable the node setup, disable what a pristine node has installed but not running, mask
/// boot-time noise and the generators that find nothing on a lab node.
fn configure_units(staging: &Path, image: Image) -> Result<(), LabError> {
    let systemctl = |args: &[&str], what: &str| {
        run(
            Command::new("chroot")
                .arg(staging)
                .arg("systemctl")
                .args(args),
            what,
        )
    };
    systemctl(
        &[
            "enable",
            "lvslab-node-setup.service",
            "lvslab-clock.service",
        ],
        "enabling lvslab-node-setup and lvslab-clock",
    )?;
    let mut disable = vec!["disable"];
    disable.extend(image.disabled_units());
    systemctl(&disable, "disabling the services setup starts")?;
    let mut mask = vec!["mask"];
    mask.extend(masked_units(image));
    systemctl(&mask, "masking boot-time units")?;
    systemctl(&["set-default", "multi-user.target"], "default target")?;
    let gen_dir = staging.join("etc/systemd/system-generators");
    std::fs::create_dir_all(&gen_dir).map_err(io(gen_dir.display()))?;
    for g in MASKED_GENERATORS {
        let link = gen_dir.join(g);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/null", &link).map_err(io(link.display()))?;
    }
    Ok(())
}

/// The lab's package repository in the image, as the node's only apt source (the lab has no
/// way out to an archive), its index already read as after an install's `apt-get update`.
fn add_repo(staging: &Path, repo: &Path) -> Result<(), LabError> {
    let dst = staging.join(image::REPO_DIR.trim_start_matches('/'));
    std::fs::create_dir_all(&dst).map_err(io(dst.display()))?;
    run(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", repo.display()))
            .arg(&dst),
        "copying the package repository",
    )?;
    let _ = std::fs::remove_file(dst.join(".done"));
    write(
        &staging.join("etc/apt/sources.list"),
        &format!(
            "# The lab's package repository (what lvslab setup installs)\n{}\n",
            image::REPO_SOURCE
        ),
        0o644,
    )?;
    if let Ok(dir) = std::fs::read_dir(staging.join("etc/apt/sources.list.d")) {
        for e in dir.flatten() {
            std::fs::remove_file(e.path()).map_err(io(e.path().display()))?;
        }
    }
    run(
        Command::new("chroot")
            .arg(staging)
            .args(["apt-get", "update", "-q"]),
        "reading the lab's package index",
    )?;
    Ok(())
}

/// Decompress the ELF kernel out of an xz- (Debian 11, 12) or zstd-compressed (Debian 13)
/// bzImage (what the kernel's `scripts/extract-vmlinux` does). False when that does not give
/// an ELF.
fn extract_vmlinux(bzimage: &Path, out: &Path) -> bool {
    use std::io::Write;
    use std::process::Stdio;
    let Ok(data) = std::fs::read(bzimage) else {
        return false;
    };
    let find = |magic: &[u8]| data.windows(magic.len()).position(|w| w == magic);
    // zstd stops at the end of the kernel's frame, with an error for what follows it; the
    // output is judged by whether it is an ELF, not by the exit status.
    let (at, tool, args) = match (find(b"\xfd7zXZ\x00"), find(b"\x28\xb5\x2f\xfd")) {
        (Some(at), _) => (at, "xz", ["-dc", "--single-stream"]),
        (None, Some(at)) => (at, "zstd", ["-dc", "-q"]),
        (None, None) => return false,
    };
    let Ok(file) = std::fs::File::create(out) else {
        return false;
    };
    let Ok(mut child) = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&data[at..]);
    }
    let _ = child.wait();
    let elf = std::fs::read(out)
        .map(|d| d.len() > 1 << 20 && d.starts_with(b"\x7fELF"))
        .unwrap_or(false);
    if !elf {
        let _ = std::fs::remove_file(out);
    }
    elf
}

/// The PAM config with its `pam_motd.so` lines commented out.
fn without_pam_motd(text: &str) -> String {
    text.lines()
        .map(|l| {
            if !l.trim_start().starts_with('#') && l.contains("pam_motd.so") {
                format!("# lvslab: no motd on lab nodes: {l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pam_motd_lines_are_commented_out() {
        let t = "session    optional     pam_motd.so  motd=/run/motd.dynamic\n# pam_motd.so here\nsession required pam_limits.so\n";
        let out = without_pam_motd(t);
        assert!(out.starts_with("# lvslab: no motd"));
        assert!(out.contains("\n# pam_motd.so here\n"));
        assert!(out.contains("\nsession required pam_limits.so\n"));
    }

    #[test]
    fn mirror_from_deb822_skips_security() {
        let text = "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n\
                    Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm\n";
        assert_eq!(
            mirror_from_sources(text).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn mirror_from_one_line_format() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/x.gpg] http://ftp.de.debian.org/debian bookworm main\n";
        assert_eq!(
            mirror_from_sources(text).as_deref(),
            Some("http://ftp.de.debian.org/debian")
        );
        assert_eq!(
            mirror_from_sources("deb https://packages.cloud.google.com/apt x main"),
            None
        );
    }

    #[test]
    fn hash_depends_on_every_input() {
        assert_ne!(hash(&["a", "b"]), hash(&["ab"]));
        assert_eq!(hash(&["a"]).len(), 16);
    }
}
