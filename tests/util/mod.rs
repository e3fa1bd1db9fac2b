//! Test harness: real sshd instances on 127.0.0.1 (random free ports, generated ed25519 host and
//! user keys, a known_hosts written here — host keys are checked, never blindly accepted), a
//! temporary project directory, and a runner for the real `lvslab` binary.

#![allow(dead_code)]

pub mod masters;
pub mod procwatch;
pub mod terminal;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One sshd the test started; killed (by its own pid) when dropped.
pub struct Sshd {
    pub port: u16,
    child: Child,
}

impl Sshd {
    /// End the connections this sshd is serving (its per-connection children, by pid), as a
    /// host that restarts does: a connection an earlier run left open is then gone.
    pub fn end_sessions(&self) {
        for pid in self.sessions() {
            // SAFETY: kill has no memory preconditions; pid is this sshd's child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Freeze the connections this sshd is serving, as a host that hangs (or vanishes without
    /// a reset) leaves them: the client's side notices only by its keepalives. They are
    /// killed when the returned guard is dropped.
    pub fn freeze_sessions(&self) -> Frozen {
        let pids = self.sessions();
        for pid in &pids {
            // SAFETY: as above.
            unsafe { libc::kill(*pid, libc::SIGSTOP) };
        }
        Frozen(pids)
    }

    /// This sshd's per-connection children.
    fn sessions(&self) -> Vec<i32> {
        let me = self.child.id().to_string();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
            let parent = status
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .map(str::trim);
            if parent == Some(me.as_str()) {
                out.push(pid);
            }
        }
        out
    }
}

/// Connections frozen by [`Sshd::freeze_sessions`], killed (by pid) when dropped.
pub struct Frozen(Vec<i32>);

impl Drop for Frozen {
    fn drop(&mut self) {
        for pid in &self.0 {
            // SAFETY: kill has no memory preconditions; the pids are the test sshd's children.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "lvslab-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(st.success(), "ssh-keygen failed");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A temporary project with N sshd hosts and an inventory for them.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub sshds: Vec<Sshd>,
    pub names: Vec<String>,
}

impl Lab {
    pub fn new(n: usize) -> Lab {
        Lab::with_extra_hosts(n, "")
    }

    /// `extra` is appended under `all.hosts` (e.g. an unreachable host).
    pub fn with_extra_hosts(n: usize, extra: &str) -> Lab {
        Lab::build(n, extra, false)
    }

    /// Hosts whose sshd also accepts password logins.
    pub fn with_password_logins(n: usize) -> Lab {
        Lab::build(n, "", true)
    }

    fn build(n: usize, extra: &str, passwords: bool) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("lvt-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        // sshd's privilege separation directory (normally made by the service unit).
        let _ = std::fs::create_dir_all("/run/sshd");
        keygen(&d.join("host_key"));
        keygen(&d.join("user_key"));
        // HOME inside the test dir: the remote shell does not read the machine's own rc files
        // (root's .bashrc here runs `pyenv init`, ~80 ms and a global lock per command).
        std::fs::create_dir_all(d.join("home")).expect("home");
        let user_pub = std::fs::read_to_string(d.join("user_key.pub")).expect("user key");
        std::fs::write(
            d.join("authorized_keys"),
            format!(
                "environment=\"HOME={}\" {user_pub}",
                d.join("home").display()
            ),
        )
        .expect("authorized_keys");
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let mut known = String::new();
        let mut sshds = Vec::new();
        let mut inv = String::from("all:\n  vars:\n    ansible_user: root\n");
        inv.push_str(&format!(
            "    ansible_ssh_private_key_file: {}\n    lvslab_known_hosts_file: {}\n  hosts:\n",
            d.join("user_key").display(),
            d.join("known_hosts").display()
        ));
        let mut names = Vec::new();
        for i in 0..n {
            let name = format!("node{:02}", i + 1);
            let (sshd, port) = start_sshd(d, i, passwords);
            known.push_str(&format!("[127.0.0.1]:{port} {host_pub}"));
            let ndir = d.join(&name);
            std::fs::create_dir_all(&ndir).expect("node dir");
            inv.push_str(&format!(
                "    {name}:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n      node_dir: {}\n      lvslab_state_file: {}/state/state.json\n",
                ndir.display(),
                ndir.display()
            ));
            sshds.push(sshd);
            names.push(name);
        }
        inv.push_str(extra);
        std::fs::write(d.join("known_hosts"), known).expect("known_hosts");
        std::fs::write(d.join("inventory.yml"), inv).expect("inventory");
        std::fs::create_dir_all(d.join("playbooks")).expect("playbooks dir");
        std::fs::create_dir_all(d.join("templates")).expect("templates dir");
        Lab { dir, sshds, names }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(p, text).expect("write");
    }

    /// The TMPDIR of the lab's lvslab runs.
    pub fn tmp(&self) -> PathBuf {
        let t = self.path().join("tmp");
        std::fs::create_dir_all(&t).expect("lab tmp");
        t
    }

    /// Run `lvslab -i inventory.yml ARGS...` in the project directory.
    pub fn lvslab(&self, args: &[&str]) -> Run {
        self.lvslab_env(&[], args)
    }

    /// [`Lab::lvslab`] with extra environment variables.
    pub fn lvslab_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        self.lvslab_inventory("inventory.yml", env, args)
    }

    /// [`Lab::lvslab_env`] with another inventory (a path relative to the project directory).
    pub fn lvslab_inventory(&self, inventory: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
        let out = self
            .command(inventory, env, args)
            .stdin(Stdio::null())
            .output()
            .expect("lvslab runs");
        Run::from(out)
    }

    /// [`Lab::lvslab_env`] at a terminal of its own, answering its prompts there (see
    /// [`terminal::run`]); also returns what it wrote to the terminal.
    pub fn lvslab_at_terminal(
        &self,
        env: &[(&str, &str)],
        args: &[&str],
        answers: &[(&str, &str)],
    ) -> (Run, String) {
        terminal::run(self.command("inventory.yml", env, args), answers)
    }

    /// The `lvslab -i INVENTORY ARGS...` command every runner here starts, not yet run.
    pub fn command(&self, inventory: &str, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lvslab"));
        c.current_dir(self.path())
            // Each test lab predicts queries from its own facts cache (src/facts/cache.rs),
            // and keeps the connections its runs leave open in its own directory, removed
            // with it (their masters end with the lab's sshd).
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("TMPDIR", self.tmp())
            .envs(env.iter().copied())
            .arg("-i")
            .arg(inventory)
            .args(args);
        c
    }
}

fn start_sshd(d: &Path, i: usize, passwords: bool) -> (Sshd, u16) {
    for _attempt in 0..5 {
        let port = free_port();
        let cfg = d.join(format!("sshd_config_{i}"));
        let pid_file = d.join(format!("sshd_{i}.pid"));
        // Only this attempt's sshd writes it (see below).
        let _ = std::fs::remove_file(&pid_file);
        let mut f = std::fs::File::create(&cfg).expect("sshd_config");
        if passwords {
            // The first value sshd reads for a keyword wins.
            writeln!(f, "PasswordAuthentication yes").expect("write sshd_config");
        }
        writeln!(
            f,
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
             UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitUserEnvironment yes\nMaxSessions 50\nMaxStartups 200\n\
             LogLevel ERROR\nPrintMotd no\nAcceptEnv LANG\nSubsystem sftp internal-sftp",
            hk = d.join("host_key").display(),
            pid = pid_file.display(),
            ak = d.join("authorized_keys").display(),
        )
        .expect("write sshd_config");
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&cfg)
            .arg("-E")
            .arg(d.join(format!("sshd_{i}.log")))
            .stdin(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let mut sshd = Sshd { port, child };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            // Listening is not enough: another test's sshd may hold the port (free_port's
            // answer is free only until someone binds it; ours then fails and exits). sshd
            // writes its pid file once its own socket listens.
            let ours = std::fs::read_to_string(&pid_file)
                .is_ok_and(|p| p.trim() == sshd.child.id().to_string());
            if ours && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (sshd, port);
            }
            if let Ok(Some(_)) = sshd.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(sshd);
    }
    panic!("could not start sshd");
}

/// The result of one `lvslab` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    /// Remote commands sent to `host`, from the `LVSLAB_TRACE=1` lines on stderr.
    pub fn round_trips(&self, host: &str) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.starts_with(&format!("trace: {host} ")))
            .count()
    }
    /// `(ok, changed, failed, unreachable, skipped)` of a host from `--json`.
    pub fn counts(&self, host: &str) -> (u64, u64, u64, u64, u64) {
        let j = self.json();
        let h = &j["hosts"][host];
        let g = |k: &str| {
            h[k].as_u64()
                .unwrap_or_else(|| panic!("no {k} for {host} in {j}"))
        };
        (
            g("ok"),
            g("changed"),
            g("failed"),
            g("unreachable"),
            g("skipped"),
        )
    }
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}
