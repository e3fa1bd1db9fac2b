//! Progress of lab operations on stderr: one spinner line per node on a terminal (indicatif),
//! plain `lab: node: message` lines otherwise. Only this module draws.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: Option<MultiProgress>,
}

/// The progress line of one node.
#[derive(Clone)]
pub struct NodeLine {
    name: String,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Progress {
        let multi = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    /// A message about the whole lab.
    pub fn say(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(format!("lab: {msg}"));
            }
            None => eprintln!("lab: {msg}"),
        }
    }

    pub fn node(&self, name: &str, width: usize) -> NodeLine {
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new_spinner());
            let style = ProgressStyle::with_template(&format!(
                "{{spinner}} {{prefix:{width}}} {{msg}} {{elapsed:.dim}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            b.set_style(style);
            b.set_prefix(name.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        NodeLine {
            name: name.to_string(),
            bar,
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl NodeLine {
    pub fn set(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None => eprintln!("lab: {}: {msg}", self.name),
        }
    }

    pub fn finish(&self, msg: &str) {
        match &self.bar {
            Some(b) => {
                b.set_style(
                    ProgressStyle::with_template("  {prefix} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.finish_with_message(msg.to_string());
            }
            None => eprintln!("lab: {}: {msg}", self.name),
        }
    }
}
