//! The lab's own initramfs: busybox-static, the kernel modules needed to reach the root
//! (virtio, squashfs, ext4, overlay) in dependency order, and `/init` (assets/init.sh), written
//! as an uncompressed `newc` cpio archive. Also the kernel command line of a node.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The `/init` script of the initramfs.
pub const INIT_SCRIPT: &str = include_str!("assets/init.sh");

/// Modules the initramfs loads (plus their dependencies, from modules.dep) to mount the root:
/// virtio PCI + block for the disks, squashfs for the shared root, ext4 for the node's
/// writable disk (crc32c is a soft dependency of ext4/jbd2), overlay to join them; and, so
/// that the node's setup unit forks no modprobe, the NIC driver and fw_cfg (the node identity).
pub const ROOT_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "squashfs",
    "crc32c_generic",
    "ext4",
    "overlay",
    "virtio_net",
    "qemu_fw_cfg",
];

#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    #[error("module {0} is not in modules.dep")]
    MissingModule(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Parse `modules.dep` text into module name -> (relative path, dependency paths).
pub fn parse_modules_dep(text: &str) -> HashMap<String, (String, Vec<String>)> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let Some((path, deps)) = line.split_once(':') else {
            continue;
        };
        let deps = deps.split_whitespace().map(str::to_string).collect();
        map.insert(module_name(path), (path.to_string(), deps));
    }
    map
}

/// `kernel/fs/ext4/ext4.ko(.xz)` -> `ext4` (modprobe treats `-` and `_` alike).
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let base = file.split(".ko").next().unwrap_or(file);
    base.replace('-', "_")
}

/// The module files to load, dependencies before dependants, each once.
/// The names of the modules built into the kernel (`modules.builtin`): nothing to load.
pub fn parse_builtin(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(module_name)
        .collect()
}

/// The module files to load for `wanted` (those not built into the kernel, see `builtin`),
/// dependencies before dependants, each once.
pub fn load_order(
    dep: &HashMap<String, (String, Vec<String>)>,
    builtin: &[String],
    wanted: &[&str],
) -> Result<Vec<String>, InitramfsError> {
    fn visit(
        dep: &HashMap<String, (String, Vec<String>)>,
        name: &str,
        out: &mut Vec<String>,
    ) -> Result<(), InitramfsError> {
        let (path, deps) = dep
            .get(name)
            .ok_or_else(|| InitramfsError::MissingModule(name.to_string()))?;
        if out.contains(path) {
            return Ok(());
        }
        // modules.dep lists the direct dependency first; load the deepest first.
        for d in deps.iter().rev() {
            visit(dep, &module_name(d), out)?;
        }
        if !out.contains(path) {
            out.push(path.clone());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for w in wanted {
        let name = w.replace('-', "_");
        if builtin.contains(&name) {
            continue;
        }
        visit(dep, &name, &mut out)?;
    }
    Ok(out)
}

/// A `newc` cpio archive in memory.
#[derive(Default)]
pub struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn header(&mut self, name: &str, mode: u32, size: usize, rdev: (u32, u32)) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            if mode & 0o040000 != 0 { 2 } else { 1 },
            0,
            size as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            namesize as u32,
            0,
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        self.header(name, 0o040755, 0, (0, 0));
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.header(name, 0o100000 | mode, data.len(), (0, 0));
        self.buf.extend_from_slice(data);
        self.pad();
    }

    pub fn char_dev(&mut self, name: &str, mode: u32, major: u32, minor: u32) {
        self.header(name, 0o020000 | mode, 0, (major, minor));
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.header("TRAILER!!!", 0, 0, (0, 0));
        while self.buf.len() % 512 != 0 {
            self.buf.push(0);
        }
        self.buf
    }
}

