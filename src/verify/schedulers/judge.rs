//! Judging the picks: the configured scheduler's rule replayed over where each connection
//! went. Pure: the picks come from `traffic`, the rule from the scheduler's name.

use std::collections::{BTreeMap, BTreeSet};

use super::{eligible, rule, Load, Pick, Rule, Step};
use crate::verify::checks::Check;
use crate::verify::spec::Spec;

const NAME: &str = "scheduler";

/// wrr: how far, in connections, a real server's share may be from what its weight gives it. A
/// whole number of wrr rounds hits the weights exactly; one connection of slack allows for a
/// round that an earlier connection (another client) had already begun.
const SHARE_TOLERANCE: f64 = 1.0;

/// The scheduler check: `planned` is what [`super::plan`] asked for (or why nothing was),
/// `picks` where those connections went, in order.
pub fn judge(
    spec: &Spec,
    serving: &dyn Fn(&str) -> bool,
    planned: &Result<Vec<Step>, String>,
    picks: &[Pick],
) -> Check {
    let steps = match planned {
        Ok(s) => s,
        Err(why) => return Check::new("client", NAME, true, format!("not judged: {why}")),
    };
    let fail = |detail: String| Check::new("client", NAME, false, detail);
    let mut seq = Vec::new();
    for (i, p) in picks.iter().enumerate() {
        match &p.server {
            Ok(s) => seq.push(s.as_str()),
            Err(e) => {
                return fail(format!(
                    "{} connection {} from {} got no page: {e}",
                    if p.held { "held" } else { "request" },
                    i + 1,
                    source(p)
                ))
            }
        }
    }
    if picks.len() != steps.len() {
        return fail(format!(
            "{} opened {} of the {} connections it needs",
            spec.scheduler,
            picks.len(),
            steps.len()
        ));
    }
    let servers = eligible(spec, serving);
    if let Some((i, s)) = seq
        .iter()
        .enumerate()
        .find(|(_, s)| !servers.iter().any(|(n, _)| n == *s))
    {
        return fail(format!(
            "connection {} went to {s}, which has weight 0 or is out of the table: no scheduler \
             may choose it; connections: {}",
            i + 1,
            shown(picks)
        ));
    }
    let verdict = match rule(&spec.scheduler) {
        Some(Rule::Turns) => turns(&seq, &servers),
        Some(Rule::Shares) => shares(&seq, &servers),
        Some(Rule::Least(load)) => least(load, picks, &seq, &servers),
        Some(Rule::Highest) => highest(&seq, &servers),
        Some(Rule::Overflow) => overflow(picks, &seq, &servers),
        Some(Rule::BySource) => by_source(picks, &seq, servers.len()),
        Some(Rule::ByDestination) => one_server(&seq, "every connection to the one VIP"),
        Some(Rule::BySet) => {
            if let Err(e) = one_server(&seq, "every connection to the one VIP") {
                return Check::new(
                    "client",
                    NAME,
                    true,
                    format!(
                        "{}: not judged: {e}, but lblcr gives a destination a set of real \
                         servers that grows while its members are overloaded (earlier load, \
                         e.g. an earlier verify's held connections) and shrinks only after \
                         lblcr_expiration (a day by default); among a set's members it picks the \
                         least loaded, which the client cannot tell from another rule; \
                         connections: {}",
                        spec.scheduler,
                        shown(picks)
                    ),
                );
            }
            one_server(&seq, "every connection to the one VIP")
        }
        None => Err("no rule for this scheduler".into()),
    };
    let ok = verdict.is_ok();
    let words = verdict.unwrap_or_else(|e| e);
    Check::new(
        "client",
        NAME,
        ok,
        format!("{}: {words}; connections: {}", spec.scheduler, shown(picks)),
    )
}

fn source(p: &Pick) -> String {
    p.source
        .map_or_else(|| "the default address".into(), |s| s.to_string())
}

