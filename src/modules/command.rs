//! `command` (an argv, no shell) and `shell` (a `sh -c` script): `creates`/`removes` make them
//! idempotent; otherwise they always report changed, as in Ansible (use `changed_when`).

use serde_json::{Map, Value as Json};

use super::operand::path_word;
use super::{opt, Answers, Arg, Args, Ask, Cx, Module, ModuleError, Outcome, Ty, View};
use crate::quote::{argv, quote};
use crate::ssh::BoxFuture;
use crate::yaml::{Diag, Key, Node};

#[derive(Debug)]
pub(crate) struct Command;
#[derive(Debug)]
pub(crate) struct Shell;

/// Split a command line into words the way a shell would (quotes and backslashes), without
/// any expansion: `command`'s `cmd` and `template`'s `validate`.
pub(crate) fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x)
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

static COMMAND_ARGS: &[Arg] = &[
    opt("cmd", Ty::Str),
    opt("argv", Ty::List),
    opt("chdir", Ty::Str),
    opt("creates", Ty::Str),
    opt("removes", Ty::Str),
    opt("stdin", Ty::Str),
];
static SHELL_ARGS: &[Arg] = &[
    opt("cmd", Ty::Str),
    opt("chdir", Ty::Str),
    opt("creates", Ty::Str),
    opt("removes", Ty::Str),
    opt("stdin", Ty::Str),
    opt("executable", Ty::Str),
];

/// The check `creates`/`removes` make before the command runs (none without them): it
/// succeeds when the command is to run.
fn guard(a: &Args<'_>) -> Option<Ask> {
    let creates = a.str("creates");
    let removes = a.str("removes");
    if creates.is_none() && removes.is_none() {
        return None;
    }
    let mut test = String::from("true");
    if let Some(c) = &creates {
        test.push_str(&format!(" && ! test -e {}", quote(&path_word(c))));
    }
    if let Some(r) = &removes {
        test.push_str(&format!(" && test -e {}", quote(&path_word(r))));
    }
    Some(Ask::new(&[], test))
}

/// Shared by both: the creates/removes check's answer, then the run.
async fn run_line(
    line: String,
    a: Args<'_>,
    mut answers: Answers,
    cx: &mut Cx<'_>,
) -> Result<Outcome, ModuleError> {
    let mut out = Outcome::default();
    if guard(&a).is_some() {
        let creates = a.str("creates");
        let removes = a.str("removes");
        if !answers.next()?.out().ok() {
            out.msg = Some(match creates {
                Some(c) => format!("skipped, since {c} exists"),
                None => format!(
                    "skipped, since {} does not exist",
                    removes.unwrap_or_default()
                ),
            });
            out.data.insert("rc".into(), Json::from(0));
            return Ok(out);
        }
    }
    if cx.check {
        out.changed = true;
        out.skipped = true;
        out.msg = Some("would run (check mode)".into());
        return Ok(out);
    }
    let line = match a.str("chdir") {
        Some(d) => format!("cd {} && {line}", quote(&path_word(&d))),
        None => line,
    };
    let stdin = a.str("stdin").map(|s| format!("{s}\n").into_bytes());
    let o = cx.exec(&line, stdin.as_deref()).await?;
    let stdout = o.stdout_str();
    let stderr = o.stderr_str();
    out.changed = true;
    out.data
        .insert("rc".into(), o.status.map(Json::from).unwrap_or(Json::Null));
    out.data.insert(
        "stdout".into(),
        Json::String(stdout.trim_end_matches('\n').to_string()),
    );
    out.data.insert(
        "stderr".into(),
        Json::String(stderr.trim_end_matches('\n').to_string()),
    );
    out.data.insert(
        "stdout_lines".into(),
        Json::Array(stdout.lines().map(|l| Json::String(l.into())).collect()),
    );
    out.data.insert("cmd".into(), Json::String(line.clone()));
    if !o.ok() {
        return Err(ModuleError {
            msg: "non-zero return code".into(),
            cmd: Some(line),
            status: o.status,
            stdout,
            stderr,
            unreachable: false,
        });
    }
    Ok(out)
}

impl Module for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn args(&self) -> &'static [Arg] {
        COMMAND_ARGS
    }
    fn free_form(&self) -> Option<&'static str> {
        Some("cmd")
    }
    fn shell_args(&self) -> &'static [&'static str] {
        &["cmd"]
    }
    fn validate(&self, args: &Node, key: &Key) -> Result<(), Diag> {
        let has_cmd = args.get("cmd").is_some();
        let has_argv = args.get("argv").is_some();
        if has_cmd == has_argv {
            return Err(Diag::at_key(
                key,
                &args.src,
                "`command` needs exactly one of `cmd` or `argv`",
            )
            .expected("`cmd: COMMAND LINE` or `argv: [PROGRAM, ARG...]`"));
        }
        Ok(())
    }
    fn queries(&self, args: &Map<String, Json>, _view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        command_line(&Args(args))?;
        Ok(guard(&Args(args)).into_iter().collect())
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let a = Args(args);
            run_line(command_line(&a)?, a, answers, cx).await
        })
    }
}

/// `command`'s argv as one command line, every word quoted.
fn command_line(a: &Args<'_>) -> Result<String, ModuleError> {
    let words = match a.str("cmd") {
        Some(c) => split_words(&c).map_err(|e| ModuleError::msg(format!("cmd: {e}")))?,
        None => a.list("argv"),
    };
    if words.is_empty() {
        return Err(ModuleError::msg("empty command"));
    }
    Ok(argv(&words))
}

/// `shell`'s script run by its shell (`executable`, `/bin/sh` by default).
fn shell_line(a: &Args<'_>) -> Result<String, ModuleError> {
    let cmd = a.req("cmd")?;
    let sh = a.str("executable").unwrap_or_else(|| "/bin/sh".into());
    super::operand::name("executable", &sh)?;
    Ok(argv(&[sh.as_str(), "-c", cmd.as_str()]))
}

impl Module for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }
    fn args(&self) -> &'static [Arg] {
        SHELL_ARGS
    }
    fn free_form(&self) -> Option<&'static str> {
        Some("cmd")
    }
    fn shell_args(&self) -> &'static [&'static str] {
        &["cmd"]
    }
    fn validate(&self, args: &Node, key: &Key) -> Result<(), Diag> {
        if args.get("cmd").is_none() {
            return Err(Diag::at_key(
                key,
                &args.src,
                "missing required argument `cmd` for module `shell`",
            )
            .expected("`shell: SCRIPT` or `cmd: SCRIPT`"));
        }
        Ok(())
    }
    fn queries(&self, args: &Map<String, Json>, _view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        shell_line(&Args(args))?;
        Ok(guard(&Args(args)).into_iter().collect())
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let a = Args(args);
            run_line(shell_line(&a)?, a, answers, cx).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_words(r#"echo 'a b' "c \"d\"" e\ f  g"#).unwrap(),
            vec!["echo", "a b", "c \"d\"", "e f", "g"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_words("x ''").unwrap(), vec!["x", ""]);
        assert!(split_words("'x").is_err());
    }
}
