//! What each LVS variable means when the inventory leaves it out: one table, read by the cluster
//! model and by the plan, which gives `setup`'s playbook and templates the same values for a
//! host of the cluster, so no playbook or template carries a default of its own.

use serde_json::{json, Map, Value};

/// keepalived's own default priority. Not given to hosts that leave it out: a director's
/// priority is the operator's choice (a backup must have a lower one), only the drills' bounds
/// assume it.
pub(crate) const KEEPALIVED_PRIORITY: i64 = 100;

/// Every variable with a default. Those that follow another variable come last.
const NAMES: &[&str] = &[
    "lvs_port",
    "lvs_protocol",
    "lvs_scheduler",
    "lvs_method",
    "lvs_persistence_timeout",
    "lvs_vip_prefix",
    "lvs_lo_label",
    "lvs_weight",
    "keepalived_advert_int",
    "keepalived_delay_loop",
    "keepalived_connect_timeout",
    "keepalived_retry",
    "keepalived_delay_before_retry",
    "keepalived_auth_type",
    "keepalived_check_path",
    "keepalived_check_status",
    "lvs_rs_port",
    "lvs_vip_label",
];

/// `var`'s default for a host whose variables are `vars`; `None`: no default (the variable is
/// required, or what it follows is not set either).
pub(crate) fn default(var: &str, vars: &Map<String, Value>) -> Option<Value> {
    Some(match var {
        "lvs_port" => json!(80),
        "lvs_protocol" => json!("tcp"),
        "lvs_scheduler" => json!("rr"),
        "lvs_method" => json!("dr"),
        "lvs_persistence_timeout" => json!(0),
        "lvs_vip_prefix" => json!(24),
        "lvs_lo_label" => json!("lo"),
        "lvs_weight" => json!(1),
        // keepalived's own defaults.
        "keepalived_advert_int" => json!(1),
        "keepalived_delay_loop" => json!(60),
        "keepalived_connect_timeout" => json!(5),
        "keepalived_retry" => json!(1),
        "keepalived_delay_before_retry" => json!(1),
        "keepalived_auth_type" => json!("PASS"),
        // The health check asks what a client would.
        "keepalived_check_path" => json!("/"),
        "keepalived_check_status" => json!(200),
        // A DR or TUN real server must listen on the service's port.
        "lvs_rs_port" => value("lvs_port", vars)?,
        "lvs_vip_label" => vars.get("lan_interface")?.clone(),
        _ => return None,
    })
}

/// `var` as the host has it, else its default.
pub(crate) fn value(var: &str, vars: &Map<String, Value>) -> Option<Value> {
    match vars.get(var) {
        Some(v) if !v.is_null() => Some(v.clone()),
        _ => default(var, vars),
    }
}

/// The defaults of every variable `vars` leaves out.
pub(crate) fn missing(vars: &Map<String, Value>) -> Map<String, Value> {
    NAMES
        .iter()
        .filter(|n| vars.get(**n).is_none_or(Value::is_null))
        .filter_map(|n| default(n, vars).map(|v| (n.to_string(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn derived_defaults_follow_what_the_host_sets() {
        let m = missing(&map(json!({"lvs_port": 8080, "lan_interface": "eth7"})));
        assert_eq!(m["lvs_rs_port"], json!(8080));
        assert_eq!(m["lvs_vip_label"], json!("eth7"));
        assert_eq!(m["lvs_scheduler"], json!("rr"));
        assert!(
            !m.contains_key("lvs_port"),
            "set by the host: not a default"
        );
        let m = missing(&map(json!({})));
        assert_eq!(m["lvs_rs_port"], json!(80));
        assert!(
            !m.contains_key("lvs_vip_label"),
            "no interface, nothing to follow"
        );
    }

    #[test]
    fn every_name_has_a_default() {
        let vars = map(json!({"lan_interface": "ens33"}));
        for n in NAMES {
            assert!(default(n, &vars).is_some(), "{n}");
        }
    }
}
