//! `lvslab verify`: read-only checks that prove the LVS cluster works end to end.
//!
//! gather (one probe script per node per phase, client traffic) → evaluate (`checks`, pure) →
//! report (table, bar chart, JSON). `--failover` then runs the drills of [`drill`].

pub mod arp;
pub mod checks;
pub mod drill;
pub mod expiry;
pub mod http;
pub mod icmp;
pub mod parse;
pub mod probe;
pub mod render;
pub mod run;
pub mod schedulers;
pub mod spec;
pub mod states;
pub mod target;
