//! The lab's shape, derived from an inventory: one VM per host, with the host's name, address,
//! prefix and interface name, plus the client addresses that go on the lab's bridge.
//!
//! [`Topology::from_hosts`] works on `(name, merged variables)` pairs so it is testable without
//! any inventory file; [`load`] feeds it from `crate::inventory` (hosts in file order, variables
//! merged all < parent group < child group < host).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::image::{Image, Packages, Suite};

/// Memory of one VM when the inventory does not say (`lab_memory_mb`).
pub const DEFAULT_MEMORY_MB: u32 = 256;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read inventory {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    #[error("inventory {path}: host {host}: {message}")]
    Host {
        path: PathBuf,
        host: String,
        message: String,
    },
    #[error("inventory {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// One VM of the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Inventory host name; also the guest's hostname.
    pub name: String,
    /// `ansible_host`: the guest's address on the lab segment.
    pub address: Ipv4Addr,
    /// `lan_prefix`.
    pub prefix: u8,
    /// `lan_interface`: the guest NIC is renamed to this at boot.
    pub interface: String,
    /// `ansible_user` (default root): the lab key is authorised for this user.
    pub user: String,
    /// `ansible_port` (default 22): sshd listens here.
    pub port: u16,
    /// `lab_memory_mb`.
    pub memory_mb: u32,
    /// `lab_suite` and `lab_packages`: the image the node boots.
    pub image: Image,
    /// `lab_user` and how it, and root, log in.
    pub login: super::login::Login,
}

/// The whole lab: its name (netns and state directory are named after it), nodes in inventory
/// order and the client addresses put on the bridge (first one primary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub lab_name: String,
    pub nodes: Vec<Node>,
    pub client_addresses: Vec<Ipv4Addr>,
    /// Prefix length used for the client addresses (the first node's `lan_prefix`).
    pub client_prefix: u8,
    /// Absolute path of the inventory this topology came from.
    pub inventory: PathBuf,
}

impl Topology {
    /// Build the topology from hosts in inventory order, each with its merged variables.
    /// `inventory` names the file (for messages and the default lab name).
    pub fn from_hosts(
        inventory: &Path,
        hosts: &[(String, Map<String, Value>)],
    ) -> Result<Topology, TopologyError> {
        let invalid = |message: String| TopologyError::Invalid {
            path: inventory.to_path_buf(),
            message,
        };
        if hosts.is_empty() {
            return Err(invalid("no hosts: the lab needs at least one".into()));
        }
        let stem = inventory
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("lab")
            .to_string();
        let mut nodes = Vec::with_capacity(hosts.len());
        let mut lab = LabWide {
            stem: stem.clone(),
            name: None,
            clients: None,
        };
        for (name, vars) in hosts {
            let host_err = |message: String| TopologyError::Host {
                path: inventory.to_path_buf(),
                host: name.clone(),
                message,
            };
            nodes.push(node_of(name, vars, &mut lab).map_err(host_err)?);
        }
        let lab_name = lab.name.unwrap_or(stem);
        if !valid_lab_name(&lab_name) {
            return Err(invalid(format!(
                "lab name {lab_name:?} must be 1-20 of [a-z0-9-] (set lab_name, or rename the file)"
            )));
        }
        let client_addresses = lab.clients.unwrap_or_default();
        if client_addresses.is_empty() {
            return Err(invalid(
                "lab_client_addresses is not set: the lab's bridge needs the client's address"
                    .into(),
            ));
        }
        distinct_addresses(&nodes, &client_addresses).map_err(invalid)?;
        let client_prefix = nodes[0].prefix;
        Ok(Topology {
            lab_name,
            nodes,
            client_addresses,
            client_prefix,
            inventory: inventory.to_path_buf(),
        })
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Name of the lab's network namespace.
    pub fn netns(&self) -> String {
        netns_name(&self.lab_name)
    }
}

/// Network namespace of a lab.
pub fn netns_name(lab_name: &str) -> String {
    format!("lvslab-{lab_name}")
}

/// The node's image from `lab_suite` (default bookworm) and `lab_packages` (default fresh).
fn image(vars: &Map<String, Value>) -> Result<Image, String> {
    let mut image = Image::default();
    if let Some(v) = vars.get("lab_suite") {
        image.suite = v.as_str().and_then(Suite::parse).ok_or_else(|| {
            let names: Vec<&str> = Suite::ALL.iter().map(|s| s.name()).collect();
            format!("lab_suite {v} is not one of {}", names.join(", "))
        })?;
    }
    if let Some(v) = vars.get("lab_packages") {
        image.packages = v
            .as_str()
            .and_then(Packages::parse)
            .ok_or_else(|| format!("lab_packages {v} is not fresh or preinstalled"))?;
    }
    Ok(image)
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_ipv4(v: &Value) -> Option<Ipv4Addr> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// What the hosts' variables say of the whole lab: the first host's word stands, and every
/// other host must agree on the name.
struct LabWide {
    /// The inventory file's stem: the lab's name unless `lab_name` says otherwise.
    stem: String,
    name: Option<String>,
    clients: Option<Vec<Ipv4Addr>>,
}

/// One host's VM, from its variables, and what they say of the whole lab (Err: what is wrong
/// with them).
fn node_of(name: &str, vars: &Map<String, Value>, lab: &mut LabWide) -> Result<Node, String> {
    if !valid_hostname(name) {
        return Err(
            "host name must be letters, digits and '-' (it becomes the VM's hostname)".into(),
        );
    }
    let address = match vars.get("ansible_host") {
        Some(v) => {
            parse_ipv4(v).ok_or_else(|| format!("ansible_host {v} is not an IPv4 address"))?
        }
        None => return Err("ansible_host is not set (the node's address)".into()),
    };
    let prefix = match vars.get("lan_prefix") {
        Some(v) => as_u64(v)
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(|| format!("lan_prefix {v} is not 1..32"))? as u8,
        None => 24,
    };
    let interface = match vars.get("lan_interface") {
        Some(Value::String(s)) if valid_ifname(s) => s.clone(),
        Some(v) => {
            return Err(format!(
                "lan_interface {v} is not an interface name (1-15 of [A-Za-z0-9_.-])"
            ))
        }
        None => "eth0".to_string(),
    };
    let user = match vars.get("ansible_user") {
        Some(Value::String(s)) if valid_username(s) => s.clone(),
        Some(v) => return Err(format!("ansible_user {v} is not a user name")),
        None => "root".to_string(),
    };
    let port = match vars.get("ansible_port") {
        Some(v) => as_u64(v)
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| format!("ansible_port {v} is not a port"))? as u16,
        None => 22,
    };
    let memory_mb = match vars.get("lab_memory_mb") {
        Some(v) => as_u64(v)
            .filter(|m| (128..=65536).contains(m))
            .ok_or_else(|| format!("lab_memory_mb {v} is not 128..65536"))?
            as u32,
        None => DEFAULT_MEMORY_MB,
    };
    let image = image(vars)?;
    let this_lab = match vars.get("lab_name") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(format!("lab_name {v} is not a string")),
        None => lab.stem.clone(),
    };
    match &lab.name {
        None => lab.name = Some(this_lab),
        Some(l) if *l != this_lab => {
            return Err(format!(
                "lab_name {this_lab:?} differs from {l:?}: one inventory is one lab"
            ))
        }
        Some(_) => {}
    }
    if let Some(v) = vars.get("lab_client_addresses") {
        let list = client_list(v)?;
        lab.clients.get_or_insert(list);
    }
    let login = super::login::from_vars(vars, &user, valid_username)?;
    Ok(Node {
        name: name.to_string(),
        address,
        prefix,
        interface,
        user,
        port,
        memory_mb,
        image,
        login,
    })
}

