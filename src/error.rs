//! The top-level error: each layer's typed error, and the exit status it maps to. `main` only
//! formats it.

use crate::{exit, inventory, lab, lock, plan, secret, trace, verify};

/// The top-level error: each layer's typed error, and the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no inventory: none given with -i, LVSLAB_INVENTORY is not set, and {} does not exist \
         (`lvslab init DIR` writes an example to start from)",
        .0.display()
    )]
    NoInventory(std::path::PathBuf),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Write(String),
    #[error(transparent)]
    Lab(#[from] lab::LabError),
    #[error(transparent)]
    Inventory(#[from] inventory::InventoryError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Verify(#[from] verify::run::VerifyError),
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the reporter stopped before the run ended: what the run did is unknown")]
    Reporter,
}

impl Error {
    /// The message to print: every known secret value redacted.
    pub fn message(&self) -> String {
        secret::redact(&self.to_string())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Lab(e) => e.exit_code(),
            Error::Verify(e) => e.exit_code(),
            Error::Trace(e) => e.exit_code(),
            Error::NoInventory(_) | Error::Usage(_) | Error::Inventory(_) | Error::Plan(_) => {
                exit::INVALID_INPUT
            }
            // A run refused because another holds the inventory is not bad input: it is this
            // run failing (nothing was run on any host).
            Error::Runtime(_) | Error::Write(_) | Error::Reporter | Error::Lock(_) => exit::FAILED,
        }
    }
}
