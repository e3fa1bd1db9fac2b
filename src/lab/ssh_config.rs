//! `lab ssh-config`: an ssh_config block for the lab's nodes, so plain `ssh`, `scp`, Ansible
//! and pyinfra reach them the way lvslab does (through the lab's network namespace, with the
//! lab's key, checking the host keys the lab generated).

use std::fmt::Write;
use std::path::Path;

use super::keys::LabPaths;
use super::{ssh, topology, LabError};

/// A value as ssh_config reads it: double-quoted when it holds a space or a quote.
fn value(s: &str) -> String {
    if s.contains([' ', '\t', '"']) {
        format!("\"{}\"", s.replace('"', "\\\""))
    } else {
        s.to_string()
    }
}

/// One `Host` entry per node, named as in the inventory. The ProxyCommand enters the lab's
/// network namespace, so it needs root, as the lab does.
pub fn render(inventory: &Path) -> Result<String, LabError> {
    let topo = topology::load(inventory)?;
    let paths = LabPaths::new(&topo.lab_name);
    let proxy = ssh::proxy_command(inventory);
    let mut out = format!(
        "# ssh_config for the nodes of lvslab lab {} ({}).\n\
         # Use: lvslab lab ssh-config > lab.ssh_config && ssh -F lab.ssh_config {}\n",
        topo.lab_name,
        inventory.display(),
        topo.nodes
            .first()
            .map(|n| n.name.as_str())
            .unwrap_or("NODE"),
    );
    for n in &topo.nodes {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "\nHost {name}\n  HostName {addr}\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n  ProxyCommand {proxy}\n",
            name = n.name,
            addr = n.address,
            port = n.port,
            user = value(&n.user),
            key = value(&paths.identity().display().to_string()),
            kh = value(&paths.known_hosts().display().to_string()),
        );
    }
    Ok(out)
}

/// `lab destroy`: the lab's VMs stopped and its network removed (as `lab down`), then its
/// directory (disks, saved states, keys, known_hosts) deleted for good. The shared cache
/// (root image, kernel) stays for other labs.
pub fn destroy(inventory: &Path) -> Result<(), LabError> {
    let topo = topology::load(inventory)?;
    super::down(inventory)?;
    let paths = LabPaths::new(&topo.lab_name);
    match std::fs::remove_dir_all(&paths.dir) {
        Ok(()) => eprintln!(
            "lab {} destroyed ({} removed)",
            topo.lab_name,
            paths.dir.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("lab {} has nothing to destroy", topo.lab_name)
        }
        Err(e) => {
            return Err(LabError::State(format!(
                "cannot remove {}: {e}",
                paths.dir.display()
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::value;

    #[test]
    fn values_with_spaces_are_quoted() {
        assert_eq!(
            value("/var/cache/lvslab/labs/lab/id"),
            "/var/cache/lvslab/labs/lab/id"
        );
        assert_eq!(value("/home/a b/id"), "\"/home/a b/id\"");
    }
}
