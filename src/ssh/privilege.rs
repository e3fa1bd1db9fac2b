//! Privilege escalation, Ansible's `become`: a transport that runs every command it is given
//! as another user (`sudo` or `su`), wrapping the whole remote command once, so a batch of
//! queries or a change with its fresh answers costs one escalation and no extra round trip.
//!
//! The password never reaches a command line, an environment or a file: it travels as the
//! first line of the command's stdin over the ssh channel. The node's shell reads that line
//! with its `read` builtin (which stops at the newline, leaving the rest of stdin for the
//! command) and hands it to `sudo -S` (or `su`) through a pipe holding that line alone: a wrong
//! password then fails at the first attempt (sudo finds no second line to try), in the time
//! the node's PAM takes to refuse it (about 2 s), instead of waiting for input. The command's
//! own stdin, when it has one, is reopened from the outer shell's (sudo closes every other
//! descriptor). A login that is root already runs the command directly when the target is
//! root (no sudo needed on such nodes).

use std::sync::Arc;

use super::{BoxFuture, Output, Transport, TransportError};
use crate::quote::quote;
use crate::secret::Secret;

/// How to become the target user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Sudo,
    Su,
}

impl Method {
    pub(crate) fn parse(s: &str) -> Option<Method> {
        match s {
            "sudo" => Some(Method::Sudo),
            "su" => Some(Method::Su),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::Sudo => "sudo",
            Method::Su => "su",
        }
    }
}

/// Whom to become and how (`ansible_become_user`, `ansible_become_method`,
/// `ansible_become_password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Become {
    pub(crate) method: Method,
    pub(crate) user: String,
    pub(crate) password: Option<Secret>,
}

impl Default for Become {
    fn default() -> Become {
        Become {
            method: Method::Sudo,
            user: "root".into(),
            password: None,
        }
    }
}

/// A user name `sudo -u` and `su` can be handed (and no option).
pub(crate) fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && !u.starts_with('-')
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c))
}

/// Builtins only: the real uid from /proc (a TCG guest pays for every program started).
const ROOT_CHECK: &str = "lvslab_u=; while IFS= read -r l; do case $l in Uid:*) set -- $l; lvslab_u=$2; break;; esac; done </proc/self/status\n";

impl Become {
    /// The remote script that runs `cmd` as the target user. `input`: the command reads stdin
    /// (after the password line, when there is a password).
    pub(crate) fn wrap(&self, cmd: &str, input: bool) -> String {
        // The command's first line leads, as a comment: `LVSLAB_TRACE` shows it.
        let mut s = format!("# {}\n", cmd.lines().next().unwrap_or(""));
        if self.password.is_some() {
            s.push_str("IFS= read -r lvslab_p\n");
        }
        if self.user == "root" {
            s.push_str(ROOT_CHECK);
            s.push_str(&format!(
                "if [ \"$lvslab_u\" = 0 ]; then unset lvslab_p lvslab_u l; set --; eval {}; exit; fi\n",
                quote(cmd)
            ));
        }
        let user = quote(&self.user);
        match (self.method, &self.password) {
            (Method::Sudo, password) => {
                let sudo = match password {
                    Some(_) => "printf '%s\\n' \"$lvslab_p\" | sudo -S -p ''",
                    None => "sudo -n",
                };
                let mut inner = String::new();
                if password.is_some() {
                    // sudo's stdin is the password pipe: the command takes this shell's
                    // stdin back through /proc ($0 carries this shell's pid).
                    if input {
                        s.push_str("exec 3<&0\n");
                        inner.push_str("exec <\"/proc/$0/fd/3\" || exit 126\n");
                    } else {
                        inner.push_str("exec </dev/null\n");
                    }
                }
                inner.push_str(cmd);
                if self.user == "root" {
                    // Root's shell reads the command from this shell's descriptor 4 (a
                    // here-document), not from sudo's command line: sudo logs its command
                    // line, a kilobyte per syslog message, which costs a slow node more
                    // than many a command. (Another target user may not read this
                    // shell's descriptors.)
                    let end = heredoc_end(&inner);
                    s.push_str(&format!("exec 4<<'{end}'\n{inner}\n{end}\n"));
                    s.push_str(&format!(
                        "{sudo} -u root -- sh -c '. \"/proc/$0/fd/4\"' \"$$\"\n"
                    ));
                } else {
                    s.push_str(&format!(
                        "{sudo} -u {user} -- sh -c {} \"$$\"\n",
                        quote(&inner)
                    ));
                }
            }
            (Method::Su, _) => {
                // su keeps descriptors: the command gets stdin, stdout and stderr back from 3,
                // 5 and 4; su's own stderr (its prompt, its refusal) is kept apart.
                let inner = format!("exec <&3 >&5 2>&4 3<&- 4>&- 5>&-\n{cmd}");
                s.push_str("exec 3<&0 4>&2 5>&1\n");
                s.push_str(&format!(
                    "lvslab_e=$(printf '%s\\n' \"$lvslab_p\" | su -s /bin/sh -c {} {user} 2>&1 >&5); lvslab_s=$?\n",
                    quote(&inner)
                ));
                s.push_str(&format!(
                    "case $lvslab_s:$lvslab_e in 0:*) ;; *su:*) printf '{SU_FAILED}%s\\n' \"${{lvslab_e#*: }}\" >&2;; esac\nexit $lvslab_s\n"
                ));
            }
        }
        s
    }

