//! Hiding secrets in YAML source lines shown by error messages. The line is printed before any
//! value is known (a syntax error stops loading), so this goes by key: the value of every
//! secret-named key is masked, in block style (`x_pass: v`) and in flow style
//! (`{a: 1, x_pass: v, b: 2}`, `[{x_pass: v}]`). An error shows its source line as written
//! (`12 │ key: value`, a caret line under it); the line is masked here, where the message
//! leaves the program, and the caret kept within the masked line.

use super::MASK;

/// `text` with every source line an error message shows (`N │ line`) passed through `mask`,
/// and the caret line under it (`  │   ^^^`) kept within the masked line.
pub(super) fn mask_shown_lines(text: &str, mask: impl Fn(&str) -> String) -> String {
    let mut out: Vec<String> = Vec::new();
    // The shown line's length after masking, while the next line may be its caret line.
    let mut shown: Option<usize> = None;
    for l in text.split('\n') {
        if let Some((head, line)) = source_line(l) {
            let masked = mask(line);
            shown = Some(masked.chars().count());
            out.push(format!("{head}{masked}"));
            continue;
        }
        match (shown.take(), caret_line(l)) {
            (Some(len), Some((head, indent, carets, rest))) => {
                let avail = len.saturating_sub(indent.chars().count()).max(1);
                let n = carets.min(avail).max(1);
                out.push(format!("{head}{indent}{}{rest}", "^".repeat(n)));
            }
            _ => out.push(l.to_string()),
        }
    }
    out.join("\n")
}

/// `N │ line` → (`N │ `, `line`).
fn source_line(l: &str) -> Option<(&str, &str)> {
    let (num, line) = l.split_once(" │ ")?;
    let digits = num.trim_start();
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| (&l[..num.len() + " │ ".len()], line))
}

/// `  │ INDENT^^^REST` → (`  │ `, INDENT, number of carets, REST).
fn caret_line(l: &str) -> Option<(&str, &str, usize, &str)> {
    let (pad, after) = l.split_once(" │ ")?;
    if !pad.chars().all(|c| c == ' ') {
        return None;
    }
    let head = &l[..pad.len() + " │ ".len()];
    let start = after.find('^')?;
    let indent = &after[..start];
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    let carets = after[start..].chars().take_while(|c| *c == '^').count();
    Some((head, indent, carets, &after[start + carets..]))
}

/// `line` with the value of every key `is_secret` names replaced by `********`. A secret
/// source (`{secret_env: NAME}`, `{secret_file: PATH}`) names no secret and is kept.
pub(super) fn redact_line(line: &str, is_secret: impl Fn(&str) -> bool) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut depth = 0usize;
    let mut seg = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => i = skip_quoted(b, i, q),
            b'{' | b'[' => {
                depth += 1;
                seg = i + 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                seg = i + 1;
            }
            b',' if depth > 0 => seg = i + 1,
            b'#' if i == 0 || b[i - 1] == b' ' => break,
            b':' if i + 1 == b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t' => {
                let key = line[seg..i]
                    .trim()
                    .trim_start_matches("- ")
                    .trim_matches(|c| c == '"' || c == '\'');
                let vstart = i + 1 + (b.len() - i - 1 - line[i + 1..].trim_start().len());
                let vend = if depth > 0 {
                    flow_value_end(b, vstart)
                } else {
                    b.len()
                };
                let value = line[vstart..vend].trim();
                if is_secret(key) && !value.is_empty() && !value.starts_with("{secret_") {
                    out.push_str(&line[copied..vstart]);
                    out.push_str(MASK);
                    // Keep what separates the value from the next entry.
                    let trailing = line[vstart..vend].len() - line[vstart..vend].trim_end().len();
                    out.push_str(&line[vend - trailing..vend]);
                    copied = vend;
                    i = vend;
                    seg = vend;
                    continue;
                }
                seg = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&line[copied..]);
    out
}

/// Index just past the closing quote of the quoted scalar starting at `start`.
fn skip_quoted(b: &[u8], start: usize, q: u8) -> usize {
    let mut j = start + 1;
    while j < b.len() {
        if q == b'"' && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            return j;
        }
        j += 1;
    }
    b.len()
}

/// Where a flow-style value starting at `start` ends: the `,` or closing bracket of its level.
fn flow_value_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut j = start;
    while j < b.len() {
        match b[j] {
            q @ (b'\'' | b'"') => j = skip_quoted(b, j, q),
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return j,
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => return j,
            _ => {}
        }
        j += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By the built-in suffixes alone.
    fn redact_line(line: &str) -> String {
        super::redact_line(line, super::super::secret_by_suffix)
    }

    #[test]
    fn an_error_shows_its_source_line_masked_and_the_caret_within_it() {
        let shown = "wrong type\n ——▶ t.yml:2:25\n  │\n2 │   keepalived_auth_pass: [long-secret-value]\n  │                         ^^^^^^^^^^^^^^^^^^^\n  = expected a string";
        let masked = mask_shown_lines(shown, redact_line);
        assert_eq!(
            masked,
            "wrong type\n ——▶ t.yml:2:25\n  │\n2 │   keepalived_auth_pass: ********\n  │                         ^^^^^^^^\n  = expected a string"
        );
        // Lines that are not a shown source line pass as they are.
        let plain = "a │ b: c_pass: x\nx_pass: y";
        assert_eq!(mask_shown_lines(plain, redact_line), plain);
    }

    #[test]
    fn block_style() {
        assert_eq!(
            redact_line("  keepalived_auth_pass: s3cr3t"),
            "  keepalived_auth_pass: ********"
        );
        assert_eq!(
            redact_line("  - db_password: 'x y'"),
            "  - db_password: ********"
        );
        assert_eq!(redact_line("  lvs_vip: 10.0.0.1"), "  lvs_vip: 10.0.0.1");
        assert_eq!(redact_line("  x_pass:"), "  x_pass:");
        assert_eq!(
            redact_line("\"x_token\": abc # note"),
            "\"x_token\": ********"
        );
    }

    #[test]
    fn flow_style() {
        assert_eq!(
            redact_line("    node01: {a: x, keepalived_auth_pass: y, b: 2}"),
            "    node01: {a: x, keepalived_auth_pass: ********, b: 2}"
        );
        assert_eq!(
            redact_line("vars: {keepalived_auth_pass: \"a,b}c\"}"),
            "vars: {keepalived_auth_pass: ********}"
        );
        assert_eq!(
            redact_line("- {name: t, vars: {x_secret: [1, 2], y: 3}}"),
            "- {name: t, vars: {x_secret: ********, y: 3}}"
        );
        assert_eq!(
            redact_line("  hosts: {h: {api_token: 'zz'}}"),
            "  hosts: {h: {api_token: ********}}"
        );
        assert_eq!(
            redact_line("  keepalived_auth_pass: {secret_env: AUTH}"),
            "  keepalived_auth_pass: {secret_env: AUTH}"
        );
        assert_eq!(redact_line("a: 'b: c_pass: d'"), "a: 'b: c_pass: d'");
        assert_eq!(
            redact_line("é: {ü_pass: ✓✓, x: é}"),
            "é: {ü_pass: ********, x: é}"
        );
    }
}
