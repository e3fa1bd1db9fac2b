//! How verify's results look: a table of checks, a bar chart of the request distribution, and
//! the JSON document `--json` prints.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::checks::Check;

/// Everything one `verify` run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `ha` or `lvs`, as detected from the directors.
    pub mode: &'static str,
    /// How the request checks dealt with persistence, in words.
    pub client_method: String,
    pub checks: Vec<Check>,
    /// Answers per real server.
    pub distribution: BTreeMap<String, u32>,
    pub ok: bool,
}

/// The checks as an aligned table, failures marked, then the distribution as bars.
pub fn table(report: &Report) -> String {
    let hw = report
        .checks
        .iter()
        .map(|c| c.host.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let nw = report
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<hw$}  {:<nw$}  {:<4}  DETAIL",
        "HOST", "CHECK", "OK"
    );
    for c in &report.checks {
        let _ = writeln!(
            out,
            "{:<hw$}  {:<nw$}  {:<4}  {}",
            c.host,
            c.name,
            if c.ok { "ok" } else { "FAIL" },
            c.detail
        );
    }
    if !report.distribution.is_empty() {
        let _ = writeln!(
            out,
            "\nrequests per real server ({}):",
            report.client_method
        );
        out.push_str(&bars(&report.distribution, 40));
    }
    let failed = report.checks.iter().filter(|c| !c.ok).count();
    let _ = writeln!(
        out,
        "\nverify ({} mode): {} passed, {} failed",
        report.mode,
        report.checks.len() - failed,
        failed
    );
    out
}

/// A horizontal bar per key, scaled so the largest count fills `width` cells.
pub fn bars(counts: &BTreeMap<String, u32>, width: usize) -> String {
    let kw = counts.keys().map(String::len).max().unwrap_or(0);
    let max = counts.values().copied().max().unwrap_or(0).max(1) as usize;
    let mut out = String::new();
    for (k, v) in counts {
        let n = (*v as usize * width).div_ceil(max);
        let _ = writeln!(out, "  {k:<kw$}  {:<width$}  {v}", "█".repeat(n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest() {
        let counts: BTreeMap<String, u32> = [
            ("node02".to_string(), 10),
            ("node03".to_string(), 5),
            ("x".to_string(), 0),
        ]
        .into();
        let b = bars(&counts, 10);
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[0], format!("  node02  {}  10", "█".repeat(10)));
        assert_eq!(lines[1], format!("  node03  {}       5", "█".repeat(5)));
        assert_eq!(lines[2], format!("  x       {}  0", " ".repeat(10)));
    }

    #[test]
    fn table_marks_failures_and_counts() {
        let r = Report {
            mode: "ha",
            client_method: "4 source addresses".into(),
            checks: vec![
                Check {
                    host: "node01".into(),
                    name: "arp",
                    ok: true,
                    detail: "fine".into(),
                },
                Check {
                    host: "client".into(),
                    name: "requests",
                    ok: false,
                    detail: "2 of 20 failed".into(),
                },
            ],
            distribution: BTreeMap::new(),
            ok: false,
        };
        let t = table(&r);
        assert!(t.contains("client  requests  FAIL  2 of 20 failed"), "{t}");
        assert!(t.ends_with("verify (ha mode): 1 passed, 1 failed\n"), "{t}");
    }
}