/// A module as busybox's `insmod` loads it: decompressed when the kernel package ships it
/// compressed (`.ko.xz`, `.ko.zst`, as newer Debian kernels do). Returns its file name and bytes.
fn module_file(rel: &str, data: &[u8]) -> std::io::Result<(String, Vec<u8>)> {
    let file = rel.rsplit('/').next().unwrap_or(rel);
    let tool = if file.ends_with(".ko.xz") {
        "xz"
    } else if file.ends_with(".ko.zst") {
        "zstd"
    } else {
        return Ok((file.to_string(), data.to_vec()));
    };
    use std::process::{Command, Stdio};
    let mut child = Command::new(tool)
        .args(["-dc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    let input = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    feeder
        .join()
        .map_err(|_| std::io::Error::other("writer thread panicked"))??;
    if !out.status.success() {
        return Err(std::io::Error::other(format!("{tool} -dc {file} failed")));
    }
    let name = file.rsplit_once('.').map_or(file, |(n, _)| n);
    Ok((name.to_string(), out.stdout))
}

/// Build the initramfs: `busybox` is the static busybox binary, `modules_dir` the kernel's
/// `/lib/modules/<version>` (with modules.dep), `out` the archive to write.
pub fn build(busybox: &Path, modules_dir: &Path, out: &Path) -> Result<(), InitramfsError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| InitramfsError::Io { path: p, source }
    };
    let dep_path = modules_dir.join("modules.dep");
    let dep = parse_modules_dep(&std::fs::read_to_string(&dep_path).map_err(io(&dep_path))?);
    // Newer kernels build some of them in (trixie's has virtio_pci built in).
    let builtin = std::fs::read_to_string(modules_dir.join("modules.builtin"))
        .map(|t| parse_builtin(&t))
        .unwrap_or_default();
    let order = load_order(&dep, &builtin, ROOT_MODULES)?;
    let mut cpio = Cpio::default();
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "lib",
        "lib/modules",
        "lower",
        "rw",
        "newroot",
    ] {
        cpio.dir(d);
    }
    cpio.char_dev("dev/console", 0o600, 5, 1);
    cpio.file(
        "bin/busybox",
        0o755,
        &std::fs::read(busybox).map_err(io(busybox))?,
    );
    cpio.file("init", 0o755, INIT_SCRIPT.as_bytes());
    let mut listing = String::new();
    for rel in &order {
        let src = modules_dir.join(rel);
        let (file, data) =
            module_file(rel, &std::fs::read(&src).map_err(io(&src))?).map_err(io(&src))?;
        cpio.file(&format!("lib/modules/{file}"), 0o644, &data);
        listing.push_str(&file);
        listing.push('\n');
    }
    cpio.file("lib/modules/order", 0o644, listing.as_bytes());
    let data = cpio.finish();
    let tmp = out.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&data).map_err(io(&tmp))?;
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(())
}

