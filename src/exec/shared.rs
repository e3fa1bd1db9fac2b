//! What the plays of a run share, and where a play's events go.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::Semaphore;

use super::{Event, Options};
use crate::plan::Plan;
use crate::ssh::{Connector, Transport};

/// What every play of the run shares.
pub(super) struct Common {
    pub(super) plan: Arc<Plan>,
    pub(super) opts: Options,
    pub(super) connector: Connector,
    pub(super) open: Mutex<Vec<Arc<dyn Transport>>>,
    /// `--forks` across the whole run, plays that overlap included.
    pub(super) forks: Arc<Semaphore>,
    /// A play with `any_errors_fatal` failed: plays in flight stop at their next task.
    pub(super) abort: std::sync::atomic::AtomicBool,
    /// The report lines of overlapping plays still running, by play: handed over when the play
    /// ends, or when the run is interrupted (so the recap counts what they did).
    pub(super) held: Mutex<BTreeMap<usize, Held>>,
}

/// Report lines held back by a play that overlaps others.
pub(super) type Held = Arc<Mutex<Vec<Event>>>;

impl Common {
    /// Hand over what play `i` held back (all plays when `None`), in play order.
    pub(super) fn release(&self, i: Option<usize>, out: &mpsc::Sender<Event>) {
        let taken: Vec<Held> = match self.held.lock() {
            Ok(mut g) => match i {
                Some(i) => g.remove(&i).into_iter().collect(),
                None => std::mem::take(&mut *g).into_values().collect(),
            },
            Err(_) => Vec::new(),
        };
        for buf in taken {
            let events = buf.lock().map(|mut b| std::mem::take(&mut *b));
            for ev in events.unwrap_or_default() {
                let _ = out.send(ev);
            }
        }
    }
}

/// What one play works with: the common parts and where its events go.
pub(super) struct Shared {
    pub(super) common: Arc<Common>,
    pub(super) tx: Sink,
}

impl std::ops::Deref for Shared {
    type Target = Common;
    fn deref(&self) -> &Common {
        &self.common
    }
}

/// Where a play's events go. Plays that overlap hold back their report lines and hand them
/// over when they end, so each play still reads as one block; which task a host is on (the
/// progress bars) goes out at once.
#[derive(Clone)]
pub(super) enum Sink {
    Direct(mpsc::Sender<Event>),
    Held {
        live: mpsc::Sender<Event>,
        held: Held,
    },
}

impl Sink {
    pub(super) fn send(&self, ev: Event) -> Result<(), mpsc::SendError<Event>> {
        match self {
            Sink::Direct(tx) => tx.send(ev),
            Sink::Held { live, .. } if matches!(ev, Event::HostStart { .. }) => live.send(ev),
            Sink::Held { held, .. } => {
                if let Ok(mut b) = held.lock() {
                    b.push(ev);
                }
                Ok(())
            }
        }
    }
}