/// Where each connection went, in order; a held connection in brackets.
fn shown(picks: &[Pick]) -> String {
    picks
        .iter()
        .map(|p| {
            let s = p.server.as_deref().unwrap_or("(none)");
            if p.held {
                format!("[{s}]")
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// rr: the first connections reach every real server once, then the same order repeats.
fn turns(seq: &[&str], servers: &[(&str, u32)]) -> Result<String, String> {
    let n = servers.len();
    for (i, s) in seq.iter().enumerate() {
        if i < n && seq[..i].contains(s) {
            return Err(format!(
                "connection {} went to {s} again before each of the {n} real servers had one",
                i + 1
            ));
        }
        if i >= n && *s != seq[i - n] {
            return Err(format!(
                "connection {} went to {s} where the turn order says {}",
                i + 1,
                seq[i - n]
            ));
        }
    }
    Ok(format!(
        "{} new connections went to every real server in turn ({})",
        seq.len(),
        seq[..n.min(seq.len())].join(" then ")
    ))
}

/// wrr: each real server's count within [`SHARE_TOLERANCE`] of its weight's share.
fn shares(seq: &[&str], servers: &[(&str, u32)]) -> Result<String, String> {
    let total: u32 = servers.iter().map(|(_, w)| w).sum();
    let mut parts = Vec::new();
    let mut off = Vec::new();
    for (name, w) in servers {
        let got = seq.iter().filter(|s| *s == name).count();
        let want = seq.len() as f64 * f64::from(*w) / f64::from(total);
        parts.push(format!("{name} {got} (weight {w}: {want:.1})"));
        if (got as f64 - want).abs() > SHARE_TOLERANCE {
            off.push(format!(
                "{name} got {got} of {}, its weight {w} of {total} gives {want:.1}",
                seq.len()
            ));
        }
    }
    if off.is_empty() {
        Ok(format!(
            "shares of {} new connections within {SHARE_TOLERANCE} of the weights: {}",
            seq.len(),
            parts.join(", ")
        ))
    } else {
        Err(format!(
            "shares not proportional to the weights (tolerance {SHARE_TOLERANCE}): {}",
            off.join("; ")
        ))
    }
}

/// The real servers with the least load by `load`, given the active connections.
fn least_loaded<'a>(
    load: Load,
    servers: &[(&'a str, u32)],
    active: &BTreeMap<&str, u32>,
) -> BTreeSet<&'a str> {
    let a = |n: &str| u64::from(active.get(n).copied().unwrap_or(0));
    if load == Load::IdleFirst {
        let idle: BTreeSet<&str> = servers
            .iter()
            .filter(|(n, _)| a(n) == 0)
            .map(|(n, _)| *n)
            .collect();
        if !idle.is_empty() {
            return idle;
        }
    }
    // Each load as a fraction, compared by cross-multiplying.
    let cost = |(n, w): &(&str, u32)| match load {
        Load::Active => (a(n), 1),
        Load::ActivePerWeight => (a(n), u64::from(*w)),
        Load::ExpectedDelay | Load::IdleFirst => (a(n) + 1, u64::from(*w)),
    };
    let Some(min) = servers
        .iter()
        .map(cost)
        .min_by(|x, y| (x.0 * y.1).cmp(&(y.0 * x.1)))
    else {
        return BTreeSet::new();
    };
    servers
        .iter()
        .filter(|s| {
            let c = cost(s);
            c.0 * min.1 == min.0 * c.1
        })
        .map(|(n, _)| *n)
        .collect()
}

fn measure(load: Load) -> &'static str {
    match load {
        Load::Active => "fewest active connections",
        Load::ActivePerWeight => "fewest active connections per weight",
        Load::ExpectedDelay => "least (active connections + 1) per weight",
        Load::IdleFirst => "an idle one first, else least (active connections + 1) per weight",
    }
}

/// The active connections the check holds, per real server, in words.
fn loads(active: &BTreeMap<&str, u32>) -> String {
    active
        .iter()
        .map(|(n, a)| format!("{n} {a}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// lc, wlc, sed, nq: every connection went to a least loaded real server, counting the
/// connections the check held open before it. Ties may go either way (the kernel breaks them
/// by inactive connections and table order), so at least one choice must have been clear.
fn least(
    load: Load,
    picks: &[Pick],
    seq: &[&str],
    servers: &[(&str, u32)],
) -> Result<String, String> {
    let mut active: BTreeMap<&str, u32> = servers.iter().map(|(n, _)| (*n, 0)).collect();
    let mut clear = 0;
    for (i, (p, s)) in picks.iter().zip(seq).enumerate() {
        let best = least_loaded(load, servers, &active);
        if best.len() < servers.len() {
            clear += 1;
        }
        if !best.contains(s) {
            return Err(format!(
                "connection {} went to {s} while the check held {}: {} means {}",
                i + 1,
                loads(&active),
                measure(load),
                best.iter().copied().collect::<Vec<_>>().join(" or ")
            ));
        }
        if p.held {
            *active.entry(s).or_default() += 1;
        }
    }
    if clear == 0 {
        return Err("no connection had one clear least loaded real server to go to".into());
    }
    Ok(format!(
        "each of {} new connections went to the real server with {} while the check held \
         connections open ({clear} with one clear choice)",
        seq.len(),
        measure(load)
    ))
}

/// fo: everything to the one real server with the highest weight.
fn highest(seq: &[&str], servers: &[(&str, u32)]) -> Result<String, String> {
    let top = servers.iter().map(|(_, w)| *w).max().unwrap_or(0);
    let heaviest: Vec<&str> = servers
        .iter()
        .filter(|(_, w)| *w == top)
        .map(|(n, _)| *n)
        .collect();
    let first = seq.first().copied().unwrap_or("");
    if !heaviest.contains(&first) {
        return Err(format!(
            "{first} got connections, but the highest weight ({top}) is {}'s",
            heaviest.join(" or ")
        ));
    }
    one_server(
        seq,
        &format!("every connection to the highest weight ({top})"),
    )
}

/// ovf: the highest weight whose active connections do not exceed its weight, counting the
/// connections the check held open before each one.
fn overflow(picks: &[Pick], seq: &[&str], servers: &[(&str, u32)]) -> Result<String, String> {
    let mut active: BTreeMap<&str, u32> = servers.iter().map(|(n, _)| (*n, 0)).collect();
    let mut moved = 0;
    for (i, (p, s)) in picks.iter().zip(seq).enumerate() {
        let room: Vec<(&str, u32)> = servers
            .iter()
            .filter(|(n, w)| active.get(n).copied().unwrap_or(0) <= *w)
            .copied()
            .collect();
        let top = room.iter().map(|(_, w)| *w).max().unwrap_or(0);
        let want: Vec<&str> = room
            .iter()
            .filter(|(_, w)| *w == top)
            .map(|(n, _)| *n)
            .collect();
        if !want.contains(s) {
            return Err(format!(
                "connection {} went to {s} while the check held {}: the highest weight not over \
                 its weight is {}",
                i + 1,
                loads(&active),
                if want.is_empty() {
                    "none".into()
                } else {
                    want.join(" or ")
                }
            ));
        }
        if i > 0 && seq[i - 1] != *s {
            moved += 1;
        }
        if p.held {
            *active.entry(s).or_default() += 1;
        }
    }
    if moved == 0 && servers.len() > 1 {
        return Err("no server filled up, so overflow was never seen".into());
    }
    Ok(format!(
        "{} held connections filled the highest weight until its active connections exceeded \
         its weight, then moved on",
        seq.len()
    ))
}

/// sh, mh: each source address on one real server, and different sources spread.
fn by_source(picks: &[Pick], seq: &[&str], servers: usize) -> Result<String, String> {
    let mut of: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (p, s) in picks.iter().zip(seq) {
        of.entry(source(p)).or_default().insert(s);
    }
    if let Some((src, rs)) = of.iter().find(|(_, rs)| rs.len() > 1) {
        return Err(format!(
            "{src} went to {}: a source address must stay on one real server",
            rs.iter().copied().collect::<Vec<_>>().join(" and ")
        ));
    }
    let used: BTreeSet<&str> = seq.iter().copied().collect();
    let spread = if of.len() < 2 || servers < 2 {
        format!(
            "spreading not judged: {} source address(es) for {servers} real server(s)",
            of.len()
        )
    } else if used.len() < 2 {
        return Err(format!(
            "all {} source addresses went to {}: different sources do not spread",
            of.len(),
            used.iter().next().copied().unwrap_or("")
        ));
    } else {
        format!(
            "{} sources spread over {} real servers",
            of.len(),
            used.len()
        )
    };
    Ok(format!(
        "each source address stayed on one real server; {spread}"
    ))
}

/// dh, lblc, lblcr (one VIP), fo: every connection on the same real server.
fn one_server(seq: &[&str], what: &str) -> Result<String, String> {
    let first = seq.first().copied().unwrap_or("");
    match seq.iter().position(|s| *s != first) {
        None => Ok(format!("{what} went to {first}")),
        Some(i) => Err(format!(
            "connection {} went to {} after the first went to {first}: {what} must go to one \
             real server",
            i + 1,
            seq[i]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{plan, tests::spec};
    use super::*;

    const ALL: &dyn Fn(&str) -> bool = &|_| true;

    /// Picks as recorded: `[web-1]` held, `web-1` a request, each from the next of three sources.
    fn picks(seen: &str) -> Vec<Pick> {
        seen.split_whitespace()
            .enumerate()
            .map(|(i, s)| {
                let held = s.starts_with('[');
                Pick {
                    held,
                    source: Some(std::net::Ipv4Addr::new(10, 77, 0, 1 + (i % 3) as u8)),
                    server: Ok(s.trim_matches(['[', ']']).to_string()),
                }
            })
            .collect()
    }

    /// The verdict on `seen` for `scheduler` with `weights`, judged against the planned steps.
    fn verdict(scheduler: &str, weights: [u32; 2], seen: &str) -> Check {
        let s = spec(scheduler, weights);
        let p = picks(seen);
        let mut planned = plan(&s, ALL, 3);
        if let Ok(steps) = &mut planned {
            steps.truncate(p.len());
        }
        let c = judge(&s, ALL, &planned, &p);
        eprintln!("{}", c.detail);
        c
    }

    #[test]
    fn rr_cycles_in_turn() {
        assert!(verdict("rr", [1, 1], "web-2 web-1 web-2 web-1").ok);
        assert!(!verdict("rr", [1, 1], "web-2 web-2 web-1 web-1").ok);
        assert!(!verdict("rr", [1, 1], "web-2 web-1 web-1 web-2").ok);
    }

    #[test]
    fn wrr_shares_follow_the_weights_and_weight_zero_gets_nothing() {
        let round = "web-1 web-2 web-1 ";
        let ok = verdict("wrr", [2, 1], &round.repeat(4));
        assert!(
            ok.ok && ok.detail.contains("web-1 8 (weight 2: 8.0)"),
            "{}",
            ok.detail
        );
        // rr's even shares where the weights ask for 2:1.
        assert!(!verdict("wrr", [2, 1], &"web-1 web-2 ".repeat(6)).ok);
        let zero = verdict("wrr", [1, 0], "web-1 web-1 web-2 web-1");
        assert!(!zero.ok && zero.detail.contains("web-2, which has weight 0"));
    }

    #[test]
    fn least_connection_family_follows_held_connections() {
        // wlc 2:1 — web-1 holds one (1/2 < 1/1 would be web-2's after it holds one).
        let seen = "[web-1] web-2 [web-2] web-1 [web-1] web-1 [web-2] web-1";
        assert!(verdict("wlc", [2, 1], seen).ok);
        // rr's alternation with a connection held: the next one went to the loaded server.
        let c = verdict("lc", [1, 1], "[web-1] web-1 [web-2] web-1");
        assert!(
            !c.ok && c.detail.contains("held web-1 1, web-2 0"),
            "{}",
            c.detail
        );
        // sed counts the new connection: (0+1)/1 = 1 against (1+1)/2 = 1 is a tie; nq goes to
        // the idle server.
        assert!(verdict("sed", [2, 1], "[web-1] web-1").ok);
        assert!(!verdict("nq", [2, 1], "[web-1] web-1").ok);
        assert!(verdict("nq", [2, 1], "[web-1] web-2").ok);
    }

    #[test]
    fn fo_sends_everything_to_the_highest_weight() {
        assert!(verdict("fo", [2, 1], "web-1 web-1 web-1 web-1").ok);
        assert!(!verdict("fo", [2, 1], "web-2 web-2 web-2 web-2").ok);
        assert!(!verdict("fo", [1, 1], "web-2 web-1 web-2 web-1").ok);
    }

    #[test]
    fn ovf_moves_on_when_active_connections_exceed_the_weight() {
        assert!(verdict("ovf", [2, 1], "[web-1] [web-1] [web-1] [web-2] [web-2]").ok);
        let early = verdict("ovf", [2, 1], "[web-1] [web-1] [web-2] [web-2] [web-1]");
        assert!(
            !early.ok && early.detail.contains("connection 3"),
            "{}",
            early.detail
        );
    }

    #[test]
    fn sh_keeps_each_source_and_spreads_sources() {
        let ok = verdict("sh", [1, 1], "web-1 web-2 web-1 web-1 web-2 web-1");
        assert!(ok.ok, "{}", ok.detail);
        let moved = verdict("mh", [1, 1], "web-1 web-2 web-1 web-2 web-1 web-2");
        assert!(!moved.ok && moved.detail.contains("10.77.0.1 went to web-1 and web-2"));
        assert!(!verdict("sh", [1, 1], "web-1 web-1 web-1 web-1 web-1 web-1").ok);
    }

    #[test]
    fn dh_family_keeps_the_destination_on_one_server() {
        assert!(verdict("lblc", [1, 1], "web-2 web-2 web-2 web-2").ok);
        assert!(!verdict("dh", [1, 1], "web-2 web-2 web-1 web-2").ok);
        let one = verdict("lblcr", [1, 1], "web-2 web-2 web-2 web-2");
        assert!(one.ok && !one.detail.contains("not judged"));
        let set = verdict("lblcr", [1, 1], "web-2 web-1 web-2 web-2");
        assert!(
            set.ok
                && set
                    .detail
                    .starts_with("lblcr: not judged: connection 2 went to web-1")
        );
    }

    #[test]
    fn persistence_is_reported_as_not_judged_and_failures_are_named() {
        let mut s = spec("rr", [1, 1]);
        s.persistence = 30;
        let c = judge(&s, ALL, &plan(&s, ALL, 3), &[]);
        assert!(c.ok && c.detail.starts_with("not judged: persistence 30 s"));
        let mut p = picks("web-1 web-2");
        p[1].server = Err("connect: timed out".into());
        let c = judge(
            &spec("rr", [1, 1]),
            ALL,
            &Ok(vec![Step::Request { source: 0 }; 2]),
            &p,
        );
        assert!(
            !c.ok
                && c.detail
                    .contains("request connection 2 from 10.77.0.2 got no page")
        );
        let short = judge(
            &spec("rr", [1, 1]),
            ALL,
            &plan(&spec("rr", [1, 1]), ALL, 3),
            &p[..1],
        );
        assert!(!short.ok && short.detail.contains("opened 1 of the 4"));
    }
}