/// `lab_client_addresses`: one IPv4 address or a list of them.
fn client_list(v: &Value) -> Result<Vec<Ipv4Addr>, String> {
    let one = |i: &Value| {
        parse_ipv4(i).ok_or_else(|| format!("lab_client_addresses: {i} is not an IPv4 address"))
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        Value::String(_) => Ok(vec![one(v)?]),
        _ => Err("lab_client_addresses must be a list of IPv4 addresses".into()),
    }
}

/// No two nodes share an address, and none has a client's.
fn distinct_addresses(nodes: &[Node], clients: &[Ipv4Addr]) -> Result<(), String> {
    for (i, a) in nodes.iter().enumerate() {
        if clients.contains(&a.address) {
            return Err(format!(
                "{} has the address {} of a lab client",
                a.name, a.address
            ));
        }
        if let Some(b) = nodes[..i].iter().find(|b| b.address == a.address) {
            return Err(format!(
                "{} and {} share the address {}",
                b.name, a.name, a.address
            ));
        }
    }
    Ok(())
}

fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
}

fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "lo"
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

fn valid_lab_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 20
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Read an inventory file (with the engine's inventory loader: same file, same precedence, same
/// located errors as every other command) and build its lab topology.
pub fn load(path: &Path) -> Result<Topology, TopologyError> {
    let abs = std::path::absolute(path).map_err(|source| TopologyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let inv = crate::inventory::Inventory::load(path)?;
    from_hosts_of(&abs, &inv)
}

/// The topology of an inventory already loaded.
pub fn from_inventory(inv: &crate::inventory::Inventory) -> Result<Topology, TopologyError> {
    let abs = std::path::absolute(inv.path()).map_err(|source| TopologyError::Read {
        path: inv.path().to_path_buf(),
        source,
    })?;
    from_hosts_of(&abs, inv)
}

fn from_hosts_of(abs: &Path, inv: &crate::inventory::Inventory) -> Result<Topology, TopologyError> {
    let hosts: Vec<(String, Map<String, Value>)> = inv
        .host_names()
        .into_iter()
        .map(|h| (h.to_string(), inv.host_vars(h).unwrap_or_default()))
        .collect();
    Topology::from_hosts(abs, &hosts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn seed() -> Vec<(String, Map<String, Value>)> {
        let common = json!({"lan_interface": "ens33", "lan_prefix": 24,
            "lab_client_addresses": ["192.168.163.1", "192.168.163.2"]});
        ["node01", "node02"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut m = vars(common.clone());
                m.insert(
                    "ansible_host".into(),
                    json!(format!("192.168.163.1{}", i + 1)),
                );
                (n.to_string(), m)
            })
            .collect()
    }

    #[test]
    fn builds_nodes_with_defaults() {
        let t = Topology::from_hosts(Path::new("/x/inventory/lab.yml"), &seed()).unwrap();
        assert_eq!(t.lab_name, "lab");
        assert_eq!(t.netns(), "lvslab-lab");
        assert_eq!(t.nodes.len(), 2);
        assert_eq!(t.nodes[0].name, "node01");
        assert_eq!(t.nodes[0].address, Ipv4Addr::new(192, 168, 163, 11));
        assert_eq!(t.nodes[1].interface, "ens33");
        assert_eq!(t.nodes[0].user, "root");
        assert_eq!(t.nodes[0].port, 22);
        assert_eq!(t.nodes[0].memory_mb, DEFAULT_MEMORY_MB);
        assert_eq!(t.nodes[0].image, Image::default());
        assert_eq!(t.client_addresses[0], Ipv4Addr::new(192, 168, 163, 1));
        assert_eq!(t.client_prefix, 24);
    }

    #[test]
    fn lab_name_and_memory_override() {
        let mut hosts = seed();
        for (_, v) in &mut hosts {
            v.insert("lab_name".into(), json!("other"));
            v.insert("lab_memory_mb".into(), json!(192));
        }
        let t = Topology::from_hosts(Path::new("lab.yml"), &hosts).unwrap();
        assert_eq!(t.lab_name, "other");
        assert_eq!(t.nodes[1].memory_mb, 192);
    }

    #[test]
    fn image_per_host() {
        let mut hosts = seed();
        hosts[0].1.insert("lab_suite".into(), json!("trixie"));
        hosts[1]
            .1
            .insert("lab_packages".into(), json!("preinstalled"));
        let t = Topology::from_hosts(Path::new("lab.yml"), &hosts).unwrap();
        assert_eq!(t.nodes[0].image.suite, Suite::Trixie);
        assert_eq!(t.nodes[0].image.packages, Packages::Fresh);
        assert_eq!(t.nodes[1].image.suite, Suite::Bookworm);
        assert_eq!(t.nodes[1].image.packages, Packages::Preinstalled);
        hosts[1].1.insert("lab_suite".into(), json!("buster"));
        let e = Topology::from_hosts(Path::new("lab.yml"), &hosts).unwrap_err();
        assert_eq!(
            e.to_string(),
            "inventory lab.yml: host node02: lab_suite \"buster\" is not one of bullseye, bookworm, trixie"
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_host() {
        let mut hosts = seed();
        hosts[1].1.insert("ansible_host".into(), json!("nope"));
        let e = Topology::from_hosts(Path::new("lab.yml"), &hosts).unwrap_err();
        assert!(e.to_string().contains("node02"), "{e}");
        let mut hosts = seed();
        hosts[0]
            .1
            .insert("lan_interface".into(), json!("much-too-long-name0"));
        assert!(Topology::from_hosts(Path::new("lab.yml"), &hosts).is_err());
        let mut hosts = seed();
        hosts[1]
            .1
            .insert("ansible_host".into(), json!("192.168.163.11"));
        let e = Topology::from_hosts(Path::new("lab.yml"), &hosts).unwrap_err();
        assert!(e.to_string().contains("share"), "{e}");
        let mut hosts = seed();
        for (_, v) in &mut hosts {
            v.remove("lab_client_addresses");
        }
        assert!(Topology::from_hosts(Path::new("lab.yml"), &hosts).is_err());
        assert!(Topology::from_hosts(Path::new("Bad Name.yml"), &seed()).is_err());
    }

    #[test]
    fn seed_and_alt_inventories_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let t = load(&root.join("inventory/lab.yml")).unwrap();
        let names: Vec<_> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["node01", "node04", "node02", "node03"]);
        assert_eq!(t.nodes[3].address, Ipv4Addr::new(192, 168, 163, 13));
        assert_eq!(t.nodes[0].interface, "ens33");
        assert_eq!(t.client_addresses.len(), 4);
        let alt = load(&root.join("tests/inventories/alt.yml")).unwrap();
        assert_eq!(alt.lab_name, "alt");
        assert_eq!(alt.nodes.len(), 5);
        assert!(alt.nodes.iter().all(|n| n.interface == "eth7"));
        let names: Vec<_> = alt.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["lb-a", "lb-b", "web-1", "web-2", "web-3"]);
    }
}