/// Kernel command line of a node: serial console, quiet boot, the node's persistent machine id,
/// kernel NIC names (lvslab renames the NIC itself). No secrets: keys go through fw_cfg.
/// `tsc_khz`: the rate of the guest's TSC, when known (see [`super::vm::guest_tsc_khz`]).
/// `random.trust_cpu=on`: the kernel's random pool is ready at boot from the CPU's RDRAND, as on
/// hardware (Debian 11's kernel does not trust it by default). Without it sshd blocks in
/// `getrandom` until the pool filled from timing jitter: under emulation its start took
/// 1.5-3.8 s, against 1.2-1.6 s with the pool ready.
/// `lsm=`: Debian's list of security modules without BPF's. With the BPF LSM present, systemd
/// 257 compiles and attaches its `RestrictFileSystems=` program at every boot (2-3 s of a
/// trixie node's boot under emulation) though no unit a lab node runs uses it. Names a kernel
/// lacks (landlock in 5.10, ipe, ima and evm before 6.12) are skipped by the kernel.
pub fn kernel_cmdline(machine_id: &str, tsc_khz: Option<u64>) -> String {
    let tsc = tsc_khz
        .map(|k| format!(" tsc_early_khz={k}"))
        .unwrap_or_default();
    format!(
        "console=ttyS0,115200 quiet loglevel=4 panic=-1 net.ifnames=0 \
         systemd.machine_id={machine_id} systemd.show_status=error \
         tsc=reliable no_timer_check mitigations=off pci=noacpi random.trust_cpu=on \
         lsm=lockdown,capability,landlock,yama,apparmor,tomoyo,ipe,ima,evm{tsc}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/fs/squashfs/squashfs.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/fs/overlayfs/overlay.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/firmware/qemu_fw_cfg.ko:
";

    #[test]
    fn compressed_modules_are_unpacked_for_insmod() {
        let plain = module_file("kernel/fs/ext4/ext4.ko", b"ELF").unwrap();
        assert_eq!(plain, ("ext4.ko".to_string(), b"ELF".to_vec()));
        let mut xz = std::process::Command::new("xz")
            .args(["-zc"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        xz.stdin.take().unwrap().write_all(b"module bytes").unwrap();
        let packed = xz.wait_with_output().unwrap().stdout;
        let (name, data) = module_file("kernel/fs/ext4/ext4.ko.xz", &packed).unwrap();
        assert_eq!(name, "ext4.ko");
        assert_eq!(data, b"module bytes");
    }

    #[test]
    fn dependencies_load_first_and_once() {
        let dep = parse_modules_dep(DEP);
        let order = load_order(&dep, &[], ROOT_MODULES).unwrap();
        let pos = |m: &str| order.iter().position(|p| p.ends_with(m)).unwrap();
        assert!(pos("/virtio_ring.ko") < pos("/virtio.ko"));
        assert!(pos("/virtio.ko") < pos("/virtio_pci.ko"));
        assert!(pos("/virtio_pci.ko") < pos("/virtio_blk.ko"));
        assert!(pos("/jbd2.ko") < pos("/ext4.ko"));
        assert!(pos("/crc32c_generic.ko") < pos("/ext4.ko"));
        assert_eq!(
            order.iter().filter(|p| p.ends_with("/virtio.ko")).count(),
            1
        );
        assert_eq!(order.len(), 17);
        assert!(pos("/failover.ko") < pos("/net_failover.ko"));
    }

    #[test]
    fn missing_module_is_an_error() {
        let dep = parse_modules_dep(DEP);
        assert!(matches!(
            load_order(&dep, &[], &["ip_vs"]),
            Err(InitramfsError::MissingModule(m)) if m == "ip_vs"
        ));
    }

    /// A module the kernel has built in is not loaded (and need not be in modules.dep).
    #[test]
    fn builtin_modules_are_skipped() {
        let dep = parse_modules_dep(DEP);
        let builtin = parse_builtin("kernel/drivers/virtio/virtio_pci.ko\nkernel/fs/ip_vs.ko\n");
        assert_eq!(builtin, ["virtio_pci", "ip_vs"]);
        let order = load_order(&dep, &builtin, &["ip_vs", "virtio_pci", "squashfs"]).unwrap();
        assert_eq!(order, ["kernel/fs/squashfs/squashfs.ko"]);
    }

    #[test]
    fn cpio_is_newc_with_trailer() {
        let mut c = Cpio::default();
        c.dir("bin");
        c.file("init", 0o755, b"#!/bin/sh\n");
        let data = c.finish();
        assert!(data.starts_with(b"070701"));
        assert_eq!(data.len() % 512, 0);
        let text = String::from_utf8_lossy(&data);
        assert!(text.contains("TRAILER!!!"));
        // init's header: mode 0100755 and size 10.
        let at = text.find("init\0").unwrap();
        let header = &text[at - 110..at];
        assert_eq!(&header[14..22], "000081ed");
        assert_eq!(&header[54..62], "0000000a");
        assert_eq!(header.len(), 110);
    }

    #[test]
    fn cmdline_carries_no_secrets_and_the_machine_id() {
        let c = kernel_cmdline("0123456789abcdef0123456789abcdef", None);
        assert!(c.contains("systemd.machine_id=0123456789abcdef0123456789abcdef"));
        assert!(c.contains("console=ttyS0"));
        assert!(!c.contains("key"));
        assert!(!c.contains("tsc_early_khz"));
        assert!(c.contains(" random.trust_cpu=on"), "{c}");
        let lsm = c
            .split(' ')
            .find_map(|w| w.strip_prefix("lsm="))
            .unwrap_or("");
        assert!(lsm.starts_with("lockdown,capability,"), "{c}");
        assert!(!lsm.split(',').any(|m| m == "bpf"), "{c}");
        let c = kernel_cmdline("0123456789abcdef0123456789abcdef", Some(2_600_000));
        assert!(c.ends_with(" tsc_early_khz=2600000"), "{c}");
    }
}
