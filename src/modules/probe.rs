//! Read-only queries, batched. Every module first *queries* the node to decide what would
//! change; on a node that is already right (a rerun, a check) that query is all the task does.
//! One ssh round trip per query is what made a 30-task playbook slow on a busy node, so the
//! executor asks the modules of the tasks still ahead which queries they are going to make
//! (`Module::queries`, which sends nothing), runs all of them in one remote command, and serves
//! each later query from that batch.
//!
//! A cached answer is only as good as the node it describes: when a module changes the node, the
//! answers about what it touched are dropped — the queries sharing one of its resource keys
//! (`file:/etc/x`, `sysctl:net.ipv4.ip_forward`), or every answer when the module's effects are
//! not confined to its keys (commands, packages, services).

use std::collections::HashMap;

use crate::ssh::Output;

/// One query a module makes: the resources it reads, and the exact command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// Empty: the module's changes may reach anything (a mutation then drops every answer).
    pub(crate) keys: Vec<String>,
    pub(crate) line: String,
    /// Asked as the user the task becomes (`become`): a batch holds queries of one kind only,
    /// sent through the matching transport.
    pub(crate) escalate: bool,
}

impl Query {
    /// What the answer is cached under: the same command asked with and without `become`
    /// may get different answers.
    pub(crate) fn key(&self) -> String {
        if self.escalate {
            format!("become\0{}", self.line)
        } else {
            self.line.clone()
        }
    }
}

/// The answers of one host, and what the module running now has read and done.
#[derive(Debug, Default)]
pub(crate) struct Probes {
    cache: HashMap<String, (Query, Output)>,
    /// Keys the current module read (`None`: it read something without keys).
    touched: Option<Vec<String>>,
    mutated: bool,
    /// Answers asked again right after the current module's change: fresh, kept.
    refreshed: Vec<String>,
    /// Answers fetched ahead that no task has read yet: what the tasks ahead are going to ask.
    unread: std::collections::HashSet<String>,
    /// Whether a change whose reach is unknown asks the unread answers again in its own round
    /// trip: for the last (or only) item of a task; earlier items of a loop would ask them
    /// again for every item.
    reask_unread: bool,
}

impl Probes {
    pub(crate) fn new() -> Probes {
        Probes::default()
    }

    /// Is the answer of the query with this [`Query::key`] at hand?
    pub(crate) fn has(&self, key: &str) -> bool {
        self.cache.contains_key(key)
    }

    /// The cached answer for [`Query::key`] `key`; notes the keys read, for
    /// [`Probes::end_task`].
    pub(crate) fn answer(&mut self, keys: &[String], key: &str) -> Option<Output> {
        self.read(keys);
        let out = self.cache.get(key).map(|(_, o)| o.clone());
        if out.is_some() {
            self.unread.remove(key);
        }
        out
    }

    pub(crate) fn read(&mut self, keys: &[String]) {
        match (&mut self.touched, keys.is_empty()) {
            (_, true) => self.touched = None,
            (Some(t), false) => t.extend(keys.iter().cloned()),
            (None, false) => {}
        }
    }

    pub(crate) fn mutated(&mut self) {
        self.mutated = true;
    }

    /// `last_item`: the task has no loop, or this is its last item (see `reask_unread`).
    pub(crate) fn start_task(&mut self, last_item: bool) {
        self.touched = Some(Vec::new());
        self.mutated = false;
        self.refreshed.clear();
        self.reask_unread = last_item;
    }

    /// The cached queries a change by the current module makes stale, to ask again in the
    /// change's own round trip. When its reach is known (its keys): those sharing a key. When it
    /// is not, every answer is stale ([`Probes::end_task`] drops them all); those fetched for
    /// the tasks ahead and not read yet are asked again, which spares the next task a round
    /// trip of its own.
    pub(crate) fn stale(&self) -> Vec<Query> {
        let keys = self.touched.as_ref().filter(|k| !k.is_empty());
        if keys.is_none() && !self.reask_unread {
            return Vec::new();
        }
        let mut v: Vec<Query> = self
            .cache
            .iter()
            .filter(|(key, (q, _))| match keys {
                Some(keys) => q.keys.iter().any(|x| keys.contains(x)),
                None => self.unread.contains(*key),
            })
            .map(|(_, (q, _))| q.clone())
            .collect();
        v.sort_by_key(Query::key);
        v
    }

    /// A fresh answer, taken after the change.
    pub(crate) fn refresh(&mut self, q: &Query, out: Output) {
        self.refreshed.push(q.key());
        // Read or unread, it stays what it was.
        self.cache.insert(q.key(), (q.clone(), out));
    }

