//! Where a lab keeps its state (`<cache>/labs/<lab>/`) and its identities: the lab's ssh key,
//! one ed25519 host key and machine id per node (stable across `lab up`/`down`/`reset`), and the
//! known_hosts file the tool checks the nodes against.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::topology::{Node, Topology};
use super::LabError;

/// The state directory of one lab.
#[derive(Debug, Clone)]
pub struct LabPaths {
    pub dir: PathBuf,
}

impl LabPaths {
    pub fn new(lab_name: &str) -> LabPaths {
        LabPaths {
            dir: super::cache::cache_dir().join("labs").join(lab_name),
        }
    }
    pub fn identity(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    pub fn node(&self, name: &str) -> NodePaths {
        NodePaths {
            dir: self.dir.join("nodes").join(name),
        }
    }
}

/// Files of one node.
#[derive(Debug, Clone)]
pub struct NodePaths {
    pub dir: PathBuf,
}

impl NodePaths {
    pub fn host_key(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key")
    }
    pub fn host_key_pub(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key.pub")
    }
    pub fn machine_id(&self) -> PathBuf {
        self.dir.join("machine-id")
    }
    /// The lab user's password (`lab_sudo_password`, `lab_user_password`), mode 0600, for
    /// qemu's fw_cfg.
    pub fn login_password(&self) -> PathBuf {
        self.dir.join("login-password")
    }
    /// The node's writable layer (ext4 image, second virtio disk).
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.img")
    }
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }
    pub fn qmp(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    pub fn console(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    /// The VM's second serial port, where its clock agent listens (see [`super::vm::set_clock`]).
    pub fn clock(&self) -> PathBuf {
        self.dir.join("clock.sock")
    }
    /// Saved running state (memory + devices) written by `lab down`.
    pub fn vmstate(&self) -> PathBuf {
        self.dir.join("vmstate")
    }
    /// What the saved state was made with (qemu command line hash); restore only if equal.
    pub fn vmstate_meta(&self) -> PathBuf {
        self.dir.join("vmstate.meta")
    }
    pub fn authorized_keys(&self) -> PathBuf {
        self.dir.join("authorized_keys")
    }
}

fn keygen(path: &Path, comment: &str) -> Result<(), LabError> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .map_err(|e| LabError::State(format!("cannot run ssh-keygen: {e}")))?;
    if !out.status.success() {
        return Err(LabError::State(format!(
            "ssh-keygen {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> LabError {
    let what = what.to_string();
    move |e| LabError::State(format!("{what}: {e}"))
}

/// Write (0600, this user's alone) or remove a node's password file.
fn write_password(path: &Path, line: Option<String>) -> Result<(), LabError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let Some(line) = line else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("login password file"))?;
    f.write_all(line.as_bytes())
        .map_err(io("login password file"))
}

/// Create what is missing (lab key, host keys, machine ids) and rewrite known_hosts.
pub fn ensure(topo: &Topology, paths: &LabPaths) -> Result<(), LabError> {
    std::fs::create_dir_all(&paths.dir).map_err(io(paths.dir.display()))?;
    if !paths.identity().exists() {
        keygen(&paths.identity(), &format!("lvslab lab {}", topo.lab_name))?;
    }
    let lab_pub = std::fs::read_to_string(paths.identity().with_extension("pub"))
        .map_err(io("lab public key"))?;
    let mut known = String::new();
    for node in &topo.nodes {
        let np = paths.node(&node.name);
        std::fs::create_dir_all(&np.dir).map_err(io(np.dir.display()))?;
        if !np.host_key().exists() || !np.host_key_pub().exists() {
            let _ = std::fs::remove_file(np.host_key());
            let _ = std::fs::remove_file(np.host_key_pub());
            keygen(&np.host_key(), &format!("root@{}", node.name))?;
        }
        if !np.machine_id().exists() {
            std::fs::write(np.machine_id(), machine_id(&topo.lab_name, &node.name))
                .map_err(io("machine-id"))?;
        }
        std::fs::write(np.authorized_keys(), &lab_pub).map_err(io("authorized_keys"))?;
        write_password(&np.login_password(), node.login.password_line())?;
        let host_pub = std::fs::read_to_string(np.host_key_pub()).map_err(io("host key"))?;
        known.push_str(&known_hosts_line(node, &host_pub));
    }
    let tmp = paths.known_hosts().with_extension("tmp");
    std::fs::write(&tmp, known).map_err(io(tmp.display()))?;
    std::fs::rename(&tmp, paths.known_hosts()).map_err(io("known_hosts"))?;
    Ok(())
}

/// A known_hosts line for a node: its address (what ssh is given as host name) and its name.
pub fn known_hosts_line(node: &Node, host_pub: &str) -> String {
    let mut fields = host_pub.split_whitespace();
    let kind = fields.next().unwrap_or("ssh-ed25519");
    let key = fields.next().unwrap_or_default();
    let hosts = if node.port == 22 {
        format!("{},{}", node.address, node.name)
    } else {
        format!("[{}]:{p},[{}]:{p}", node.address, node.name, p = node.port)
    };
    format!("{hosts} {kind} {key}\n")
}

/// A stable 32-hex machine id for a node, derived from lab and node name.
pub fn machine_id(lab: &str, node: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("lvslab machine-id {lab} {node}").as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable locally administered MAC address for a node.
pub fn mac_address(lab: &str, node: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("lvslab mac {lab} {node}").as_bytes());
    format!("52:54:00:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
}

/// The MAC of the lab's client (its bridge), stable per lab; locally administered.
pub fn client_mac(lab: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("lvslab client mac {lab}").as_bytes());
    format!("02:6c:76:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mac_is_stable_local_and_per_lab() {
        assert_eq!(client_mac("lab"), client_mac("lab"));
        assert_ne!(client_mac("lab"), client_mac("alt"));
        assert!(client_mac("lab").starts_with("02:"));
    }
    use std::net::Ipv4Addr;

    fn node(port: u16) -> Node {
        Node {
            name: "node01".into(),
            address: Ipv4Addr::new(192, 168, 163, 11),
            prefix: 24,
            interface: "ens33".into(),
            user: "root".into(),
            port,
            memory_mb: 256,
            image: Default::default(),
            login: Default::default(),
        }
    }

    #[test]
    fn known_hosts_lines() {
        let l = known_hosts_line(&node(22), "ssh-ed25519 AAAAkey root@node01\n");
        assert_eq!(l, "192.168.163.11,node01 ssh-ed25519 AAAAkey\n");
        let l = known_hosts_line(&node(2222), "ssh-ed25519 AAAAkey root@node01\n");
        assert_eq!(
            l,
            "[192.168.163.11]:2222,[node01]:2222 ssh-ed25519 AAAAkey\n"
        );
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(machine_id("lab", "a"), machine_id("lab", "a"));
        assert_ne!(machine_id("lab", "a"), machine_id("lab", "b"));
        assert_eq!(machine_id("lab", "a").len(), 32);
        assert!(mac_address("lab", "a").starts_with("52:54:00:"));
        assert_ne!(mac_address("lab", "a"), mac_address("alt", "a"));
    }
}
