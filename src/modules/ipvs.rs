//! `ipvs`: one IPVS virtual service and its real servers, reconciled against `ipvsadm -S -n`
//! (scheduler, persistence, forwarding method DR/NAT/TUN, weights): only the differences are
//! applied, in one command. The service's original rules are recorded for `restore`.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::undo::Undo;
use super::{
    choice, opt, req, Answers, Arg, Args, Ask, Cx, Module, ModuleError, Outcome, Ty, View,
};
use crate::quote::argv;
use crate::ssh::BoxFuture;

#[derive(Debug)]
pub(crate) struct Ipvs;

static ARGS: &[Arg] = &[
    choice("protocol", &["tcp", "udp"]),
    req("address", Ty::Str),
    req("port", Ty::Int),
    opt("scheduler", Ty::Str),
    opt("persistence_timeout", Ty::Int),
    opt("real_servers", Ty::List),
    choice("state", &["present", "absent"]),
    opt("rules_file", Ty::Str),
];

const FILE_MARK: &str = "@@lvslab-rules-file";

/// One service as `ipvsadm -S -n` shows it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Current {
    pub(crate) exists: bool,
    pub(crate) scheduler: String,
    pub(crate) persistence: i64,
    /// real server `ip:port` → (method flag, weight)
    pub(crate) reals: BTreeMap<String, (String, i64)>,
    /// The raw lines, for the record.
    pub(crate) lines: Vec<String>,
}

fn after<'a>(w: &[&'a str], flag: &str) -> Option<&'a str> {
    w.iter()
        .position(|x| *x == flag)
        .and_then(|i| w.get(i + 1))
        .copied()
}

pub(crate) fn parse_saved(out: &str, flag: &str, svc: &str) -> Current {
    let mut c = Current::default();
    for l in out.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if after(&w, flag) != Some(svc) {
            continue;
        }
        match w.first() {
            Some(&"-A") => {
                c.exists = true;
                c.scheduler = after(&w, "-s").unwrap_or("wlc").to_string();
                c.persistence = after(&w, "-p").and_then(|p| p.parse().ok()).unwrap_or(0);
                c.lines.push(l.trim().to_string());
            }
            Some(&"-a") => {
                let method = ["-g", "-m", "-i"]
                    .iter()
                    .find(|m| w.contains(m))
                    .unwrap_or(&"-g")
                    .to_string();
                let weight = after(&w, "-w").and_then(|x| x.parse().ok()).unwrap_or(1);
                if let Some(r) = after(&w, "-r") {
                    c.reals.insert(r.to_string(), (method, weight));
                }
                c.lines.push(l.trim().to_string());
            }
            _ => {}
        }
    }
    c
}

fn method_flag(m: &str) -> Result<&'static str, ModuleError> {
    crate::cluster::Method::parse(m)
        .map(crate::cluster::Method::ipvsadm_flag)
        .ok_or_else(|| {
            ModuleError::msg(format!(
                "unknown forwarding method `{m}` (expected dr, nat or tun)"
            ))
        })
}

/// What the task asks for, checked.
#[derive(Debug, PartialEq)]
struct Want {
    /// `-t` or `-u`.
    flag: &'static str,
    /// `ADDRESS:PORT`.
    svc: String,
    sched: String,
    persist: i64,
    present: bool,
    /// real server `ip:port` → (method flag, weight)
    reals: BTreeMap<String, (String, i64)>,
    rules_file: Option<String>,
}

