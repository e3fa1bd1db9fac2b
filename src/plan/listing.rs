//! `--list-hosts`, `--list-tasks` and `--syntax-check`: the plan shown instead of run, in
//! `ansible-playbook`'s layout, so what a run would touch can be read before it touches it.

use std::fmt::Write;

use super::Plan;

/// The listing of a built plan: the playbook, then per play its hosts and/or tasks.
pub(crate) fn render(plan: &Plan, hosts: bool, tasks: bool) -> String {
    let mut out = format!("\nplaybook: {}\n", plan.playbook.path.display());
    if !hosts && !tasks {
        return out;
    }
    for (n, planned) in plan.plays.iter().enumerate() {
        let play = plan.play(planned);
        let pattern = play.hosts.as_scalar_str("").unwrap_or_default();
        let _ = writeln!(
            out,
            "\n  play #{} ({pattern}): {}\tTAGS: [{}]",
            n + 1,
            play.name,
            play.tags.join(", ")
        );
        if hosts {
            let _ = writeln!(out, "    pattern: ['{pattern}']");
            let _ = writeln!(out, "    hosts ({}):", planned.hosts.len());
            for h in &planned.hosts {
                let _ = writeln!(out, "      {h}");
            }
        }
        if tasks {
            let _ = writeln!(out, "    tasks:");
            for t in &play.tasks {
                let mut tags: Vec<&String> = t.tags.iter().chain(&play.tags).collect();
                tags.sort();
                tags.dedup();
                let tags: Vec<&str> = tags.into_iter().map(String::as_str).collect();
                let _ = writeln!(out, "      {}\tTAGS: [{}]", t.name, tags.join(", "));
            }
        }
    }
    out
}
