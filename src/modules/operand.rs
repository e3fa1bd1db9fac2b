//! Rules for values that become operands of remote commands. Quoting (`quote::quote`) keeps a
//! value from becoming shell syntax, but a quoted `-rf` is still an option to `rm`, and a
//! newline in a sysctl value is a second line in the sysctl file. These checks refuse such
//! values with a clear error before any command is built.

use super::ModuleError;

/// A name passed as one word to a tool (a service, package, kernel parameter, device, user):
/// not empty, no leading `-` (it would be read as an option), no whitespace or control
/// characters.
pub(crate) fn name<'a>(what: &str, s: &'a str) -> Result<&'a str, ModuleError> {
    if s.is_empty() {
        return Err(ModuleError::msg(format!("{what}: empty")));
    }
    if s.starts_with('-') {
        return Err(ModuleError::msg(format!(
            "{what} `{}` starts with `-` (it would be read as an option)",
            shown(s)
        )));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(ModuleError::msg(format!(
            "{what} `{}` contains {} (expected one word)",
            shown(s),
            describe(c)
        )));
    }
    Ok(s)
}

/// A path on the node that a module creates, changes or removes: absolute (so it can never be
/// read as an option, nor land relative to whatever the remote working directory is), no NUL.
pub(crate) fn abs_path<'a>(what: &str, s: &'a str) -> Result<&'a str, ModuleError> {
    if !s.starts_with('/') {
        return Err(ModuleError::msg(format!(
            "{what} `{}` is not an absolute path (expected a path starting with `/`)",
            shown(s)
        )));
    }
    if s.contains('\0') {
        return Err(ModuleError::msg(format!("{what} contains a NUL byte")));
    }
    Ok(s)
}

/// A path that may be relative (`chdir`, `creates`, `removes`): a leading `-` gets `./` so the
/// tool reads it as a path, not an option; the meaning is unchanged.
pub(crate) fn path_word(s: &str) -> String {
    if s.starts_with('-') {
        format!("./{s}")
    } else {
        s.to_string()
    }
}

/// A value written as one line of a config file (`name = value`): no newline or other control
/// character, which would start a line of its own.
pub(crate) fn line_value<'a>(what: &str, s: &'a str) -> Result<&'a str, ModuleError> {
    match s.chars().find(|c| c.is_control() && *c != '\t') {
        Some(c) => Err(ModuleError::msg(format!(
            "{what} `{}` contains {} (expected a single line)",
            shown(s),
            describe(c)
        ))),
        None => Ok(s),
    }
}

fn describe(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("the whitespace character U+{:04X}", c as u32),
    }
}

/// A value as shown in an error: control characters escaped so the message stays one line.
fn shown(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_options_and_several_words() {
        assert!(name("service", "apache2").is_ok());
        assert!(name("package", "libc6:amd64").is_ok());
        assert_eq!(
            name("service", "-h").unwrap_err().msg,
            "service `-h` starts with `-` (it would be read as an option)"
        );
        assert_eq!(
            name("package", "a b").unwrap_err().msg,
            "package `a b` contains a space (expected one word)"
        );
        assert_eq!(
            name("device", "lo\nx").unwrap_err().msg,
            "device `lo\\nx` contains a newline (expected one word)"
        );
        assert!(name("x", "").is_err());
    }

    #[test]
    fn paths_and_lines() {
        assert!(abs_path("dest", "/etc/x y$(z)").is_ok());
        assert_eq!(
            abs_path("dest", "-rf").unwrap_err().msg,
            "dest `-rf` is not an absolute path (expected a path starting with `/`)"
        );
        assert_eq!(path_word("-x"), "./-x");
        assert_eq!(path_word("/a"), "/a");
        assert!(line_value("value", "32768\t60999").is_ok());
        assert_eq!(
            line_value("value", "1\nkernel.x = 2").unwrap_err().msg,
            "value `1\\nkernel.x = 2` contains a newline (expected a single line)"
        );
    }
}
