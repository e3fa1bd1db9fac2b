//! What verify, the failover drills and trace work against, and how they reach it: the
//! inventory planned and resolved into the expected cluster ([`target`]), each node's
//! connection ([`connect_all`]) and the read-only probes run on them ([`probe_all`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value as Json};

use super::checks::Probe;
use super::spec::{self, Spec};
use crate::plan::{self, Conn};
use crate::ssh::{Connector, Local, Transport};

/// Why verify could not even start (bad input: exit 2, nothing contacted).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error("{0}")]
    Spec(#[from] spec::SpecError),
    #[error(
        "{path}: the inventory has no `{group}` group (verify needs `directors` and `realservers`)"
    )]
    NoGroup { path: String, group: &'static str },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    /// The drill cannot be run as asked (usage): exit 2, nothing touched.
    #[error("{0}")]
    Drill(String),
}

impl VerifyError {
    pub fn exit_code(&self) -> u8 {
        match self {
            VerifyError::Runtime(_) | VerifyError::Lab(_) => crate::exit::FAILED,
            _ => crate::exit::INVALID_INPUT,
        }
    }
}

/// What the command line names to work against: the inventory, `-e`, and the passwords `-k` /
/// `-K` asked (for the hosts whose variables name none).
pub struct Aim<'a> {
    pub inventory: &'a Path,
    pub extra_vars: &'a [String],
    pub(crate) asked: &'a crate::secret::prompt::Asked,
}

/// What verify (and the failover drill) work against: the expected cluster, how to reach each
/// node, and where the client side runs.
pub(crate) struct Target {
    /// Everything the plan knows to be secret, for the output made from this target.
    pub(crate) secrets: crate::secret::Redactor,
    pub(crate) spec: Spec,
    /// How each node is reached, and whom its privileged probes run as.
    pub(crate) conns: BTreeMap<String, Reach>,
    pub(crate) directors: Vec<String>,
    pub(crate) reals: Vec<String>,
    /// Every host's merged variables (inventory, then `-e`).
    pub(crate) vars: BTreeMap<String, Map<String, Json>>,
    /// The lab's network namespace when the inventory's lab is up.
    pub(crate) lab_ns: Option<String>,
    /// The lab's shape (nodes, their ports on the lab's switch) when it is up.
    pub(crate) lab: Option<crate::lab::topology::Topology>,
}

/// Plan the inventory (bad input: exit 2, nothing contacted) and resolve the expected cluster.
pub(crate) fn target(aim: &Aim) -> Result<Target, VerifyError> {
    let inventory = aim.inventory;
    let inv = crate::inventory::Inventory::load(inventory).map_err(plan::PlanError::from)?;
    let route = crate::lab::route(&inv);
    let mut plan = plan::build(&plan::Request {
        inventory: &inv,
        route: route.as_ref(),
        playbook: None,
        limit: None,
        extra_vars: aim.extra_vars,
        check: true,
        lvs: true,
        tags: Default::default(),
    })?;
    plan.default_passwords(aim.asked);
    plan::print_warnings(&plan);
    let group = |g: &'static str| -> Result<Vec<String>, VerifyError> {
        let any = plan.hosts.values().next();
        let names = any
            .and_then(|h| h.vars.get("groups"))
            .and_then(|gs| gs.get(g))
            .and_then(Json::as_array)
            .ok_or(VerifyError::NoGroup {
                path: inventory.display().to_string(),
                group: g,
            })?;
        Ok(names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect())
    };
    let directors = group("directors")?;
    let reals = group("realservers")?;
    let vars: BTreeMap<String, Map<String, Json>> = plan
        .hosts
        .iter()
        .map(|(n, h)| {
            let mut v = h.vars.clone();
            v.extend(plan.extra.clone());
            (n.clone(), v)
        })
        .collect();
    fn of<'a>(
        vars: &'a BTreeMap<String, Map<String, Json>>,
        names: &'a [String],
        inventory: &Path,
    ) -> Result<Vec<spec::HostVars<'a>>, VerifyError> {
        names
            .iter()
            .map(|n| {
                vars.get(n)
                    .map(|v| (n.as_str(), v))
                    .ok_or(VerifyError::NoGroup {
                        path: inventory.display().to_string(),
                        group: "directors",
                    })
            })
            .collect()
    }
    let spec = spec::from_vars(
        &of(&vars, &directors, inventory)?,
        &of(&vars, &reals, inventory)?,
    )?;
    let conns: BTreeMap<String, Reach> = plan
        .hosts
        .iter()
        .map(|(n, h)| {
            // IPVS and the journal need root: the directors' probes become it unless the
            // inventory says `ansible_become: false` (a root login runs them as they are). The
            // real servers' probes need no privilege and run as the login user.
            let off = vars
                .get(n)
                .and_then(|v| v.get("ansible_become"))
                .and_then(plan::login::truthy)
                == Some(false);
            let reach = Reach {
                conn: h.conn.clone(),
                escalation: (!off).then(|| h.escalation.clone()),
            };
            (n.clone(), reach)
        })
        .collect();
    let lab = route
        .as_ref()
        .and_then(|_| crate::lab::topology::from_inventory(&inv).ok());
    let lab_ns = route.map(|r| r.netns);
    Ok(Target {
        secrets: plan.secrets,
        spec,
        conns,
        directors,
        reals,
        vars,
        lab_ns,
        lab,
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, VerifyError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(VerifyError::Runtime)
}

pub(crate) type Hosts = BTreeMap<String, Result<Box<dyn Transport>, String>>;

/// How verify reaches one node.
#[derive(Debug, Clone)]
pub(crate) struct Reach {
    pub(crate) conn: Conn,
    /// Run every probe through `become` as this.
    pub(crate) escalation: Option<crate::ssh::Become>,
}

pub(crate) async fn connect_all(conns: BTreeMap<String, Reach>, connector: &Connector) -> Hosts {
    let futs = conns.into_iter().map(|(name, reach)| async move {
        let t: Result<Box<dyn Transport>, String> = match &reach.conn {
            Conn::Local => Ok(Box::new(Local)),
            Conn::Ssh(p) => connector
                .connect(&name, p)
                .await
                .map_err(|e| format!("unreachable: {e}")),
        };
        let t = match (t, reach.escalation) {
            (Ok(t), Some(how)) => {
                let inner: std::sync::Arc<dyn Transport> = std::sync::Arc::from(t);
                let login = reach.conn.login();
                Ok(Box::new(crate::ssh::Escalated::new(inner, how, &login)) as Box<dyn Transport>)
            }
            (t, _) => t,
        };
        (name, t)
    });
    futures::future::join_all(futs).await.into_iter().collect()
}

/// Run each script on its node as the node's privileged user, all nodes at once.
pub(crate) async fn probe_all(
    hosts: &Hosts,
    scripts: Vec<(String, String)>,
) -> BTreeMap<String, Probe> {
    probe_each(hosts, scripts, Privilege::Node).await
}

/// Whom a probe runs as: the node's privileged user (`become`), or the login user for a probe
/// that needs no privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Privilege {
    Node,
    Login,
}

