//! The records of what setup changed on a node, as typed values: each module says what it is
//! about to change in one of these, the state file keeps them, and `restore` undoes each by
//! its kind. The JSON shape (`key`, `kind`, and the kind's fields) is the state file's format,
//! read back as older versions wrote it.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// One original, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Undo {
    /// A file written: put back from its backup copy, or removed if it did not exist.
    File {
        path: String,
        existed: bool,
        #[serde(default)]
        backup: Option<String>,
    },
    /// A directory created.
    Dir {
        path: String,
        #[serde(default)]
        existed: bool,
    },
    /// A path's mode and owner, as `stat` showed them.
    Meta {
        path: String,
        mode: String,
        uid: String,
        gid: String,
    },
    /// A kernel parameter's live value.
    Sysctl { name: String, value: String },
    /// An address added to (or removed from) a device.
    Address {
        address: String,
        dev: String,
        #[serde(default)]
        label: Option<String>,
        existed: bool,
    },
    /// An IPVS service, with the `ipvsadm -S -n` lines it had.
    Ipvs {
        flag: String,
        service: String,
        #[serde(default)]
        original: Vec<String>,
    },
    /// A service's running state.
    Service {
        name: String,
        active: bool,
        init: String,
    },
    /// A service's enablement at boot.
    ServiceEnabled {
        name: String,
        enabled: bool,
        init: String,
    },
    /// One package transaction: what it installed, and the packages the node had before
    /// (`name` alone: one package, as older state files record it).
    Package {
        #[serde(default)]
        names: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        manager: String,
        #[serde(default)]
        before: Vec<String>,
    },
}

impl Undo {
    /// The key that makes a record unique: a second change to the same thing keeps the first
    /// original.
    pub(crate) fn key(&self) -> String {
        match self {
            Undo::File { path, .. } | Undo::Dir { path, .. } => format!("file:{path}"),
            Undo::Meta { path, .. } => format!("meta:{path}"),
            Undo::Sysctl { name, .. } => format!("sysctl:{name}"),
            Undo::Address { address, dev, .. } => format!("address:{dev}:{address}"),
            Undo::Ipvs { flag, service, .. } => format!("ipvs:{flag}:{service}"),
            Undo::Service { name, .. } => format!("service:{name}"),
            Undo::ServiceEnabled { name, .. } => format!("service-enabled:{name}"),
            Undo::Package { names, name, .. } => {
                format!(
                    "package:{}",
                    name.clone().unwrap_or_else(|| names.join(","))
                )
            }
        }
    }

    /// The path it is about, for the records that have one.
    pub(crate) fn path(&self) -> Option<&str> {
        match self {
            Undo::File { path, .. } | Undo::Dir { path, .. } | Undo::Meta { path, .. } => {
                Some(path)
            }
            _ => None,
        }
    }
}

/// A record as the state file holds it: its key, then the original.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) key: String,
    #[serde(flatten)]
    pub(crate) undo: Undo,
}

impl From<Undo> for Record {
    fn from(undo: Undo) -> Record {
        Record {
            key: undo.key(),
            undo,
        }
    }
}

/// A record this version cannot read (written by a newer one) is kept as it is, written back
/// unchanged, and makes `restore` fail rather than be skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Entry {
    Known(Record),
    Unknown(Json),
}

impl Entry {
    pub(crate) fn key(&self) -> &str {
        match self {
            Entry::Known(r) => &r.key,
            Entry::Unknown(j) => j.get("key").and_then(Json::as_str).unwrap_or(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_read_as_the_state_file_holds_them_and_write_back_the_same() {
        let doc = json!([
            {"key": "sysctl:net.ipv4.conf.all.arp_ignore", "kind": "sysctl",
             "name": "net.ipv4.conf.all.arp_ignore", "value": "0"},
            {"key": "file:/etc/a", "kind": "file", "path": "/etc/a", "existed": true,
             "backup": "/var/lib/lvslab/backup/%etc%a"},
            {"key": "file:/etc/b", "kind": "file", "path": "/etc/b", "existed": false, "backup": null},
            {"key": "address:lo:10.0.0.50/32", "kind": "address", "address": "10.0.0.50/32",
             "dev": "lo", "label": "lo:3", "existed": false},
            {"key": "package:ipvsadm", "kind": "package", "name": "ipvsadm", "manager": "apt"},
            {"key": "x", "kind": "from-a-newer-version", "what": 1},
        ]);
        let entries: Vec<Entry> = serde_json::from_value(doc.clone()).expect("entries");
        assert!(matches!(
            &entries[0],
            Entry::Known(Record { undo: Undo::Sysctl { value, .. }, .. }) if value == "0"
        ));
        assert!(matches!(&entries[5], Entry::Unknown(_)));
        for e in &entries[..5] {
            let Entry::Known(r) = e else {
                panic!("{e:?} not read")
            };
            assert_eq!(r.key, r.undo.key(), "the key is the one a new record gets");
        }
        let mut back = serde_json::to_value(&entries).expect("json");
        // `package` gains its defaults; everything else is written back as read.
        back[4]
            .as_object_mut()
            .expect("object")
            .retain(|k, _| k != "names" && k != "before");
        assert_eq!(back, doc);
    }
}
