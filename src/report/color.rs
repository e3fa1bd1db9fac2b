//! Colour as Ansible users read it: ok green, changed yellow, failed and unreachable red,
//! skipped cyan; in diffs, additions green and removals red. Only when the user wants it:
//! `--color always|never`, else not when `NO_COLOR` is set, else when the stream is a terminal.

/// What the user asked for; `None` means decide by the stream.
pub(crate) fn enabled(choice: Option<bool>, stream_is_terminal: bool) -> bool {
    choice.unwrap_or_else(|| no_color_unset() && stream_is_terminal)
}

/// `NO_COLOR` set to anything non-empty turns automatic colour off (no-color.org).
fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[derive(Debug, Clone, Copy)]
enum Code {
    Green = 32,
    Yellow = 33,
    Red = 31,
    Cyan = 36,
}

/// Paints text, or leaves it alone when colour is off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    on: bool,
}

impl Palette {
    pub(crate) fn new(on: bool) -> Palette {
        Palette { on }
    }

    fn paint(&self, code: Code, s: &str) -> String {
        if self.on && !s.is_empty() {
            format!("\x1b[{}m{s}\x1b[0m", code as u8)
        } else {
            s.to_string()
        }
    }

    pub(crate) fn ok(&self, s: &str) -> String {
        self.paint(Code::Green, s)
    }

    pub(crate) fn changed(&self, s: &str) -> String {
        self.paint(Code::Yellow, s)
    }

    pub(crate) fn failed(&self, s: &str) -> String {
        self.paint(Code::Red, s)
    }

    pub(crate) fn skipped(&self, s: &str) -> String {
        self.paint(Code::Cyan, s)
    }

    /// A unified diff, line by line: `+` green, `-` red, `@@` hunks cyan; headers as they are.
    pub(crate) fn diff(&self, unified: &str) -> String {
        if !self.on {
            return unified.to_string();
        }
        unified
            .lines()
            .map(|l| {
                if l.starts_with("+++") || l.starts_with("---") {
                    l.to_string()
                } else if l.starts_with('+') {
                    self.ok(l)
                } else if l.starts_with('-') {
                    self.failed(l)
                } else if l.starts_with("@@") {
                    self.skipped(l)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_leaves_text_alone_and_on_wraps_it() {
        assert_eq!(Palette::new(false).failed("failed=1"), "failed=1");
        assert_eq!(
            Palette::new(true).failed("failed=1"),
            "\x1b[31mfailed=1\x1b[0m"
        );
        assert_eq!(Palette::new(true).ok(""), "");
    }

    #[test]
    fn an_explicit_choice_wins_over_the_terminal() {
        assert!(enabled(Some(true), false));
        assert!(!enabled(Some(false), true));
        assert!(!enabled(None, false));
    }

    #[test]
    fn diff_lines_are_painted_by_their_sign() {
        let d = "--- before: f\n+++ after: f\n@@ -1 +1 @@\n-old\n+new\n same";
        let painted = Palette::new(true).diff(d);
        assert!(painted.contains("\x1b[31m-old\x1b[0m"));
        assert!(painted.contains("\x1b[32m+new\x1b[0m"));
        assert!(painted.contains("--- before: f\n+++ after: f"));
        assert!(painted.ends_with("\n same"));
    }
}