    /// After a module ran: drop what its changes may have made stale.
    pub(crate) fn end_task(&mut self) {
        if !self.mutated {
            return;
        }
        let fresh = std::mem::take(&mut self.refreshed);
        match self.touched.take() {
            Some(keys) if !keys.is_empty() => self.cache.retain(|key, (q, _)| {
                fresh.contains(key) || !q.keys.iter().any(|x| keys.contains(x))
            }),
            _ => self.cache.retain(|key, _| fresh.contains(key)),
        }
        let cache = &self.cache;
        self.unread.retain(|line| cache.contains_key(line));
        self.mutated = false;
    }

    pub(crate) fn store(&mut self, q: &Query, out: Output) {
        self.cache.insert(q.key(), (q.clone(), out));
        self.unread.insert(q.key());
    }
}

/// One shell script running every query, each in its own subshell with stdin closed. A TCG
/// guest pays ~30-60 ms per program started, so the framing is shell builtins only: each
/// query's stdout ends at a line `TOKEN STATUS`, its stderr (the channel's own stderr, no
/// scratch file to create and remove) at a line `TOKEN`.
pub(crate) fn batch_script(queries: &[Query], token: &str) -> String {
    let mut s = String::new();
    for q in queries {
        s.push_str(&format!(
            "( {}\n) </dev/null; s=$?; printf '\\n{token} %s\\n' \"$s\"; printf '\\n{token}\\n' >&2\n",
            q.line
        ));
    }
    s
}

/// A command followed, in the same script, by queries (a change and the answers it made stale;
/// the facts and the queries of a run without facts): the command's own stdout ends at a
/// `TOKEN-own STATUS` line and its stderr at a `TOKEN-own` line; the answers follow as in
/// [`batch_script`].
pub(crate) fn then_queries(cmd: &str, stale: &[Query], token: &str) -> String {
    format!(
        "( {cmd}\n); s=$?; printf '\\n{token}-own %s\\n' \"$s\"; printf '\\n{token}-own\\n' >&2\n{}",
        batch_script(stale, token)
    )
}

/// The command's own output (stdout and stderr before their markers, its status) and the
/// answers of [`then_queries`].
pub(crate) fn split_then_queries(
    out: &Output,
    token: &str,
    n: usize,
) -> Option<(Output, Vec<Output>)> {
    let marker = format!("\n{token}-own ");
    let m = marker.as_bytes();
    let a = out.stdout.windows(m.len()).position(|w| w == m)?;
    let rest = &out.stdout[a + m.len()..];
    let nl = rest.iter().position(|b| *b == b'\n')?;
    let status: i32 = std::str::from_utf8(&rest[..nl]).ok()?.trim().parse().ok()?;
    let err_marker = format!("\n{token}-own\n");
    let em = err_marker.as_bytes();
    let e = out.stderr.windows(em.len()).position(|w| w == em)?;
    let answers = parse_batch(&rest[nl + 1..], &out.stderr[e + em.len()..], token, n)?;
    let own = Output {
        status: Some(status),
        stdout: out.stdout[..a].to_vec(),
        stderr: out.stderr[..e].to_vec(),
    };
    Some((own, answers))
}

/// A token no query's output contains by accident: the process id and the time in nanoseconds.
pub(crate) fn token() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("@@lvslab-{:x}-{:x}", std::process::id(), t)
}

