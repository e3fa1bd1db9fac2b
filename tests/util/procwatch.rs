//! Watches every process's command line and environment for a secret while a run goes on:
//! a password must never be visible there (a variable the test itself hands the secret in,
//! which lvslab's own processes on this side inherit, is excepted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Vec<String>, u64)>>,
}

impl Watch {
    /// Start watching for `secret`; `source`: the environment variable the test passes it in.
    pub fn start(secret: &str, source: &str) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let needle = secret.as_bytes().to_vec();
        let given = format!("{source}=").into_bytes();
        let thread = std::thread::spawn(move || {
            let holds = |d: &[u8]| d.windows(needle.len()).any(|w| w == needle);
            let (mut seen, mut scans) = (Vec::new(), 0);
            while !s.load(Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                    let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
                    let leak = env
                        .split(|b| *b == 0)
                        .any(|v| holds(v) && !v.starts_with(&given));
                    if holds(&cmd) || leak {
                        seen.push(String::from_utf8_lossy(&cmd).replace('\0', " "));
                    }
                }
                scans += 1;
            }
            (seen, scans)
        });
        Watch {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop, and fail the test if the secret was seen (or the process list never read).
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let (seen, scans) = self.thread.take().expect("watcher").join().expect("join");
        assert!(scans > 0, "the process list was never read");
        assert!(seen.is_empty(), "the secret was visible in /proc: {seen:?}");
    }
}
