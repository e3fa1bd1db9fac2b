//! One node's VM: the qemu command line, starting it inside the lab namespace (cold, or resumed
//! from a saved state), its recorded pid, its QMP monitor, saving it to a file and stopping it.
//!
//! qemu runs with `-daemonize -pidfile`, so the pid recorded is qemu's own; a pid is only trusted
//! when `/proc/<pid>/cmdline` still names this node's VM.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::cache::Base;
use super::keys::NodePaths;
use super::topology::Node;
use super::{initramfs, LabError};

/// How guest code is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    fn arg(self) -> &'static str {
        match self {
            // A bounded translation cache (qemu's default is 1 GiB). At 64 MiB a package
            // install (dpkg, perl, systemd reloads) keeps evicting translated code: a fresh
            // lab's cold setup took 157-176 s against 128-137 s at 256 MiB. The cache fills
            // only as guest code runs: an idle node stays near its RAM, a busy one grows to
            // about 640 MiB.
            Accel::Tcg => "tcg,tb-size=256",
            Accel::Kvm => "kvm",
        }
    }

    /// The guest's CPU model: qemu's default, plus RDRAND under TCG. Every x86 server of the
    /// last decade has it and the guest kernel seeds its random pool from it at boot; TCG
    /// emulates it from the host's `getrandom`.
    fn cpu(self) -> &'static str {
        match self {
            Accel::Tcg => "qemu64,+rdrand",
            Accel::Kvm => "qemu64",
        }
    }
}

/// Everything that decides one VM's command line.
pub struct VmSpec<'a> {
    pub lab: &'a str,
    pub node: &'a Node,
    pub base: &'a Base,
    pub paths: &'a NodePaths,
    pub tap: &'a str,
    pub mac: &'a str,
    pub machine_id: &'a str,
    pub accel: Accel,
}

/// The rate of a TCG guest's TSC in kHz, which the guest's kernel is told at boot
/// (`tsc_early_khz`). Under TCG the guest's TSC is the host's, but a guest calibrates it against
/// its emulated timers at boot, and a guest starved of CPU then (several booting on two cores)
/// can get it badly wrong: a node measured 872 MHz for a 2.6 GHz TSC and its clock ran three
/// times too fast, with `tsc=reliable` keeping it from noticing. The kernel's own refinement
/// later corrects an early value only within 1 %. Measured once on the host, rounded to the
/// MHz and kept in the cache, so the VMs' command line (which decides whether a saved state
/// may be resumed) stays the same from one run to the next. `None` on a host whose cycle
/// counter is not an x86 TSC.
pub fn guest_tsc_khz() -> Option<u64> {
    static KHZ: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *KHZ.get_or_init(|| {
        let file = super::cache::cache_dir().join("host-tsc-khz");
        if let Some(k) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            return Some(k);
        }
        let k = measure_tsc_khz()?;
        let _ = std::fs::create_dir_all(super::cache::cache_dir());
        let _ = std::fs::write(&file, format!("{k}\n"));
        Some(k)
    })
}

#[cfg(target_arch = "x86_64")]
fn measure_tsc_khz() -> Option<u64> {
    // SAFETY: RDTSC has no preconditions on x86_64.
    let tsc = || unsafe { std::arch::x86_64::_rdtsc() };
    let (t0, c0) = (Instant::now(), tsc());
    std::thread::sleep(Duration::from_millis(50));
    let (c1, t1) = (tsc(), Instant::now());
    let ns = t1.duration_since(t0).as_nanos() as u64;
    let khz = c1.checked_sub(c0)?.checked_mul(1_000_000)? / ns.max(1);
    // Round to the MHz; a host counter below 100 MHz is not a TSC to trust.
    let mhz = (khz + 500) / 1000;
    (mhz >= 100).then_some(mhz * 1000)
}

#[cfg(not(target_arch = "x86_64"))]
fn measure_tsc_khz() -> Option<u64> {
    None
}

/// The `-name` of a node's VM; also how a recorded pid is recognised as ours.
pub fn vm_name(lab: &str, node: &str) -> String {
    format!("lvslab-{lab}-{node}")
}

fn esc(s: &str) -> String {
    // qemu option syntax: a comma inside a value is written twice.
    s.replace(',', ",,")
}

