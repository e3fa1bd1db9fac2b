//! POSIX shell quoting. Every value that reaches a remote shell goes through [`quote`]; commands
//! are built as argv and each word quoted ([`argv`]), so no inventory or variable value can
//! inject a command.

/// Quote one word for a POSIX shell: safe words stay as they are, anything else is wrapped in
/// single quotes (a `'` inside becomes `'\''`).
pub(crate) fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'-' | b'.' | b'/' | b':' | b'@' | b'%' | b'+' | b','
                )
        });
    if safe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote every word and join them: a command line that runs exactly this argv.
pub(crate) fn argv<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh_echo(word: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(word)))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn safe_words_unchanged() {
        assert_eq!(quote("abc/def.conf"), "abc/def.conf");
        assert_eq!(quote("10.0.0.1:80"), "10.0.0.1:80");
    }

    #[test]
    fn unsafe_words_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(argv(&["echo", "a;b", "x"]), "echo 'a;b' x");
    }

    #[test]
    fn round_trips_through_a_real_shell() {
        for w in [
            "plain",
            "",
            "a b",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`",
            "x\ny",
            "; rm -rf /",
            "'\"\\",
            "*",
            "~root",
            "-n",
            "é ü",
        ] {
            assert_eq!(sh_echo(w), w, "word {w:?}");
        }
    }
}
