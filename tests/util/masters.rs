//! The ssh masters running on the test host, for tests that check which connections a run left
//! open (shared by `tests/util` and `tests/lab_util`).

use std::path::PathBuf;

/// Every ssh ControlMaster process (`ssh ... -M`) with the ssh config it was started with
/// (`-F`): pid → config file.
pub fn ssh_masters() -> Vec<(i32, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_master = args
            .first()
            .is_some_and(|a| a == "ssh" || a.ends_with("/ssh"))
            && args.iter().any(|a| a == "-M");
        let cfg = args
            .iter()
            .position(|a| a == "-F")
            .and_then(|i| args.get(i + 1));
        if let (true, Some(cfg)) = (is_master, cfg) {
            out.push((pid, PathBuf::from(cfg)));
        }
    }
    out.sort();
    out
}

/// The ssh masters (pids) whose ssh config (`-F`) lies under `dir`.
#[allow(dead_code)] // not every test binary that includes this module asks
pub fn masters_under(dir: &std::path::Path) -> Vec<i32> {
    ssh_masters()
        .into_iter()
        .filter(|(_, cfg)| cfg.starts_with(dir))
        .map(|(pid, _)| pid)
        .collect()
}
