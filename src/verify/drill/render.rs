//! How the drills look: per phase a timeline (events with their times, and a strip chart of the
//! request loop: one row per real server marking when it answered, one row of failures), then a
//! summary table of measured times against the expected bounds.

use std::fmt::Write;

use super::client::Sample;
use super::{DrillReport, Phase};

/// Cells of a strip chart at most.
const WIDTH: usize = 60;

pub fn text(r: &DrillReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nfailover drills");
    if let (Some(h), Some(m), Some(b)) = (r.hard_stop, &r.master, &r.backup) {
        let _ = writeln!(
            out,
            "  master {m}, backup {b}; hard stop: {}; margin {:.1} s",
            h.describe(),
            r.margin
        );
    }
    if let Some(t) = &r.timers {
        let _ = writeln!(
            out,
            "  keepalived: advert_int {} s, priorities {}/{}, delay_loop {} s, connect_timeout {} s, retry {}, delay_before_retry {} s",
            t.advert_int, t.master_priority, t.backup_priority, t.delay_loop, t.connect_timeout, t.retry, t.delay_before_retry
        );
    }
    let servers: Vec<String> = {
        let mut s: Vec<String> = r.samples.iter().filter_map(|s| s.server.clone()).collect();
        s.sort();
        s.dedup();
        s
    };
    for (i, p) in r.phases.iter().enumerate() {
        let _ = writeln!(out, "\n{}. {}", i + 1, p.name);
        for e in &p.events {
            let _ = writeln!(out, "  {:>+7.2} s  {}", e.at, e.what);
        }
        out.push_str(&strip(p, &r.samples, &servers));
    }
    if !r.phases.is_empty() {
        out.push_str(&table(r));
    }
    for e in &r.errors {
        let _ = writeln!(out, "  error: {e}");
    }
    let _ = writeln!(
        out,
        "\nfailover ({}): {}",
        if r.restored {
            "lab restored to the state it was found in"
        } else {
            "lab NOT restored to the state it was found in"
        },
        if r.ok { "passed" } else { "FAILED" }
    );
    out
}

/// The request loop during one phase: `█` where a real server answered, `x` where requests
/// failed, `·` where none was sent; the time axis starts at the phase's start.
fn strip(p: &Phase, samples: &[Sample], servers: &[String]) -> String {
    let span = (p.end - p.start).max(0.1);
    let cell = (span / WIDTH as f64).max(0.1);
    let cells = ((span / cell).ceil() as usize).clamp(1, WIDTH);
    let idx = |at: f64| (((at - p.start) / cell) as usize).min(cells - 1);
    let mut rows: Vec<(String, Vec<char>)> = servers
        .iter()
        .map(|s| (s.clone(), vec!['·'; cells]))
        .collect();
    let mut failed = vec!['·'; cells];
    for s in samples.iter().filter(|s| s.at >= p.start && s.at < p.end) {
        let i = idx(s.at);
        match &s.server {
            Some(n) => {
                if let Some((_, row)) = rows.iter_mut().find(|(name, _)| name == n) {
                    row[i] = '█';
                }
            }
            None => failed[i] = 'x',
        }
    }
    rows.push(("failed".into(), failed));
    let w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(6);
    let mut out = String::new();
    let end = format!("{span:.1} s");
    let _ = if cells >= 4 + end.len() {
        writeln!(out, "  {:w$}  0 s{end:>width$}", "", width = cells - 3)
    } else {
        writeln!(out, "  {:w$}  0 s … {end}", "")
    };
    for (name, row) in rows {
        let _ = writeln!(out, "  {name:<w$}  {}", row.into_iter().collect::<String>());
    }
    let _ = writeln!(out, "  {:w$}  one cell = {:.0} ms", "", cell * 1000.0);
    out
}

fn table(r: &DrillReport) -> String {
    let rows: Vec<[String; 7]> = r
        .phases
        .iter()
        .flat_map(|p| {
            p.measures.iter().map(move |m| {
                [
                    p.name.clone(),
                    m.what.clone(),
                    m.measured
                        .map(|x| format!("{x:.2} s"))
                        .unwrap_or_else(|| "never".into()),
                    format!("≤ {:.2} s", m.expected),
                    format!("{:.2} s", m.limit),
                    format!("{}/{}", p.failed_requests, p.requests),
                    if m.ok { "ok".into() } else { "FAIL".into() },
                ]
            })
        })
        .collect();
    let head = [
        "DRILL",
        "MEASURED UNTIL",
        "MEASURED",
        "EXPECTED",
        "LIMIT",
        "FAILED REQ",
        "OK",
    ];
    let mut w = head.map(|h| h.chars().count());
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            s.push(' ');
            s.push_str(c);
            s.push_str(&" ".repeat(pad + 1));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = String::from("\nsummary (measured from the fault; limit = expected + margin)\n");
    out.push_str(&line(&head.map(str::to_string)));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Event, Measure};
    use super::*;

    fn sample(at: f64, server: Option<&str>) -> Sample {
        Sample {
            at,
            source: None,
            server: server.map(str::to_string),
            error: server.is_none().then(|| "timed out".into()),
        }
    }

    #[test]
    fn strip_marks_answers_and_failures() {
        let p = Phase {
            name: "x".into(),
            start: 10.0,
            end: 11.0,
            events: vec![Event {
                at: 0.0,
                what: "frozen".into(),
            }],
            measures: Vec::new(),
            requests: 4,
            failed_requests: 2,
            answers: Default::default(),
        };
        let samples = vec![
            sample(10.0, Some("a")),
            sample(10.35, None),
            sample(10.45, None),
            sample(10.95, Some("b")),
            sample(12.0, Some("a")),
        ];
        let s = strip(&p, &samples, &["a".to_string(), "b".to_string()]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[1], "  a       █·········");
        assert_eq!(lines[2], "  b       ·········█");
        assert_eq!(lines[3], "  failed  ···xx·····");
        assert_eq!(lines[4].trim(), "one cell = 100 ms");
    }

    #[test]
    fn table_shows_measured_against_limit() {
        let r = DrillReport {
            hard_stop: None,
            margin: 1.5,
            timers: None,
            master: None,
            backup: None,
            phases: vec![Phase {
                name: "hard stop of node01".into(),
                start: 0.0,
                end: 5.0,
                events: Vec::new(),
                measures: vec![Measure {
                    what: "node04 holds the VIP".into(),
                    measured: Some(3.4),
                    expected: 3.8,
                    limit: 5.3,
                    ok: true,
                }],
                requests: 100,
                failed_requests: 62,
                answers: Default::default(),
            }],
            errors: Vec::new(),
            state_before: None,
            state_after: None,
            restored: true,
            ok: true,
            samples: Vec::new(),
        };
        let t = table(&r);
        assert!(
            t.contains("hard stop of node01  node04 holds the VIP  3.40 s    ≤ 3.80 s  5.30 s  62/100      ok"),
            "{t}"
        );
    }
}
