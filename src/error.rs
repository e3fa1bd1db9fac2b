//! The top-level error: each layer's typed error, and the exit status it maps to. `main` only
//! formats it, as a [`Failure`] that carries what the command knew to be secret.

use crate::secret::Redactor;
use crate::{exit, inventory, lab, lock, plan, trace, verify};

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
    Verify(#[from] verify::target::VerifyError),
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the reporter stopped before the run ended: what the run did is unknown")]
    Reporter,
}

/// A command that failed: its error, and the secrets it is shown without.
#[derive(Debug)]
pub struct Failure {
    error: Box<Error>,
    secrets: Redactor,
}

impl Failure {
    pub(crate) fn new(error: Error, secrets: Redactor) -> Failure {
        Failure {
            error: Box::new(error),
            secrets,
        }
    }

    /// The message to print, every secret the command knew masked.
    pub fn message(&self) -> String {
        self.secrets.redact(&self.error.to_string())
    }

    pub fn exit_code(&self) -> u8 {
        self.error.exit_code()
    }
}

impl Error {
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