impl Want {
    fn from_args(args: &Map<String, Json>) -> Result<Want, ModuleError> {
        let a = Args(args);
        let flag = if a.str("protocol").as_deref() == Some("udp") {
            "-u"
        } else {
            "-t"
        };
        let port = a.int("port")?.unwrap_or(0);
        let svc = format!(
            "{}:{port}",
            super::operand::name("address", &a.req("address")?)?
        );
        let sched = a.str("scheduler").unwrap_or_else(|| "rr".into());
        super::operand::name("scheduler", &sched)?;
        let mut reals: BTreeMap<String, (String, i64)> = BTreeMap::new();
        for rs in args
            .get("real_servers")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let r = rs.as_object().ok_or_else(|| {
                ModuleError::msg("each real server must be a mapping with `address`")
            })?;
            let ra = Args(r);
            let addr = ra.req("address")?;
            super::operand::name("real server address", &addr)?;
            let rport = ra.int("port")?.unwrap_or(port);
            let m = method_flag(&ra.str("method").unwrap_or_else(|| "dr".into()))?;
            if m != "-m" && rport != port {
                return Err(ModuleError::msg(format!(
                    "real server {addr}: in DR and TUN the real server port must equal the service port ({port})"
                )));
            }
            let w = ra.int("weight")?.unwrap_or(1);
            reals.insert(format!("{addr}:{rport}"), (m.to_string(), w));
        }
        let rules_file = a.str("rules_file");
        if let Some(f) = &rules_file {
            super::operand::abs_path("rules_file", f)?;
        }
        Ok(Want {
            flag,
            svc,
            sched,
            persist: a.int("persistence_timeout")?.unwrap_or(0),
            present: a.str("state").as_deref() != Some("absent"),
            reals,
            rules_file,
        })
    }

    /// The read-only command that shows the node's side: the saved table, then the rules file.
    fn ask(&self) -> Ask {
        let mut keys = vec!["ipvs".to_string()];
        keys.extend(self.rules_file.iter().map(|f| format!("file:{f}")));
        let mut check = String::from("ipvsadm -S -n");
        if let Some(f) = &self.rules_file {
            let q = crate::quote::quote(f);
            check.push_str(&format!(
                " && echo {FILE_MARK} && if [ -f {q} ]; then echo present; cat {q}; else echo absent; fi"
            ));
        }
        Ask::new(&keys, check)
    }

    /// The ipvsadm commands (without `ipvsadm`) that take `cur` to what is wanted.
    fn changes(&self, cur: &Current) -> Vec<Vec<String>> {
        let s = |x: &str| x.to_string();
        let (flag, svc) = (self.flag, &self.svc);
        let mut cmds: Vec<Vec<String>> = Vec::new();
        if !self.present {
            if cur.exists {
                cmds.push(vec![s("-D"), s(flag), svc.clone()]);
            }
            return cmds;
        }
        let mut svc_opts = vec![s(flag), svc.clone(), s("-s"), self.sched.clone()];
        if self.persist > 0 {
            svc_opts.extend([s("-p"), self.persist.to_string()]);
        }
        if !cur.exists {
            cmds.push([vec![s("-A")], svc_opts].concat());
        } else if cur.scheduler != self.sched || cur.persistence != self.persist {
            cmds.push([vec![s("-E")], svc_opts].concat());
        }
        for r in cur.reals.keys().filter(|r| !self.reals.contains_key(*r)) {
            cmds.push(vec![s("-d"), s(flag), svc.clone(), s("-r"), r.clone()]);
        }
        for (r, (m, w)) in &self.reals {
            let op = match cur.reals.get(r) {
                None => "-a",
                Some((cm, cw)) if cm != m || cw != w => "-e",
                Some(_) => continue,
            };
            cmds.push(vec![
                s(op),
                s(flag),
                svc.clone(),
                s("-r"),
                r.clone(),
                m.clone(),
                s("-w"),
                w.to_string(),
            ]);
        }
        cmds
    }
}

/// The node's answer to [`Want::ask`]: the service as saved, and the rules file's state
/// (`None` when the task names no file; else whether it existed and is stale).
fn answer(text: &str, want: &Want) -> (Current, Option<(bool, bool)>) {
    let (saved, file) = match text.split_once(&format!("{FILE_MARK}\n")) {
        Some((s, f)) => (s, Some(f)),
        None => (text, None),
    };
    // The rules file (persistence across reboots) must hold the whole saved table.
    let file = file.map(|f| match f.split_once('\n') {
        Some(("present", content)) => (true, content != saved),
        _ => (false, true),
    });
    (parse_saved(saved, want.flag, &want.svc), file)
}

/// The script that records the originals, applies `cmds` and saves the table to the rules file.
fn apply_script(
    cx: &mut Cx<'_>,
    want: &Want,
    cur: &Current,
    cmds: &[Vec<String>],
    file_existed: bool,
) -> String {
    let mut script = String::from("set -e\n");
    if !cmds.is_empty() {
        script.push_str(&cx.state.record(Undo::Ipvs {
            flag: want.flag.to_string(),
            service: want.svc.clone(),
            original: cur.lines.clone(),
        }));
    }
    if let Some(f) = &want.rules_file {
        script.push_str(&cx.state.record_file(f, file_existed));
    }
    for c in cmds {
        script.push_str(&ipvsadm(c));
        script.push('\n');
    }
    if let Some(f) = &want.rules_file {
        let q = crate::quote::quote(f);
        script.push_str(&format!(
            "mkdir -p \"$(dirname {q})\"\nipvsadm -S -n > {q}.lvslab-tmp\nmv -f {q}.lvslab-tmp {q}\n"
        ));
    }
    script
}

fn ipvsadm(c: &[String]) -> String {
    argv(&[vec!["ipvsadm".to_string()], c.to_vec()].concat())
}

