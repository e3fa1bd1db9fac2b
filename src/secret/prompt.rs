//! `-k` / `-K`: passwords typed at the terminal, asked once before anything runs (echo off,
//! read from the controlling terminal, never from a pipe) and kept by the command for its run:
//! plans apply them to every host whose variables name no password of that kind.

use super::{Redactor, Secret};
use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;

/// The passwords asked on the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Asked {
    /// `-k`: the ssh login password.
    pub(crate) login: Option<Secret>,
    /// `-K`: the `become` password.
    pub(crate) escalation: Option<Secret>,
}

impl Asked {
    /// What is secret about them: their values.
    pub(crate) fn redactor(&self) -> Redactor {
        let mut r = Redactor::default();
        for pw in self.login.iter().chain(&self.escalation) {
            r.add_value(pw.expose());
        }
        r
    }
}

/// The terminal could not give a password.
#[derive(Debug, thiserror::Error)]
#[error("{flag} asks for a password at the terminal, but {reason}")]
pub(crate) struct PromptError {
    flag: &'static str,
    reason: String,
}

/// Ask the passwords `-k` (`login`) and `-K` (`become`) call for.
pub(crate) fn ask(login: bool, escalation: bool) -> Result<Asked, PromptError> {
    let mut got = Asked::default();
    if login {
        got.login = Some(read_hidden("-k", "SSH password: ")?);
    }
    if escalation {
        got.escalation = Some(read_hidden("-K", "BECOME password: ")?);
    }
    Ok(got)
}

fn read_hidden(flag: &'static str, prompt: &str) -> Result<Secret, PromptError> {
    let fail = |reason: String| PromptError { flag, reason };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| fail(format!("there is no terminal ({e})")))?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the lifetime of `tty`.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(fail("the terminal's settings cannot be read".into()));
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above; `quiet` is a copy of valid settings.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) };
    let mut w = &tty;
    let _ = w.write_all(prompt.as_bytes());
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &saved) };
    read.map_err(|e| fail(format!("reading it failed ({e})")))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        return Err(fail("none was given".into()));
    }
    Ok(Secret::new(pw))
}
