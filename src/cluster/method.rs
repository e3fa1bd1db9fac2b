//! How the director forwards to a real server: one vocabulary for the inventory, keepalived
//! and ipvsadm.

/// The forwarding method of a real server: the playbooks' `lvs_method` words, keepalived's
/// `lb_kind`, and ipvsadm's flags as `-S` prints them, one vocabulary for the `ipvs` module and
/// for verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `-g`: direct routing.
    Dr,
    /// `-m`: masquerading (NAT).
    Nat,
    /// `-i`: IP-in-IP tunnelling.
    Tun,
}

impl Method {
    pub fn parse(word: &str) -> Option<Method> {
        match word.to_ascii_lowercase().as_str() {
            "dr" | "g" | "-g" | "gatewaying" | "route" => Some(Method::Dr),
            "nat" | "m" | "-m" | "masq" | "masquerading" => Some(Method::Nat),
            "tun" | "i" | "-i" | "ipip" | "tunnel" => Some(Method::Tun),
            _ => None,
        }
    }

    pub fn ipvsadm_flag(self) -> &'static str {
        match self {
            Method::Dr => "-g",
            Method::Nat => "-m",
            Method::Tun => "-i",
        }
    }
}
