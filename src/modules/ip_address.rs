//! `ip_address`: an address with prefix on a device, with an optional label (`ens33:8`,
//! `lo:3`), present or absent, via iproute2. Addresses it adds are recorded for `restore`.

use serde_json::{Map, Value as Json};

use super::undo::Undo;
use super::{
    choice, opt, req, Answers, Arg, Args, Ask, Cx, Module, ModuleError, Outcome, Ty, View,
};
use crate::quote::argv;
use crate::ssh::BoxFuture;

#[derive(Debug)]
pub(crate) struct IpAddress;

static ARGS: &[Arg] = &[
    req("address", Ty::Str),
    req("dev", Ty::Str),
    opt("label", Ty::Str),
    choice("state", &["present", "absent"]),
];

/// Does `ip -o addr show dev DEV` list this address (and label, when given)?
pub(crate) fn listed(out: &str, address: &str, label: Option<&str>) -> (bool, bool) {
    for l in out.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let Some(i) = w.iter().position(|x| *x == "inet" || *x == "inet6") {
            if w.get(i + 1) == Some(&address) {
                let label_ok = match label {
                    None => true,
                    Some(lb) => w.iter().skip(i + 2).any(|x| x.trim_end_matches('\\') == lb),
                };
                return (true, label_ok);
            }
        }
    }
    (false, false)
}

/// What the task asks for, checked.
struct Want {
    address: String,
    dev: String,
    label: Option<String>,
    present: bool,
}

impl Want {
    fn from_args(args: &Map<String, Json>) -> Result<Want, ModuleError> {
        let a = Args(args);
        let address = a.req("address")?;
        if !address.contains('/') {
            return Err(ModuleError::msg(format!(
                "address `{address}` needs a prefix length, e.g. {address}/32"
            )));
        }
        let dev = a.req("dev")?;
        super::operand::name("address", &address)?;
        super::operand::name("device", &dev)?;
        let label = a.str("label");
        if let Some(l) = &label {
            super::operand::name("label", l)?;
        }
        Ok(Want {
            address,
            dev,
            label,
            present: a.str("state").as_deref() != Some("absent"),
        })
    }

    /// The device's addresses.
    fn ask(&self) -> Ask {
        Ask::new(
            &[format!("address:{}", self.dev)],
            argv(&["ip", "-o", "addr", "show", "dev", &self.dev]),
        )
    }
}

impl Module for IpAddress {
    fn name(&self) -> &'static str {
        "ip_address"
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
            let Want {
                address,
                dev,
                label,
                present,
            } = Want::from_args(args)?;
            let o = answers
                .next()?
                .ok(&format!("cannot list addresses of {dev}"))?;
            let (has, label_ok) = listed(&o.stdout_str(), &address, label.as_deref());
            let mut out = Outcome::default();
            let mut s = String::from("set -e\n");
            let mut add = vec!["ip", "addr", "add", address.as_str(), "dev", dev.as_str()];
            if let Some(l) = &label {
                add.extend(["label", l.as_str()]);
            }
            let del = argv(&["ip", "addr", "del", &address, "dev", &dev]);
            if present && (!has || !label_ok) {
                out.changed = true;
                out.msg = Some(format!("add {address} to {dev}"));
                if !cx.check {
                    s.push_str(&cx.state.record(Undo::Address {
                        address: address.clone(),
                        dev: dev.clone(),
                        label: label.clone(),
                        existed: has,
                    }));
                    if has {
                        s.push_str(&format!("{del}\n"));
                    }
                    s.push_str(&argv(&add));
                }
            } else if !present && has {
                out.changed = true;
                out.msg = Some(format!("remove {address} from {dev}"));
                if !cx.check {
                    s.push_str(&cx.state.record(Undo::Address {
                        address: address.clone(),
                        dev: dev.clone(),
                        label: label.clone(),
                        existed: true,
                    }));
                    s.push_str(&del);
                }
            }
            if out.changed && !cx.check {
                cx.exec_ok(&format!("cannot change address on {dev}"), &s, None)
                    .await?;
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_address_and_label() {
        let out = "2: ens33    inet 192.168.163.11/24 brd 192.168.163.255 scope global ens33\\       valid_lft forever\n\
                   2: ens33    inet 192.168.163.50/24 scope global secondary ens33:8\\       valid_lft forever\n";
        assert_eq!(
            listed(out, "192.168.163.50/24", Some("ens33:8")),
            (true, true)
        );
        assert_eq!(
            listed(out, "192.168.163.50/24", Some("ens33:9")),
            (true, false)
        );
        assert_eq!(listed(out, "192.168.163.51/24", None), (false, false));
    }
}
