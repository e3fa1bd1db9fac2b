//! What setup changed on a node, recorded *on the node* before the first change so teardown
//! (the `restore` module) can put every value back exactly, even from another machine. One JSON
//! file (default `/var/lib/lvslab/state.json`, variable `lvslab_state_file`) written atomically
//! (temp file + rename), and a `backup/` directory beside it for the original files.

use serde_json::{json, Value as Json};

use super::undo::{Entry, Record, Undo};

use crate::quote::quote;

/// Default location of the state file on a node.
pub(crate) const DEFAULT_STATE_FILE: &str = "/var/lib/lvslab/state.json";

/// The node's record of originals, loaded with the facts.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeState {
    pub(crate) path: String,
    pub(crate) records: Vec<Entry>,
}

impl NodeState {
    pub(crate) fn new(path: &str, text: &str) -> NodeState {
        let records = serde_json::from_str::<Json>(text)
            .ok()
            .and_then(|v| v.get("records").and_then(|r| r.as_array()).cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|r| serde_json::from_value(r.clone()).unwrap_or(Entry::Unknown(r)))
            .collect();
        NodeState {
            path: path.to_string(),
            records,
        }
    }

    pub(crate) fn dir(&self) -> String {
        super::files::parent_dir(&self.path)
    }

    /// Shell that makes sure the backup directory exists (a test, not a program, when it does).
    fn backup_dir_line(&self) -> String {
        let d = quote(&format!("{}/backup", self.dir()));
        format!("{{ [ -d {d} ] || mkdir -p {d}; }}")
    }

    /// Where the original of a file is kept.
    pub(crate) fn backup_path(&self, path: &str) -> String {
        let flat: String = path
            .chars()
            .map(|c| if c == '/' { '%' } else { c })
            .collect();
        format!("{}/backup/{flat}", self.dir())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.records.iter().any(|r| r.key() == key)
    }

    /// Record `rec` unless its key is recorded already: returns the shell lines that persist the
    /// state atomically, to run *before* the change. Empty when the original was recorded
    /// earlier (the first original is the one teardown restores).
    pub(crate) fn record(&mut self, rec: Undo) -> String {
        self.record_all(vec![rec], &[])
    }

    /// Shell lines saving the original of an existing file, and the record for it, before the
    /// file is changed. `existed` says whether it existed. Empty if already recorded.
    pub(crate) fn record_file(&mut self, path: &str, existed: bool) -> String {
        self.record_all(Vec::new(), &[(path, existed)])
    }

    /// [`NodeState::record`] and [`NodeState::record_file`] for the several originals one
    /// change needs (a service's state and its enablement, a sysctl and its file): one write of
    /// the state file for all of them, as each write costs a program (`mv`) on the node.
    pub(crate) fn record_all(&mut self, recs: Vec<Undo>, files: &[(&str, bool)]) -> String {
        let mut out = String::new();
        let mut added = false;
        for rec in recs {
            let rec = Record::from(rec);
            if !self.has(&rec.key) {
                self.records.push(Entry::Known(rec));
                added = true;
            }
        }
        for &(path, existed) in files {
            let key = format!("file:{path}");
            if self.has(&key) {
                continue;
            }
            let backup = self.backup_path(path);
            if existed {
                out.push_str(&format!(
                    "{d} && cp -a {p} {b}\n",
                    d = self.backup_dir_line(),
                    p = quote(path),
                    b = quote(&backup)
                ));
            }
            self.records.push(Entry::Known(Record {
                key,
                undo: Undo::File {
                    path: path.to_string(),
                    existed,
                    backup: existed.then_some(backup),
                },
            }));
            added = true;
        }
        if added {
            out.push_str(&self.persist());
        }
        out
    }

    /// Shell lines writing the whole state file atomically.
    pub(crate) fn persist(&self) -> String {
        let doc = json!({"version": 1, "records": self.records}).to_string();
        let tmp = format!("{}.tmp", self.path);
        format!(
            "{dir} && printf '%s\\n' {doc} > {tmp} && mv -f {tmp} {path}\n",
            dir = self.backup_dir_line(),
            doc = quote(&doc),
            tmp = quote(&tmp),
            path = quote(&self.path)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysctl(name: &str, value: &str) -> Undo {
        Undo::Sysctl {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn record_once_keeps_first_original() {
        let mut s = NodeState::new("/s/state.json", "");
        let a = s.record(sysctl("x", "0"));
        assert!(a.contains("mv -f /s/state.json.tmp /s/state.json"));
        assert_eq!(s.record(sysctl("x", "1")), "");
        assert_eq!(s.records, [Entry::Known(sysctl("x", "0").into())]);
    }

    #[test]
    fn several_originals_of_one_change_are_one_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let conf = dir.path().join("x.conf");
        std::fs::write(&conf, "old\n").unwrap();
        let conf = conf.to_str().unwrap();
        let mut s = NodeState::new(path.to_str().unwrap(), "");
        let script = s.record_all(vec![sysctl("a", "0"), sysctl("b", "1")], &[(conf, true)]);
        assert_eq!(script.matches("mv -f").count(), 1, "{script}");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success());
        let back = NodeState::new("", &std::fs::read_to_string(&path).unwrap());
        let keys: Vec<&str> = back.records.iter().map(Entry::key).collect();
        assert_eq!(keys, ["sysctl:a", "sysctl:b", &format!("file:{conf}")]);
        let backup = s.backup_path(conf);
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "old\n");
        assert_eq!(
            s.record_all(vec![sysctl("a", "2")], &[(conf, true)]),
            "",
            "all recorded already: nothing to write"
        );
    }

    #[test]
    fn loads_records_and_backup_paths() {
        let s = NodeState::new("/v/state.json", r#"{"version":1,"records":[{"key":"a"}]}"#);
        assert!(s.has("a"));
        assert_eq!(s.backup_path("/etc/x.conf"), "/v/backup/%etc%x.conf");
    }

    #[test]
    fn persisted_state_round_trips_through_sh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("st ate.json");
        let mut s = NodeState::new(path.to_str().unwrap(), "");
        let script = s.record(sysctl("k", "it's $(x)"));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let back = NodeState::new("", &std::fs::read_to_string(&path).unwrap());
        assert_eq!(
            back.records,
            [Entry::Known(sysctl("k", "it's $(x)").into())]
        );
    }
}