    /// Why the escalation itself failed, from the output of a wrapped command; `None` when
    /// the command ran (whatever its own status).
    fn refusal(&self, login: &str, out: &Output) -> Option<String> {
        let err = out.stderr_str();
        let who = format!("{} to {}", self.method.name(), self.user);
        if out.status == Some(127) && err.contains(&format!("{}: not found", self.method.name())) {
            return Some(format!(
                "become ({who}): `{}` is not installed on the host",
                self.method.name()
            ));
        }
        let head = err.trim_start();
        // sudo speaks before the command runs: first, or after its lecture to a first-time
        // user, and with nothing on stdout.
        let sudo_said = out.stdout.is_empty()
            && (head.starts_with("sudo: ")
                || head.starts_with("Sorry, try again.")
                || head.starts_with("We trust you have received"));
        let msg = match self.method {
            Method::Sudo if out.status == Some(1) && sudo_said => {
                if err.contains("incorrect password") || err.contains("no password was provided") {
                    "the password was refused (ansible_become_password, -K)".to_string()
                } else if err.contains("a password is required") {
                    "sudo asks for a password: set ansible_become_password or use -K".to_string()
                } else {
                    let line = head.lines().find(|l| l.starts_with("sudo: "))?;
                    format!("sudo refused: {}", line.trim_start_matches("sudo: "))
                }
            }
            Method::Su => {
                let line = err.lines().find_map(|l| l.strip_prefix(SU_FAILED))?;
                if line.contains("Authentication failure") {
                    "the password was refused (ansible_become_password, -K)".to_string()
                } else {
                    format!("su refused: {line}")
                }
            }
            _ => return None,
        };
        Some(format!("become ({who}, logged in as {login}): {msg}"))
    }
}

/// A here-document delimiter that is no line of `body`.
fn heredoc_end(body: &str) -> String {
    let mut end = String::from("LVSLAB_BECOME_END");
    while body.lines().any(|l| l == end) {
        end.push('_');
    }
    end
}

/// Marks su's own complaint on stderr (see [`Become::wrap`]).
const SU_FAILED: &str = "lvslab-become: ";

/// A host's connection, every command run through [`Become`].
pub(crate) struct Escalated {
    inner: Arc<dyn Transport>,
    how: Become,
    /// The login user, for error messages.
    login: String,
}