async fn run_as(
    t: &dyn crate::ssh::Transport,
    script: &str,
    who: Privilege,
) -> Result<crate::ssh::Output, crate::ssh::TransportError> {
    match who {
        Privilege::Node => t.exec(script, None).await,
        Privilege::Login => t.exec_as_login(script, None).await,
    }
}

/// [`probe_all`], each script run as `who`.
pub(crate) async fn probe_each(
    hosts: &Hosts,
    scripts: Vec<(String, String)>,
    who: Privilege,
) -> BTreeMap<String, Probe> {
    let futs = scripts.into_iter().map(|(name, script)| async move {
        let p: Probe = match hosts.get(&name) {
            Some(Ok(t)) => match run_as(t.as_ref(), &script, who).await {
                Ok(o) => Ok(crate::facts::sections(&o.stdout_str())),
                Err(e) => Err(e.to_string()),
            },
            Some(Err(e)) => Err(e.clone()),
            None => Err("not in the inventory".into()),
        };
        (name, p)
    });
    futures::future::join_all(futs).await.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::prompt::Asked;
    use crate::secret::Secret;

    /// `-k` and `-K` reach verify's and the drills' connections as they reach the engine's: every
    /// node logs in with the asked password and becomes root with the other, and both are among
    /// the secrets its output is cleaned of. The directors' probes escalate; a host that says
    /// `ansible_become: false` keeps its login.
    #[test]
    fn passwords_asked_at_the_terminal_reach_every_node_and_stay_secret() {
        let dir = tempfile::tempdir().unwrap();
        let seed =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/inventory/lab.yml"))
                .unwrap();
        let text = seed
            .replace(
                "    ansible_user: root\n",
                "    ansible_user: ops\n    ansible_become: true\n",
            )
            .replace(
                "          ansible_host: 192.168.163.13\n",
                "          ansible_host: 192.168.163.13\n          ansible_become: false\n",
            );
        assert_ne!(text, seed);
        let path = dir.path().join("asked.yml");
        std::fs::write(&path, text).unwrap();
        let asked = Asked {
            login: Some(Secret::new("typed-login-pw".into())),
            escalation: Some(Secret::new("typed-become-pw".into())),
        };
        let t = target(&Aim {
            inventory: &path,
            extra_vars: &[],
            asked: &asked,
        })
        .unwrap();
        assert_eq!(t.conns.len(), 4);
        for (name, reach) in &t.conns {
            let Conn::Ssh(p) = &reach.conn else {
                panic!("{name}: not over ssh")
            };
            assert_eq!(p.user.as_deref(), Some("ops"), "{name}");
            let login = p.password.as_ref().map(Secret::expose);
            assert_eq!(login, Some("typed-login-pw"), "{name}");
            let become_pw = reach
                .escalation
                .as_ref()
                .and_then(|b| b.password.as_ref())
                .map(Secret::expose);
            let expected = (name != "node03").then_some("typed-become-pw");
            assert_eq!(become_pw, expected, "{name}");
        }
        let out = t
            .secrets
            .redact("login typed-login-pw, sudo typed-become-pw");
        assert!(!out.contains("typed-"), "{out}");
    }
}