/// The answers of [`batch_script`], in order, from its stdout and stderr; `None` when the
/// output is not what it printed.
pub(crate) fn parse_batch(out: &[u8], err: &[u8], token: &str, n: usize) -> Option<Vec<Output>> {
    let tok = token.as_bytes();
    // "\n" + token, at or after `from`.
    let find = |hay: &[u8], from: usize| -> Option<usize> {
        (from..hay.len().checked_sub(tok.len() + 1)? + 1)
            .find(|&i| hay[i] == b'\n' && hay[i + 1..].starts_with(tok))
    };
    let mut res = Vec::with_capacity(n);
    let (mut pos, mut epos) = (0, 0);
    for _ in 0..n {
        let a = find(out, pos)?;
        let stdout = out[pos..a].to_vec();
        let head_end = a + 1 + out[a + 1..].iter().position(|b| *b == b'\n')?;
        let head = std::str::from_utf8(&out[a + 1 + tok.len()..head_end]).ok()?;
        let status: i32 = head.trim().parse().ok()?;
        pos = head_end + 1;
        let b = find(err, epos)?;
        let stderr = err[epos..b].to_vec();
        epos = b + 1 + tok.len() + 1;
        if err.get(epos - 1) != Some(&b'\n') {
            return None;
        }
        res.push(Output {
            status: Some(status),
            stdout,
            stderr,
        });
    }
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(keys: &[&str], line: &str) -> Query {
        Query {
            keys: keys.iter().map(|s| s.to_string()).collect(),
            line: line.into(),
            escalate: false,
        }
    }

    #[test]
    fn batch_runs_each_query_apart_and_parses_back() {
        let qs = vec![
            q(&["a"], "printf 'x\\ny'; echo err >&2; exit 3"),
            q(&[], "printf '@@lvslab-query 0 9 9\\n'; printf 'no newline'"),
            q(&["b"], "cat; echo done"),
        ];
        let tok = token();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(batch_script(&qs, &tok))
            .output()
            .unwrap();
        let r = parse_batch(&out.stdout, &out.stderr, &tok, 3).unwrap();
        assert_eq!(r[0].status, Some(3));
        assert_eq!(r[0].stdout, b"x\ny");
        assert_eq!(r[0].stderr, b"err\n");
        assert_eq!(r[1].stdout, b"@@lvslab-query 0 9 9\nno newline");
        assert!(r[1].stderr.is_empty());
        assert_eq!(r[2].status, Some(0));
        assert_eq!(r[2].stdout, b"done\n", "stdin is closed, not the batch's");
        assert!(parse_batch(&out.stdout, &out.stderr[..out.stderr.len() - 1], &tok, 3).is_none());
        assert!(parse_batch(&out.stdout[..out.stdout.len() - 1], &out.stderr, &tok, 3).is_none());
    }

    #[test]
    fn a_change_carries_the_queries_it_made_stale() {
        let tok = token();
        let stale = vec![q(&["file:/f"], "echo fresh; echo e >&2")];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(then_queries(
                "printf own; echo oops >&2; exit 4",
                &stale,
                &tok,
            ))
            .output()
            .unwrap();
        let out = Output {
            status: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        };
        let (own, answers) = split_then_queries(&out, &tok, 1).unwrap();
        assert_eq!(own.status, Some(4));
        assert_eq!(own.stdout, b"own");
        assert_eq!(own.stderr, b"oops\n");
        assert_eq!(answers[0].stdout, b"fresh\n");
        assert_eq!(answers[0].stderr, b"e\n");

        let mut p = Probes::new();
        p.store(&q(&["file:/f", "sysctl:a"], "A"), Output::default());
        p.store(&q(&["file:/f", "sysctl:b"], "B"), Output::default());
        p.store(&q(&["file:/g"], "C"), Output::default());
        p.start_task(true);
        p.read(&["file:/f".into(), "sysctl:a".into()]);
        p.mutated();
        let st: Vec<String> = p.stale().into_iter().map(|q| q.line).collect();
        assert_eq!(st, ["A", "B"]);
        p.refresh(&q(&["file:/f", "sysctl:b"], "B"), Output::default());
        p.end_task();
        assert!(!p.has("A") && p.has("B") && p.has("C"));
    }

    #[test]
    fn a_change_drops_the_answers_it_may_have_made_stale() {
        let mut p = Probes::new();
        p.store(&q(&["file:/f", "sysctl:a"], "A"), Output::default());
        p.store(&q(&["file:/f", "sysctl:b"], "B"), Output::default());
        p.store(&q(&["file:/g"], "C"), Output::default());
        p.start_task(true);
        assert!(p
            .answer(&["file:/f".into(), "sysctl:a".into()], "A")
            .is_some());
        p.end_task();
        assert!(p.has("A") && p.has("B"), "a query alone changes nothing");
        p.start_task(true);
        p.read(&["file:/f".into(), "sysctl:a".into()]);
        p.mutated();
        p.end_task();
        assert!(!p.has("A") && !p.has("B") && p.has("C"));
        p.start_task(true);
        p.read(&[]);
        p.mutated();
        p.end_task();
        assert!(!p.has("C"), "a change of unknown reach drops everything");
        p.store(&q(&["x"], "D"), Output::default());
        p.start_task(true);
        p.mutated();
        p.end_task();
        assert!(!p.has("D"), "a change without any query drops everything");
    }

    #[test]
    fn a_change_of_unknown_reach_asks_again_what_tasks_ahead_have_not_read() {
        let mut p = Probes::new();
        p.store(&q(&[], "A"), Output::default());
        p.store(&q(&["file:/f"], "B"), Output::default());
        // An earlier item of a loop: the next item would only ask again.
        p.start_task(false);
        assert!(p.answer(&[], "A").is_some());
        p.mutated();
        assert!(p.stale().is_empty());
        // The last item: what no task has read yet travels with the change.
        p.start_task(true);
        p.read(&[]);
        p.mutated();
        let st: Vec<String> = p.stale().into_iter().map(|q| q.line).collect();
        assert_eq!(st, ["B"], "A was read already");
        p.refresh(&q(&["file:/f"], "B"), Output::default());
        p.end_task();
        assert!(!p.has("A") && p.has("B"));
        // Still unread: the next change of unknown reach asks it again.
        p.start_task(true);
        p.read(&[]);
        p.mutated();
        assert_eq!(p.stale().len(), 1);
    }
}
