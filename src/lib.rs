//! lvslab: an Ansible-like engine plus the LVS/keepalived content and an embedded microVM lab.
//!
//! Data flows one way: load (inventory, playbooks, templates, with source locations) → plan
//! (hosts resolved, variables merged, everything validated; no host contacted yet) → execute
//! (ssh, parallel, events) → report (progress, recap, JSON).

pub(crate) mod assets;
pub mod cli;
pub mod cluster;
pub mod commands;
mod error;
pub(crate) mod exec;
pub mod exit;
pub(crate) mod facts;
#[doc(hidden)]
pub mod fuzz;
pub mod inventory;
pub mod lab;
pub mod lock;
pub(crate) mod modules;
pub(crate) mod names;
pub mod plan;
pub(crate) mod playbook;
pub(crate) mod quote;
pub(crate) mod report;
pub(crate) mod secret;
pub(crate) mod ssh;
pub(crate) mod template;
pub mod trace;
pub mod verify;
pub(crate) mod yaml;

pub use commands::run;
pub use error::{Error, Failure};
pub use ssh::answer_if_asked;
