//! Exit statuses, as documented in the README. Named so the contract is greppable.

/// Everything ran and everything succeeded.
pub const SUCCESS: u8 = 0;
/// The job ran and something failed: a task, an unreachable host, a verification check.
pub const FAILED: u8 = 1;
/// Invalid input or usage; nothing was run on any host.
pub const INVALID_INPUT: u8 = 2;
