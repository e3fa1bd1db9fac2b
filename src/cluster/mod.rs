//! The LVS cluster an inventory describes, as one typed value with every default in one place:
//! the virtual service (VIP, port, protocol, scheduler, method, persistence), the directors and
//! the real servers, the client's addresses, and the keepalived timers. Validation, verify, the
//! drills and the lab read the cluster from here, never from hard-coded names, addresses or
//! counts, and never each with defaults of their own.

pub(crate) mod defaults;
mod method;
mod timers;

use std::net::{Ipv4Addr, SocketAddrV4};

use serde_json::{Map, Value};

pub use method::Method;
pub use timers::Timers;

/// The IPVS schedulers ipvsadm knows.
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Director {
    pub name: String,
    pub addr: Ipv4Addr,
    /// `MASTER` / `BACKUP` (ha mode).
    pub state: Option<String>,
    pub priority: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    pub name: String,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub weight: u32,
}

/// The cluster, resolved from the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub vip: Ipv4Addr,
    pub vip_prefix: u8,
    pub vip_label: String,
    pub lo_label: String,
    pub port: u16,
    pub protocol: String,
    pub scheduler: String,
    pub method: Method,
    pub persistence: u32,
    pub lan_interface: String,
    pub client_addrs: Vec<Ipv4Addr>,
    pub directors: Vec<Director>,
    pub real_servers: Vec<RealServer>,
}

impl Cluster {
    pub fn service(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.vip, self.port)
    }

    /// The director that should hold the VIP: the keepalived MASTER, else the first director.
    pub fn primary_director(&self) -> Option<&Director> {
        self.directors
            .iter()
            .find(|d| d.state.as_deref() == Some("MASTER"))
            .or_else(|| self.directors.first())
    }
}

/// A variable that is missing or has the wrong shape, by host and name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host {host}: variable `{var}` {problem}")]
pub struct ClusterError {
    pub host: String,
    pub var: String,
    pub problem: String,
}

/// The host's merged variables, as the inventory resolves them.
pub type HostVars<'a> = (&'a str, &'a Map<String, Value>);

/// Build the cluster from the directors' and real servers' variables (the groups are the
/// inventory's `directors` and `realservers`).
pub fn from_vars(
    directors: &[HostVars],
    real_servers: &[HostVars],
) -> Result<Cluster, ClusterError> {
    let (first_name, first) = directors
        .first()
        .or(real_servers.first())
        .copied()
        .ok_or_else(|| ClusterError {
            host: "-".into(),
            var: "directors".into(),
            problem: "has no hosts".into(),
        })?;
    let v = Vars {
        host: first_name,
        vars: first,
    };
    let port = v.int("lvs_port")? as u16;
    let method_word = v.string("lvs_method")?;
    let method =
        Method::parse(&method_word).ok_or_else(|| v.err("lvs_method", "must be dr, nat or tun"))?;
    let client_addrs = match first.get("lab_client_addresses") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().and_then(|s| s.parse().ok()))
            .collect::<Option<Vec<Ipv4Addr>>>()
            .ok_or_else(|| v.err("lab_client_addresses", "must be a list of IPv4 addresses"))?,
        Some(_) => return Err(v.err("lab_client_addresses", "must be a list of IPv4 addresses")),
        None => Vec::new(),
    };
    let lan_interface = v.string("lan_interface")?;
    let spec_directors = directors
        .iter()
        .map(|(name, vars)| {
            let v = Vars { host: name, vars };
            Ok(Director {
                name: name.to_string(),
                addr: v.addr("ansible_host")?,
                state: v
                    .opt_string("keepalived_state")
                    .map(|s| s.to_ascii_uppercase()),
                priority: v.opt_int("keepalived_priority")?.map(|p| p as u8),
            })
        })
        .collect::<Result<Vec<_>, ClusterError>>()?;
    let spec_rs = real_servers
        .iter()
        .map(|(name, vars)| {
            let v = Vars { host: name, vars };
            Ok(RealServer {
                name: name.to_string(),
                addr: v.addr("ansible_host")?,
                port: v.int("lvs_rs_port")? as u16,
                weight: v.int("lvs_weight")? as u32,
            })
        })
        .collect::<Result<Vec<_>, ClusterError>>()?;
    Ok(Cluster {
        vip: v.addr("lvs_vip")?,
        vip_prefix: v.int("lvs_vip_prefix")? as u8,
        vip_label: v.string("lvs_vip_label")?,
        lo_label: v.string("lvs_lo_label")?,
        port,
        protocol: v.string("lvs_protocol")?.to_ascii_lowercase(),
        scheduler: v.string("lvs_scheduler")?,
        method,
        persistence: v.int("lvs_persistence_timeout")? as u32,
        lan_interface,
        client_addrs,
        directors: spec_directors,
        real_servers: spec_rs,
    })
}