impl Escalated {
    pub(crate) fn new(inner: Arc<dyn Transport>, how: Become, login: &str) -> Escalated {
        Escalated {
            inner,
            how,
            login: login.to_string(),
        }
    }
}

impl Transport for Escalated {
    fn exec<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let script = self.how.wrap(cmd, stdin.is_some());
            let input: Option<Vec<u8>> = match &self.how.password {
                Some(p) => {
                    let mut v = Vec::with_capacity(p.expose().len() + 1);
                    v.extend_from_slice(p.expose().as_bytes());
                    v.push(b'\n');
                    v.extend_from_slice(stdin.unwrap_or_default());
                    Some(v)
                }
                None => stdin.map(<[u8]>::to_vec),
            };
            let out = self.inner.exec(&script, input.as_deref()).await?;
            match self.how.refusal(&self.login, &out) {
                Some(msg) => Err(TransportError(msg)),
                None => Ok(out),
            }
        })
    }

    fn exec_as_login<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        self.inner.exec(cmd, stdin)
    }

    fn resumed(&self) -> bool {
        self.inner.resumed()
    }

    fn interrupt(&self) -> BoxFuture<'_, ()> {
        self.inner.interrupt()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }

    fn release(&self) -> BoxFuture<'_, ()> {
        self.inner.release()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str, stdin: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut c = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin).unwrap();
        c.wait_with_output().unwrap()
    }

    #[test]
    fn the_password_line_is_read_off_and_never_reaches_the_command() {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !root {
            return;
        }
        // As root, becoming root runs the command directly: the rest of stdin is its own.
        let b = Become {
            password: Some(Secret::new("s3cret-pw".into())),
            ..Become::default()
        };
        let out = run(
            &b.wrap("cat; echo \"[$lvslab_p]\"; exit 3", true),
            b"s3cret-pw\npayload\n",
        );
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "payload\n[]\n");
    }

    #[test]
    fn root_reads_the_command_from_a_here_document_whose_end_is_no_line_of_it() {
        let b = Become {
            password: Some(Secret::new("pw-heredoc".into())),
            ..Become::default()
        };
        let cmd = "echo LVSLAB_BECOME_END\nLVSLAB_BECOME_END\ntrue";
        let s = b.wrap(cmd, false);
        assert!(s.contains("exec 4<<'LVSLAB_BECOME_END_'\n"), "{s}");
        assert!(
            s.ends_with("-u root -- sh -c '. \"/proc/$0/fd/4\"' \"$$\"\n"),
            "{s}"
        );
        assert!(!s.contains("pw-heredoc"), "{s}");
        // Another target user reads it from sudo's command line (it may not read this
        // shell's descriptors).
        let other = Become {
            user: "postgres".into(),
            ..b
        };
        assert!(!other.wrap(cmd, false).contains("exec 4<<"));
    }

    #[test]
    fn refusals_are_told_apart_from_the_commands_own_failures() {
        let b = Become {
            password: Some(Secret::new("pw-for-refusal".into())),
            ..Become::default()
        };
        let out = |status, err: &str| Output {
            status: Some(status),
            stdout: Vec::new(),
            stderr: err.as_bytes().to_vec(),
        };
        let wrong = out(
            1,
            "Sorry, try again.\nsudo: no password was provided\nsudo: 1 incorrect password attempt\n",
        );
        let m = b.refusal("ops", &wrong).unwrap();
        assert!(
            m.contains("password was refused") && m.contains("ops"),
            "{m}"
        );
        let own = out(1, "grep: /etc/x: No such file or directory\n");
        assert!(b.refusal("ops", &own).is_none());
        let su = Become {
            method: Method::Su,
            ..b.clone()
        };
        let m = su
            .refusal("ops", &out(1, "lvslab-become: Authentication failure\n"))
            .unwrap();
        assert!(m.contains("su to root"), "{m}");
        assert!(su.refusal("ops", &out(1, "su: own words\n")).is_none());
    }
}