/// qemu's arguments for a node (without `-daemonize`/`-incoming`, which do not change the VM).
pub fn qemu_args(spec: &VmSpec) -> Vec<String> {
    let mut a = machine_args(spec);
    a.extend(node_config_args(spec));
    a
}

/// The machine: memory, kernel and initramfs, the read-only root image and the node's own
/// disk, its tap, console log, QMP socket and pid file.
fn machine_args(spec: &VmSpec) -> Vec<String> {
    let n = spec.node;
    let p = spec.paths;
    [
        "-name",
        &format!(
            "{},process={}",
            vm_name(spec.lab, &n.name),
            vm_name(spec.lab, &n.name)
        ),
        "-accel",
        spec.accel.arg(),
        "-cpu",
        spec.accel.cpu(),
        "-M",
        "pc",
        "-m",
        &format!("{}M", n.memory_mb),
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-vga",
        "none",
        "-kernel",
        &spec.base.kernel.display().to_string(),
        "-initrd",
        &spec.base.initramfs.display().to_string(),
        "-append",
        &initramfs::kernel_cmdline(
            spec.machine_id,
            match spec.accel {
                Accel::Tcg => guest_tsc_khz(),
                Accel::Kvm => None,
            },
        ),
        "-drive",
        &format!(
            "file={},if=none,id=root,format=raw,readonly=on",
            esc(&spec.base.squashfs.display().to_string())
        ),
        "-device",
        "virtio-blk-pci,drive=root,addr=0x4",
        "-drive",
        &format!(
            "file={},if=none,id=state,format=raw,cache=writeback",
            esc(&p.disk().display().to_string())
        ),
        "-device",
        "virtio-blk-pci,drive=state,addr=0x5",
        "-netdev",
        &format!("tap,id=lan,ifname={},script=no,downscript=no", spec.tap),
        "-device",
        &format!(
            "virtio-net-pci,netdev=lan,mac={},addr=0x3,romfile=",
            spec.mac
        ),
        "-chardev",
        &format!(
            "file,id=console,path={},append=on",
            esc(&p.console().display().to_string())
        ),
        "-serial",
        "chardev:console",
        "-chardev",
        &format!(
            "socket,id=clock,path={},server=on,wait=off",
            esc(&p.clock().display().to_string())
        ),
        "-serial",
        "chardev:clock",
        "-qmp",
        &format!(
            "unix:{},server=on,wait=off",
            esc(&p.qmp().display().to_string())
        ),
        "-pidfile",
        &p.pidfile().display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// What the node's first boot reads to become this inventory host (`fw_cfg` entries under
/// `opt/lvslab/`): name, interface, address, login and keys.
fn node_config_args(spec: &VmSpec) -> Vec<String> {
    let n = spec.node;
    let p = spec.paths;
    let fw = |name: &str, value: &str| {
        vec![
            "-fw_cfg".to_string(),
            format!("name=opt/lvslab/{name},string={}", esc(value)),
        ]
    };
    let fw_file = |name: &str, file: &Path| {
        vec![
            "-fw_cfg".to_string(),
            format!(
                "name=opt/lvslab/{name},file={}",
                esc(&file.display().to_string())
            ),
        ]
    };
    let mut a = Vec::new();
    a.extend(fw("hostname", &n.name));
    a.extend(fw("iface", &n.interface));
    a.extend(fw("address", &format!("{}/{}", n.address, n.prefix)));
    a.extend(fw("mac", spec.mac));
    a.extend(fw("user", &n.user));
    a.extend(fw("port", &n.port.to_string()));
    a.extend(fw_file("host_key", &p.host_key()));
    a.extend(fw_file("host_key_pub", &p.host_key_pub()));
    a.extend(fw_file("authorized_keys", &p.authorized_keys()));
    let l = &n.login;
    if let Some(u) = &l.lab_user {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        a.extend(fw("lab_user", u));
        a.extend(fw("root_login", yes_no(l.root_login)));
        a.extend(fw("password_login", yes_no(l.password_login)));
        a.extend(fw("sudo_asks", yes_no(l.sudo_asks)));
        if l.password.is_some() {
            a.extend(fw_file("login_password", &p.login_password()));
        }
    }
    a
}

/// A fingerprint of the VM's configuration and of the very base files it boots from: a saved
/// state is only restored into an identical VM.
pub fn args_fingerprint(args: &[String], base: &Base) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(base.id.as_bytes());
    // A base rebuilt with the same inputs is still a different image under a saved VM's page
    // cache: the files' modification times tell the builds apart.
    for f in [&base.squashfs, &base.kernel, &base.initramfs] {
        let stamp = std::fs::metadata(f)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.update(stamp.to_le_bytes());
    }
    for a in args {
        h.update(a.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Start the VM inside namespace `ns`; resume from the saved state when `restore`.
/// Returns qemu's pid (from its pidfile).
pub fn start(ns: &str, args: &[String], paths: &NodePaths, restore: bool) -> Result<i32, LabError> {
    remove_runtime_files(paths);
    if !restore {
        let _ = std::fs::write(paths.console(), "");
    }
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "qemu-system-x86_64"])
        .args(args)
        .arg("-daemonize");
    if restore {
        cmd.arg("-incoming").arg(format!(
            "exec:cat {}",
            sh_quote(&paths.vmstate().display().to_string())
        ));
    }
    let out = cmd
        .output()
        .map_err(|e| LabError::Vm(format!("cannot run qemu-system-x86_64: {e}")))?;
    if !out.status.success() {
        return Err(LabError::Vm(format!(
            "qemu-system-x86_64 failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    read_pid(paths).ok_or_else(|| LabError::Vm("qemu started but wrote no pidfile".into()))
}

fn read_pid(paths: &NodePaths) -> Option<i32> {
    std::fs::read_to_string(paths.pidfile())
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The files a running qemu makes for a node (its pid file and sockets), which name no VM once
/// it has stopped.
fn remove_runtime_files(paths: &NodePaths) {
    for f in [paths.pidfile(), paths.qmp(), paths.clock()] {
        let _ = std::fs::remove_file(f);
    }
}

/// The host's time as a node's clock is set to it: seconds since the epoch, to the millisecond.
pub fn host_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    format!("{now:.3}")
}

/// qemu's pid when the node's VM is running (the recorded pid, still this VM).
pub fn running_pid(lab: &str, node: &str, paths: &NodePaths) -> Option<i32> {
    let pid = read_pid(paths)?;
    pid_is_vm(pid, &vm_name(lab, node)).then_some(pid)
}

fn pid_is_vm(pid: i32, name: &str) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first()
                .is_some_and(|a| a.ends_with(b"qemu-system-x86_64"))
                && args
                    .iter()
                    .any(|a| a.starts_with(format!("{name},").as_bytes()))
                && !is_zombie(pid)
        }
        Err(_) => false,
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(true)
}

/// Resident memory of a process in KiB (VmRSS).
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A QMP connection to a VM's monitor.
struct Qmp {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Qmp {
    fn connect(path: &Path) -> Result<Qmp, LabError> {
        let stream = UnixStream::connect(path).map_err(|e| {
            LabError::Vm(format!("cannot reach qemu monitor {}: {e}", path.display()))
        })?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let writer = stream
            .try_clone()
            .map_err(|e| LabError::Vm(format!("qemu monitor: {e}")))?;
        let mut q = Qmp {
            writer,
            reader: BufReader::new(stream),
        };
        q.read_line()?; // greeting
        q.execute("qmp_capabilities", json!({}))?;
        Ok(q)
    }

    fn read_line(&mut self) -> Result<Value, LabError> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| LabError::Vm(format!("qemu monitor: {e}")))?;
        if n == 0 {
            return Err(LabError::Vm("qemu monitor closed".into()));
        }
        serde_json::from_str(&line).map_err(|e| LabError::Vm(format!("qemu monitor: {e}")))
    }

    fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, LabError> {
        let msg = json!({"execute": command, "arguments": arguments});
        writeln!(self.writer, "{msg}").map_err(|e| LabError::Vm(format!("qemu monitor: {e}")))?;
        loop {
            let v = self.read_line()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                return Err(LabError::Vm(format!("qemu {command}: {e}")));
            }
            // an asynchronous event: skip
        }
    }
}

fn wait_gone(pid: i32, name: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !pid_is_vm(pid, name) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a pid we verified is our qemu.
    unsafe { libc::kill(pid, sig) };
}

/// Stop the VM for good (no saved state): ask qemu to quit, then signals, by recorded pid.
pub fn stop(lab: &str, node: &str, paths: &NodePaths) -> Result<(), LabError> {
    let Some(pid) = running_pid(lab, node, paths) else {
        return Ok(());
    };
    let name = vm_name(lab, node);
    if let Ok(mut q) = Qmp::connect(&paths.qmp()) {
        let _ = q.execute("quit", json!({}));
    }
    if !wait_gone(pid, &name, Duration::from_secs(3)) {
        signal(pid, libc::SIGTERM);
        if !wait_gone(pid, &name, Duration::from_secs(3)) {
            signal(pid, libc::SIGKILL);
            wait_gone(pid, &name, Duration::from_secs(3));
        }
    }
    remove_runtime_files(paths);
    Ok(())
}

/// Freeze a running VM in place (qemu's `stop`: the vCPUs halt, the NIC goes silent, memory is
/// kept): to the other nodes it is a machine that died without a word, yet `resume` brings it
/// back exactly where it was. The failover drill's hard stop.
pub fn pause(lab: &str, node: &str, paths: &NodePaths) -> Result<(), LabError> {
    running_pid(lab, node, paths).ok_or_else(|| LabError::NodeDown(node.to_string()))?;
    Qmp::connect(&paths.qmp())?.execute("stop", json!({}))?;
    Ok(())
}

/// Let a VM frozen by `pause` run again (a running VM is left as it is).
pub fn resume(lab: &str, node: &str, paths: &NodePaths) -> Result<(), LabError> {
    running_pid(lab, node, paths).ok_or_else(|| LabError::NodeDown(node.to_string()))?;
    Qmp::connect(&paths.qmp())?.execute("cont", json!({}))?;
    Ok(())
}

/// Suspend the running VM to its vmstate file (memory and devices; its disks are flushed), then
/// stop it. `fingerprint` is recorded so the state is only restored into the same VM.
pub fn save(lab: &str, node: &str, paths: &NodePaths, fingerprint: &str) -> Result<(), LabError> {
    let Some(pid) = running_pid(lab, node, paths) else {
        return Ok(());
    };
    let tmp = paths.vmstate().with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(paths.vmstate());
    let _ = std::fs::remove_file(paths.vmstate_meta());
    let result = (|| -> Result<(), LabError> {
        let mut q = Qmp::connect(&paths.qmp())?;
        q.execute("stop", json!({}))?;
        q.execute(
            "migrate-set-parameters",
            json!({"max-bandwidth": 8u64 << 30, "downtime-limit": 2000}),
        )?;
        q.execute(
            "migrate",
            json!({"uri": format!("exec:cat > {}", sh_quote(&tmp.display().to_string()))}),
        )?;
        let start = Instant::now();
        loop {
            let st = q.execute("query-migrate", json!({}))?;
            match st.get("status").and_then(Value::as_str) {
                Some("completed") => break,
                Some("failed") | Some("cancelled") => {
                    return Err(LabError::Vm(format!("saving the VM state failed: {st}")))
                }
                _ => {}
            }
            if start.elapsed() > Duration::from_secs(120) {
                return Err(LabError::Vm("saving the VM state took over 120 s".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = q.execute("quit", json!({}));
        Ok(())
    })();
    let name = vm_name(lab, node);
    if !wait_gone(pid, &name, Duration::from_secs(5)) {
        signal(pid, libc::SIGKILL);
        wait_gone(pid, &name, Duration::from_secs(3));
    }
    remove_runtime_files(paths);
    match result {
        Ok(()) => {
            std::fs::rename(&tmp, paths.vmstate())
                .map_err(|e| LabError::Vm(format!("saving the VM state: {e}")))?;
            std::fs::write(paths.vmstate_meta(), fingerprint)
                .map_err(|e| LabError::Vm(format!("saving the VM state: {e}")))?;
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// After `start(.., restore = true)`: wait until the incoming state is loaded, then let the VM
/// run (it was saved paused, and qemu keeps a VM paused that was paused when saved).
pub fn resume_after_incoming(paths: &NodePaths, timeout: Duration) -> Result<(), LabError> {
    let start = Instant::now();
    let mut q = loop {
        match Qmp::connect(&paths.qmp()) {
            Ok(q) => break q,
            Err(e) if start.elapsed() > timeout => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    loop {
        let st = q.execute("query-status", json!({}))?;
        match st.get("status").and_then(Value::as_str) {
            Some("running") => return Ok(()),
            Some("inmigrate") => {}
            Some("paused") | Some("postmigrate") | Some("prelaunch") => {
                q.execute("cont", json!({}))?;
                return Ok(());
            }
            other => {
                return Err(LabError::Vm(format!(
                    "resuming the saved state failed (VM status {other:?})"
                )))
            }
        }
        if start.elapsed() > timeout {
            return Err(LabError::Vm("loading the saved state took too long".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Set a resumed VM's clock to the host's through its clock agent (the image's
/// `lvslab-clock`, on the VM's second serial port): a saved VM's clock stopped with it. One
/// line each way, no ssh login. An error means the agent did not answer within `timeout`
/// (a state saved before it started, say): the caller sets the clock over ssh instead.
pub fn set_clock(paths: &NodePaths, timeout: Duration) -> Result<(), LabError> {
    let fail = |e: std::io::Error| LabError::Vm(format!("the clock agent: {e}"));
    let stream = UnixStream::connect(paths.clock()).map_err(fail)?;
    stream.set_read_timeout(Some(timeout)).map_err(fail)?;
    let mut reader = BufReader::new(&stream);
    let mut ask = |line: &str, want: &str| -> Result<(), LabError> {
        (&stream).write_all(line.as_bytes()).map_err(fail)?;
        let mut answer = String::new();
        reader.read_line(&mut answer).map_err(fail)?;
        match answer.trim() {
            a if a == want => Ok(()),
            "" => Err(LabError::Vm("the clock agent closed the connection".into())),
            other => Err(LabError::Vm(format!("the clock agent answered {other:?}"))),
        }
    };
    // The node answers "!" once it runs again; the time sent after that is not stale by
    // however long the resumed VM took to be scheduled.
    ask("?\n", "!")?;
    ask(&format!("{}\n", host_time()), "ok")
}

/// Whether a saved state exists and was made by a VM with this fingerprint.
pub fn restorable(paths: &NodePaths, fingerprint: &str) -> bool {
    paths.vmstate().exists()
        && std::fs::read_to_string(paths.vmstate_meta()).is_ok_and(|m| m.trim() == fingerprint)
}

/// Throw away a saved state.
pub fn discard_state(paths: &NodePaths) {
    let _ = std::fs::remove_file(paths.vmstate());
    let _ = std::fs::remove_file(paths.vmstate_meta());
}

/// Create the node's writable disk when missing (sparse ext4 image); `fresh` recreates it.
pub fn ensure_disk(paths: &NodePaths, fresh: bool) -> Result<(), LabError> {
    let disk = paths.disk();
    if disk.exists() && !fresh {
        return Ok(());
    }
    let tmp = disk.with_extension("tmp");
    let f = std::fs::File::create(&tmp)
        .map_err(|e| LabError::State(format!("{}: {e}", tmp.display())))?;
    f.set_len(4 << 30)
        .map_err(|e| LabError::State(format!("{}: {e}", tmp.display())))?;
    drop(f);
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "0", "-L", "lvslab-node"])
        .args(["-E", "lazy_itable_init=0,lazy_journal_init=0"])
        .arg(&tmp)
        .output()
        .map_err(|e| LabError::State(format!("cannot run mkfs.ext4: {e}")))?;
    if !out.status.success() {
        return Err(LabError::State(format!(
            "mkfs.ext4 {}: {}",
            tmp.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    std::fs::rename(&tmp, &disk).map_err(|e| LabError::State(format!("{}: {e}", disk.display())))
}

/// The last `n` lines of the node's console log (for failure messages).
pub fn console_tail(paths: &NodePaths, n: usize) -> String {
    let text = std::fs::read(paths.console()).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Choose how to run guests: `LVSLAB_ACCEL=tcg|kvm` decides; otherwise KVM only when a short
/// probe shows it really boots the lab's kernel (on nested setups KVM guests may hang), else
/// TCG. The probe's answer is cached per host boot.
pub fn choose_accel(cache: &Path, base: &Base) -> Accel {
    match std::env::var("LVSLAB_ACCEL").as_deref() {
        Ok("tcg") => return Accel::Tcg,
        Ok("kvm") => return Accel::Kvm,
        _ => {}
    }
    if !Path::new("/dev/kvm").exists() {
        return Accel::Tcg;
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let record = cache.join("kvm-probe");
    if let Ok(text) = std::fs::read_to_string(&record) {
        if let Some((id, verdict)) = text.split_once(' ') {
            if id == boot_id.trim() {
                return if verdict.trim() == "ok" {
                    Accel::Kvm
                } else {
                    Accel::Tcg
                };
            }
        }
    }
    let ok = probe_kvm(cache, base);
    let _ = std::fs::write(
        &record,
        format!("{} {}\n", boot_id.trim(), if ok { "ok" } else { "no" }),
    );
    if ok {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// Boot the lab's kernel under KVM with a one-line initramfs that prints a marker and powers
/// off. KVM counts as working only if that happens within 10 s (a guest that hangs is killed).
fn probe_kvm(cache: &Path, base: &Base) -> bool {
    let Some(busybox) = super::prereq::static_busybox() else {
        return false;
    };
    let Ok(bb) = std::fs::read(&busybox) else {
        return false;
    };
    let mut cpio = initramfs::Cpio::default();
    for d in ["bin", "dev", "proc"] {
        cpio.dir(d);
    }
    cpio.char_dev("dev/console", 0o600, 5, 1);
    cpio.file("bin/busybox", 0o755, &bb);
    cpio.file(
        "init",
        0o755,
        b"#!/bin/busybox sh\necho lvslab-kvm-ok\n/bin/busybox poweroff -f\n",
    );
    let img = cache.join("kvm-probe.cpio");
    if std::fs::write(&img, cpio.finish()).is_err() {
        return false;
    }
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "kvm",
            "-M",
            "pc",
            "-m",
            "128",
            "-nodefaults",
            "-no-reboot",
        ])
        .args(["-display", "none", "-serial", "stdio"])
        .arg("-kernel")
        .arg(&base.kernel)
        .arg("-initrd")
        .arg(&img)
        .args(["-append", "console=ttyS0 quiet panic=-1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => {
                let mut out = String::new();
                if let Some(mut so) = child.stdout.take() {
                    use std::io::Read;
                    let _ = so.read_to_string(&mut out);
                }
                return out.contains("lvslab-kvm-ok");
            }
            Ok(None) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::path::PathBuf;

    #[test]
    fn args_carry_the_node_identity_and_no_secret_inline() {
        let node = Node {
            name: "web-1".into(),
            address: Ipv4Addr::new(10, 77, 0, 31),
            prefix: 24,
            interface: "eth7".into(),
            user: "root".into(),
            port: 22,
            memory_mb: 256,
            image: Default::default(),
            login: Default::default(),
        };
        let base = Base {
            id: "abc".into(),
            squashfs: PathBuf::from("/c/base/abc/rootfs.squashfs"),
            kernel: PathBuf::from("/c/base/abc/vmlinuz"),
            initramfs: PathBuf::from("/c/base/abc/initramfs.cpio"),
        };
        let paths = NodePaths {
            dir: PathBuf::from("/c/labs/alt/nodes/web-1"),
        };
        let spec = VmSpec {
            lab: "alt",
            node: &node,
            base: &base,
            paths: &paths,
            tap: "lvstap1",
            mac: "52:54:00:01:02:03",
            machine_id: "0123",
            accel: Accel::Tcg,
        };
        let a = qemu_args(&spec);
        let joined = a.join(" ");
        assert!(joined.contains("-name lvslab-alt-web-1,process=lvslab-alt-web-1"));
        assert!(joined.contains("-m 256M"));
        assert!(joined.contains("name=opt/lvslab/iface,string=eth7"));
        assert!(joined.contains("name=opt/lvslab/address,string=10.77.0.31/24"));
        assert!(joined.contains(
            "name=opt/lvslab/host_key,file=/c/labs/alt/nodes/web-1/ssh_host_ed25519_key"
        ));
        assert!(joined.contains("ifname=lvstap1"));
        assert!(joined.contains("-pidfile /c/labs/alt/nodes/web-1/qemu.pid"));
        assert!(joined.contains("-accel tcg"));
        assert!(joined.contains("-cpu qemu64,+rdrand"), "{joined}");
        assert!(!joined.contains("-incoming"));
        assert_eq!(
            args_fingerprint(&a, &base),
            args_fingerprint(&qemu_args(&spec), &base)
        );
    }

    #[test]
    fn commas_are_escaped() {
        assert_eq!(esc("a,b"), "a,,b");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