impl Module for Ipvs {
    fn name(&self) -> &'static str {
        "ipvs"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn queries(&self, args: &Map<String, Json>, _view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        Ok(vec![Want::from_args(args)?.ask()])
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        mut answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let want = Want::from_args(args)?;
            let o = answers
                .next()?
                .ok("cannot read IPVS table (is ipvsadm installed?)")?;
            let (cur, file) = answer(&o.stdout_str(), &want);
            let cmds = want.changes(&cur);
            let (file_existed, file_stale) = file.unwrap_or((false, false));
            let mut out = Outcome::default();
            if cmds.is_empty() && !file_stale {
                return Ok(out);
            }
            out.changed = true;
            let mut lines: Vec<String> = cmds.iter().map(|c| ipvsadm(c)).collect();
            if let Some(f) = &want.rules_file {
                lines.push(format!("save rules to {f}"));
            }
            out.msg = Some(lines.join("; "));
            if cx.check {
                return Ok(out);
            }
            let script = apply_script(cx, &want, &cur, &cmds, file_existed);
            cx.exec_ok("cannot change IPVS table", &script, None)
                .await?;
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_saved_rules() {
        let out = "-A -t 10.0.0.50:80 -s rr -p 50\n-a -t 10.0.0.50:80 -r 10.0.0.12:80 -g -w 1\n-a -t 10.0.0.50:80 -r 10.0.0.13:80 -m -w 2\n-A -t 10.0.0.51:80 -s wlc\n";
        let c = parse_saved(out, "-t", "10.0.0.50:80");
        assert!(c.exists);
        assert_eq!(c.scheduler, "rr");
        assert_eq!(c.persistence, 50);
        assert_eq!(c.reals["10.0.0.13:80"], ("-m".to_string(), 2));
        assert_eq!(c.lines.len(), 3);
        assert!(!parse_saved(out, "-u", "10.0.0.50:80").exists);
        let other = parse_saved(out, "-t", "10.0.0.51:80");
        assert_eq!((other.scheduler.as_str(), other.persistence), ("wlc", 0));
        let udp = "-A -u 10.0.0.50:53 -s wlc\n-A -f 7 -s rr\n";
        assert!(parse_saved(udp, "-u", "10.0.0.50:53").exists);
        assert!(!parse_saved(udp, "-t", "10.0.0.50:53").exists);
    }

    #[test]
    fn changes_are_only_the_differences() {
        let args = json!({"address": "10.0.0.50", "port": 80, "scheduler": "wrr",
            "persistence_timeout": 50, "real_servers": [
                {"address": "10.0.0.12", "weight": 1},
                {"address": "10.0.0.13", "weight": 3, "method": "dr"},
                {"address": "10.0.0.14"}]});
        let want = Want::from_args(args.as_object().expect("object")).expect("want");
        let saved = "-A -t 10.0.0.50:80 -s rr -p 50\n-a -t 10.0.0.50:80 -r 10.0.0.12:80 -g -w 1\n-a -t 10.0.0.50:80 -r 10.0.0.13:80 -m -w 2\n-a -t 10.0.0.50:80 -r 10.0.0.99:80 -g -w 1\n";
        let (cur, file) = answer(saved, &want);
        assert_eq!(file, None);
        let cmds: Vec<String> = want.changes(&cur).iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            cmds,
            [
                "-E -t 10.0.0.50:80 -s wrr -p 50",
                "-d -t 10.0.0.50:80 -r 10.0.0.99:80",
                "-e -t 10.0.0.50:80 -r 10.0.0.13:80 -g -w 3",
                "-a -t 10.0.0.50:80 -r 10.0.0.14:80 -g -w 1",
            ]
        );
        // Converged: nothing to do.
        let done = "-A -t 10.0.0.50:80 -s wrr -p 50\n-a -t 10.0.0.50:80 -r 10.0.0.12:80 -g -w 1\n-a -t 10.0.0.50:80 -r 10.0.0.13:80 -g -w 3\n-a -t 10.0.0.50:80 -r 10.0.0.14:80 -g -w 1\n";
        assert!(want.changes(&answer(done, &want).0).is_empty());
    }

    #[test]
    fn a_rules_file_is_stale_unless_it_holds_the_whole_table() {
        let args = json!({"address": "10.0.0.50", "port": 80, "rules_file": "/etc/ipvsadm.rules"});
        let want = Want::from_args(args.as_object().expect("object")).expect("want");
        let table = "-A -t 10.0.0.50:80 -s rr\n";
        let same = format!("{table}{FILE_MARK}\npresent\n{table}");
        assert_eq!(answer(&same, &want).1, Some((true, false)));
        let absent = format!("{table}{FILE_MARK}\nabsent\n");
        assert_eq!(answer(&absent, &want).1, Some((false, true)));
    }
}
