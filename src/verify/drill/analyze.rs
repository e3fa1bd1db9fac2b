//! Reading the request loop's samples: how many requests failed in a window, and when the
//! service was answering again. Pure, so the rules are unit-tested on made-up samples.

use std::collections::BTreeMap;

use super::client::Sample;

/// Requests that started in `[from, to)` and failed.
pub fn failures(samples: &[Sample], from: f64, to: f64) -> usize {
    window(samples, from, to).filter(|s| !s.ok()).count()
}

/// Requests that started in `[from, to)`.
pub fn window(samples: &[Sample], from: f64, to: f64) -> impl Iterator<Item = &Sample> {
    samples.iter().filter(move |s| s.at >= from && s.at < to)
}

/// Answers per real server in `[from, to)`.
pub fn answers(samples: &[Sample], from: f64, to: f64) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in window(samples, from, to) {
        if let Some(n) = &s.server {
            *out.entry(n.clone()).or_default() += 1;
        }
    }
    out
}

/// When the service answered again after `from`: the start of the first request of the final
/// unbroken run of successes that lasts at least `stable` seconds, or `from` itself when nothing
/// failed since. `None` while the last `stable` seconds still saw a failure (or no request).
pub fn answering_since(samples: &[Sample], from: f64, stable: f64) -> Option<f64> {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= from).collect();
    let last = after.last()?;
    match after.iter().rposition(|s| !s.ok()) {
        None => Some(from),
        Some(i) => {
            let first_ok = after.get(i + 1)?;
            (last.at - first_ok.at >= stable).then_some(first_ok.at)
        }
    }
}

/// The first answer from `server` at or after `from`.
pub fn first_answer_from(samples: &[Sample], server: &str, from: f64) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.at >= from && s.server.as_deref() == Some(server))
        .map(|s| s.at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at: f64, server: Option<&str>) -> Sample {
        Sample {
            at,
            source: None,
            server: server.map(str::to_string),
            error: server.is_none().then(|| "timed out".to_string()),
        }
    }

    fn run(pattern: &str) -> Vec<Sample> {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| {
                s(
                    i as f64 * 0.1,
                    match c {
                        'a' => Some("node02"),
                        'b' => Some("node03"),
                        _ => None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn counts_failures_and_answers_in_a_window() {
        let r = run("abab.x..abab");
        assert_eq!(failures(&r, 0.0, 10.0), 4);
        assert_eq!(failures(&r, 0.45, 0.65), 2);
        let a = answers(&r, 0.0, 0.4);
        assert_eq!(a["node02"], 2);
        assert_eq!(a["node03"], 2);
    }

    #[test]
    fn answering_again_needs_a_stable_run() {
        let r = run("abab....abababab");
        // Failures at 0.4..0.7; first success after them at 0.8; last request at 1.5.
        assert_eq!(answering_since(&r, 0.3, 0.5), Some(0.8));
        assert_eq!(
            answering_since(&r, 0.3, 1.0),
            None,
            "0.7 s of successes only"
        );
        assert_eq!(answering_since(&r, 0.0, 0.1), Some(0.8));
        assert_eq!(answering_since(&run("abab"), 0.1, 0.5), Some(0.1));
        assert_eq!(answering_since(&run("ab.."), 0.0, 0.0), None);
        assert_eq!(answering_since(&r, 5.0, 0.1), None, "no request yet");
    }

    #[test]
    fn first_answer_from_a_server() {
        let r = run("aa..ab");
        assert_eq!(first_answer_from(&r, "node03", 0.0), Some(0.5));
        assert_eq!(first_answer_from(&r, "node02", 0.3), Some(0.4));
        assert_eq!(first_answer_from(&r, "node09", 0.0), None);
    }
}
