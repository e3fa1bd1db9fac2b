//! The steady request loop the drills watch the service through: one request to the VIP started
//! every 50 ms from the client, each on its own thread so a request hanging on a dark VIP does
//! not hold back the next ones (inside the lab's network namespace when the lab is up), short
//! timeouts, the client's source addresses in turn (with persistence, each source is pinned to
//! one real server, so turning through them keeps every real server in view), each answer
//! attributed to the real server whose page it was.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::verify::checks::page_names;
use crate::verify::http;
use crate::verify::spec::Spec;

/// Time between the starts of two requests.
pub const INTERVAL: Duration = Duration::from_millis(50);
/// Connect and read timeout of one request: a request to a dark VIP fails within this.
pub const TIMEOUT: Duration = Duration::from_millis(500);
/// Requests in flight at most (a dark VIP holds each for [`TIMEOUT`]).
const MAX_IN_FLIGHT: usize = 64;

/// One request of the loop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the drill's epoch when the request started.
    pub at: f64,
    pub source: Option<Ipv4Addr>,
    /// The real server whose page answered.
    pub server: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The running loop; `stop` ends it and returns every sample.
pub struct Loop {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Loop {
    pub fn start(spec: &Spec, ns: Option<String>, epoch: Instant) -> Loop {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, spec) = (samples.clone(), stop.clone(), spec.clone());
        let handle = std::thread::spawn(move || run(spec, ns, epoch, s, st));
        Loop {
            samples,
            stop,
            handle: Some(handle),
        }
    }

    /// The samples so far, in the order the requests started. Requests still in flight (started
    /// less than [`TIMEOUT`] ago) may be missing.
    pub fn snapshot(&self) -> Vec<Sample> {
        let mut v = self.samples.lock().map(|g| g.clone()).unwrap_or_default();
        v.sort_by(|a, b| a.at.total_cmp(&b.at));
        v
    }

    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.snapshot()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn run(
    spec: Spec,
    ns: Option<String>,
    epoch: Instant,
    out: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) {
    let push = |s: Sample| {
        if let Ok(mut g) = out.lock() {
            g.push(s);
        }
    };
    if let Some(ns) = &ns {
        if let Err(e) = crate::lab::netns::enter(ns) {
            push(Sample {
                at: 0.0,
                source: None,
                server: None,
                error: Some(format!("cannot enter the lab's network namespace: {e}")),
            });
            return;
        }
    }
    let sources: Vec<Option<Ipv4Addr>> = if ns.is_some() && !spec.client_addrs.is_empty() {
        spec.client_addrs.iter().copied().map(Some).collect()
    } else {
        vec![None]
    };
    let names: Vec<String> = spec.real_servers.iter().map(|r| r.name.clone()).collect();
    let target = spec.service();
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut next = Instant::now();
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let source = sources[i % sources.len()];
        i += 1;
        let at = epoch.elapsed().as_secs_f64();
        let (out, names, flight) = (out.clone(), names.clone(), in_flight.clone());
        // Threads made by this thread start in its network namespace (the lab's).
        if flight.fetch_add(1, Ordering::SeqCst) < MAX_IN_FLIGHT {
            std::thread::spawn(move || {
                let (server, error) = match http::get(source, target, "/", TIMEOUT) {
                    Ok(r) if r.status == 200 => match page_names(&r.body, &names) {
                        Some(n) => (Some(n.to_string()), None),
                        None => (None, Some("200 from no known real server".to_string())),
                    },
                    Ok(r) => (None, Some(format!("HTTP {}", r.status))),
                    Err(e) => (None, Some(e.to_string())),
                };
                if let Ok(mut g) = out.lock() {
                    g.push(Sample {
                        at,
                        source,
                        server,
                        error,
                    });
                }
                flight.fetch_sub(1, Ordering::SeqCst);
            });
        } else {
            flight.fetch_sub(1, Ordering::SeqCst);
        }
        next += INTERVAL;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}