/// One host's variables, read with errors that name the host and the variable.
pub(crate) struct Vars<'a> {
    pub(crate) host: &'a str,
    pub(crate) vars: &'a Map<String, Value>,
}

impl Vars<'_> {
    fn err(&self, var: &str, problem: &str) -> ClusterError {
        ClusterError {
            host: self.host.to_string(),
            var: var.to_string(),
            problem: problem.to_string(),
        }
    }

    fn opt_string(&self, var: &str) -> Option<String> {
        match &defaults::value(var, self.vars)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn string(&self, var: &str) -> Result<String, ClusterError> {
        self.opt_string(var)
            .ok_or_else(|| self.err(var, "is not set"))
    }

    pub(crate) fn opt_int(&self, var: &str) -> Result<Option<i64>, ClusterError> {
        match defaults::value(var, self.vars).as_ref() {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(var, "must be a whole number")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.err(var, "must be a whole number")),
            Some(_) => Err(self.err(var, "must be a whole number")),
        }
    }

    pub(crate) fn int(&self, var: &str) -> Result<i64, ClusterError> {
        self.opt_int(var)?
            .ok_or_else(|| self.err(var, "is not set"))
    }

    fn addr(&self, var: &str) -> Result<Ipv4Addr, ClusterError> {
        self.string(var)?
            .parse()
            .map_err(|_| self.err(var, "must be an IPv4 address"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A JSON object literal as a variable map (shared with the drill's tests).
    pub(crate) fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn builds_from_vars_without_assuming_names() {
        let common = json!({"lan_interface": "eth7", "lvs_vip": "10.77.0.50", "lvs_port": 8080,
            "lvs_scheduler": "wrr", "lvs_method": "dr", "lab_client_addresses": ["10.77.0.1", "10.77.0.2"]});
        let mut a = map(common.clone());
        a.insert("ansible_host".into(), json!("10.77.0.2"));
        a.insert("keepalived_state".into(), json!("backup"));
        let mut b = map(common.clone());
        b.insert("ansible_host".into(), json!("10.77.0.3"));
        b.insert("keepalived_state".into(), json!("MASTER"));
        let mut w = map(common);
        w.insert("ansible_host".into(), json!("10.77.0.9"));
        w.insert("lvs_weight".into(), json!("3"));
        let spec = from_vars(&[("lb-a", &a), ("lb-b", &b)], &[("web-1", &w)]).unwrap();
        assert_eq!(spec.primary_director().unwrap().name, "lb-b");
        assert_eq!(spec.real_servers[0].weight, 3);
        assert_eq!(spec.real_servers[0].port, 8080);
        assert_eq!(spec.vip_label, "eth7");
        assert_eq!(spec.client_addrs.len(), 2);
    }

    #[test]
    fn names_the_host_and_variable_on_bad_values() {
        let m = map(
            json!({"lan_interface": "ens33", "lvs_vip": "300.1.1.1", "ansible_host": "10.0.0.1"}),
        );
        let err = from_vars(&[("node01", &m)], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "host node01: variable `lvs_vip` must be an IPv4 address"
        );
    }
}
