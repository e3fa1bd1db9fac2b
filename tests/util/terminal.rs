//! A run with a terminal of its own: a pseudo-terminal as the command's controlling terminal,
//! where a test answers the prompts it writes there as a user would type (`-k`, `-K`).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Run;

/// Run `cmd` (stdin empty, stdout and stderr captured) in a session of its own whose controlling
/// terminal is a new pseudo-terminal. Each time the terminal shows the next prompt of
/// `answers`, its answer and a newline are typed. Returns the run and everything the command
/// wrote to the terminal.
pub fn run(mut cmd: Command, answers: &[(&str, &str)]) -> (Run, String) {
    let (master, slave_path) = open_pty();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&slave_path)
        .expect("open the pty's terminal side");
    let slave_fd = slave.as_raw_fd();
    let master_fd = master.as_raw_fd();
    // SAFETY: only async-signal-safe calls (setsid, ioctl, close) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(master_fd);
            libc::close(slave_fd);
            Ok(())
        });
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    drop(slave);
    let answers: Vec<(String, String)> = answers
        .iter()
        .map(|(p, a)| (p.to_string(), a.to_string()))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let ended = done.clone();
    // The master stays open until the command has ended: closing it would hang the terminal
    // up under the command (SIGHUP).
    let typist = std::thread::spawn(move || type_answers(master, answers, &ended));
    let out = child.wait_with_output().expect("the command ends");
    done.store(true, Ordering::Relaxed);
    let screen = typist.join().expect("the typist thread");
    (Run::from(out), screen)
}

fn type_answers(master: OwnedFd, answers: Vec<(String, String)>, done: &AtomicBool) -> String {
    let mut tty = std::fs::File::from(master);
    let mut screen = Vec::new();
    let mut next = answers.into_iter();
    let mut waiting = next.next();
    let mut seen_up_to = 0;
    let mut buf = [0u8; 1024];
    loop {
        // Non-blocking: nothing to read (EAGAIN), or no process has the terminal open at the
        // moment (EIO), is a pause, until the command has ended.
        match tty.read(&mut buf) {
            Ok(n) if n > 0 => screen.extend_from_slice(&buf[..n]),
            _ if done.load(Ordering::Relaxed) => break,
            _ => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        }
        while let Some((prompt, answer)) = &waiting {
            let text = String::from_utf8_lossy(&screen[seen_up_to..]).into_owned();
            let Some(at) = text.find(prompt.as_str()) else {
                break;
            };
            seen_up_to += text[..at + prompt.len()].len();
            // Typed a moment after the prompt shows, as a person would: the echo is off by then.
            std::thread::sleep(Duration::from_millis(50));
            let _ = tty.write_all(format!("{answer}\n").as_bytes());
            waiting = next.next();
        }
    }
    String::from_utf8_lossy(&screen).into_owned()
}

/// A new pseudo-terminal: its master side and the path of its terminal side.
fn open_pty() -> (OwnedFd, String) {
    // SAFETY: plain libc calls on a descriptor this function owns; ptsname's buffer is copied
    // before any other call.
    unsafe {
        let fd =
            libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK);
        assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(fd);
        assert_eq!(libc::grantpt(fd), 0, "grantpt");
        assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
        let name = libc::ptsname(fd);
        assert!(!name.is_null(), "ptsname");
        let path = std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned();
        (master, path)
    }
}
