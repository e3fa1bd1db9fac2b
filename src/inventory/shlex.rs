//! POSIX shell-like splitting of an INI host line, as Python's `shlex.split(line, comments=True)`
//! does it (Ansible's INI plugin uses exactly that): quotes group words and are removed, a
//! backslash escapes outside single quotes, and `#` starts a comment even inside a word.

/// One word of a line and the 0-based character column it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) text: String,
    pub(crate) col: usize,
}

/// Why a line cannot be split, and the 0-based column to point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitError {
    pub(crate) msg: &'static str,
    pub(crate) col: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Space,
    Word,
    Quote(char),
    Escape { back_to: Option<char> },
}

/// Split `line` into words.
pub(crate) fn split(line: &str) -> Result<Vec<Word>, SplitError> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut state = State::Space;
    let mut token = String::new();
    let mut quoted = false;
    let mut start = 0;
    let mut quote_at = 0;
    let mut i = 0;
    let finish = |words: &mut Vec<Word>, token: &mut String, quoted: &mut bool, start: usize| {
        if !token.is_empty() || *quoted {
            words.push(Word {
                text: std::mem::take(token),
                col: start,
            });
        }
        *quoted = false;
    };
    while i < chars.len() {
        let c = chars[i];
        match state {
            State::Space | State::Word => {
                if state == State::Space {
                    start = i;
                }
                if c.is_ascii_whitespace() {
                    finish(&mut words, &mut token, &mut quoted, start);
                    state = State::Space;
                } else if c == '#' {
                    break;
                } else if c == '\'' || c == '"' {
                    quoted = true;
                    quote_at = i;
                    state = State::Quote(c);
                } else if c == '\\' {
                    state = State::Escape { back_to: None };
                } else {
                    token.push(c);
                    state = State::Word;
                }
            }
            State::Quote(q) => {
                if c == q {
                    state = State::Word;
                } else if c == '\\' && q == '"' {
                    state = State::Escape { back_to: Some(q) };
                } else {
                    token.push(c);
                }
            }
            State::Escape { back_to } => {
                // Inside double quotes a backslash escapes only `"` and `\`.
                if back_to.is_some() && c != '\\' && Some(c) != back_to {
                    token.push('\\');
                }
                token.push(c);
                state = match back_to {
                    Some(q) => State::Quote(q),
                    None => State::Word,
                };
            }
        }
        i += 1;
    }
    match state {
        State::Quote(_) => Err(SplitError {
            msg: "no closing quotation",
            col: quote_at,
        }),
        State::Escape { .. } => Err(SplitError {
            msg: "no character after the escaping backslash",
            col: chars.len().saturating_sub(1),
        }),
        _ => {
            finish(&mut words, &mut token, &mut quoted, start);
            Ok(words)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn splits_as_python_shlex() {
        assert_eq!(
            texts("web1 a=1  b='x y' c=\"q\\\"z\""),
            ["web1", "a=1", "b=x y", "c=q\"z"]
        );
        assert_eq!(texts("h x=a#b c=d"), ["h", "x=a"]);
        assert_eq!(texts("h x='' # comment"), ["h", "x="]);
        assert_eq!(texts("h e=\"a\\nb\" f=a\\ b"), ["h", "e=a\\nb", "f=a b"]);
        assert_eq!(texts("h ''"), ["h", ""]);
        assert_eq!(split("  h  x=1").unwrap()[1].col, 5);
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        let e = split("h x='abc").unwrap_err();
        assert_eq!(
            e,
            SplitError {
                msg: "no closing quotation",
                col: 4
            }
        );
        assert!(split("h x=\\").is_err());
    }
}
