//! Secret sources: a variable whose value is `{secret_env: NAME}` takes it from the environment
//! variable NAME; `{secret_file: PATH}` from a file (relative paths from the directory of the
//! file that names it, `~/` from `$HOME`; one trailing newline dropped). The secret then never
//! sits in the inventory or playbook, like Ansible's `lookup('env', ...)`/`lookup('file', ...)`
//! with vault-style intent. A missing source is an input error located at the mapping.

use std::path::{Path, PathBuf};

use crate::yaml::{Diag, Key, Node, Value};

/// Replace every `{secret_env: ...}`/`{secret_file: ...}` variable value in `vars` by the secret
/// it names, and tell `secrets` of it.
pub(crate) fn resolve_sources(
    vars: &mut [(Key, Node)],
    secrets: &mut super::Redactor,
) -> Result<(), Diag> {
    for (key, node) in vars.iter_mut() {
        let Some(secret) = read_source(key, node)? else {
            continue;
        };
        secrets.add_value(&secret);
        node.v = Value::Str(secret);
    }
    Ok(())
}

fn read_source(key: &Key, node: &Node) -> Result<Option<String>, Diag> {
    let Value::Map(m) = &node.v else {
        return Ok(None);
    };
    let Some((kind, arg)) = m
        .iter()
        .find(|(k, _)| k.name == "secret_env" || k.name == "secret_file")
    else {
        return Ok(None);
    };
    if m.len() != 1 {
        return Err(Diag::at(
            node,
            format!(
                "`{}` of variable `{}` takes no other keys",
                kind.name, key.name
            ),
        )
        .expected("`{secret_env: NAME}` or `{secret_file: PATH}` alone"));
    }
    let what = arg.as_scalar_str(match kind.name.as_str() {
        "secret_env" => "an environment variable name",
        _ => "a file path",
    })?;
    if kind.name == "secret_env" {
        let value = std::env::var(&what);
        let problem = match &value {
            Ok(v) if !v.is_empty() => return Ok(Some(v.clone())),
            Ok(_) => "is empty",
            Err(_) => "is not set",
        };
        return Err(Diag::at(
            arg,
            format!(
                "environment variable `{what}` (secret `{}`) {problem}",
                key.name
            ),
        )
        .expected(format!("the secret in `{what}`, e.g. `export {what}=...`")));
    }
    let path = source_path(&what, &node.src.path);
    let text = read_bounded(&path).map_err(|e| {
        Diag::at(
            arg,
            format!(
                "cannot read secret file `{}` (secret `{}`): {e}",
                path.display(),
                key.name
            ),
        )
        .expected("a readable file holding the secret")
    })?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if text.is_empty() {
        return Err(Diag::at(
            arg,
            format!(
                "secret file `{}` (secret `{}`) is empty",
                path.display(),
                key.name
            ),
        )
        .expected("a readable file holding the secret"));
    }
    Ok(Some(text.to_string()))
}

/// The largest secret file read: a secret is a password or a key, not a device or a log.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A regular file's text, refusing what could block or never end (`/dev/zero`, a FIFO) and
/// anything larger than [`MAX_SECRET_FILE`].
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_SECRET_FILE {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than {MAX_SECRET_FILE} bytes"),
        ));
    }
    String::from_utf8(buf).map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}

fn source_path(p: &str, named_in: &Path) -> PathBuf {
    if let (Some(rest), Some(home)) = (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        return PathBuf::from(home).join(rest);
    }
    let p = Path::new(p);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    named_in
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(p))
        .unwrap_or_else(|| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse, Source};

    fn vars(text: &str, path: &Path) -> Result<Vec<String>, String> {
        let n = parse(Source::new(path, text.to_string())).map_err(|e| e.to_string())?;
        let mut v = n.get("vars").unwrap().as_map("").unwrap().to_vec();
        resolve_sources(&mut v, &mut super::super::Redactor::default())
            .map_err(|e| e.to_string())?;
        Ok(v.iter().map(|(_, n)| n.to_json().to_string()).collect())
    }

    #[test]
    fn file_source_relative_to_the_naming_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "from-file\n").unwrap();
        let inv = dir.path().join("inv.yml");
        assert_eq!(
            vars("vars:\n  a_pass: {secret_file: pw}\n  b: 1\n", &inv).unwrap(),
            vec!["\"from-file\"", "1"]
        );
        let e = vars("vars:\n  a_pass: {secret_file: nope}\n", &inv).unwrap_err();
        assert!(e.starts_with(&format!(
            "cannot read secret file `{}/nope` (secret `a_pass`): No such file",
            dir.path().display()
        )));
        assert!(e.contains("inv.yml:2:25"), "{e}");
        let e = vars("vars:\n  a_pass: {secret_file: /dev/zero}\n", &inv).unwrap_err();
        assert!(
            e.starts_with(
                "cannot read secret file `/dev/zero` (secret `a_pass`): not a regular file"
            ),
            "{e}"
        );
    }

    #[test]
    fn env_source_and_its_errors() {
        let p = Path::new("i.yml");
        let e = vars(
            "vars:\n  a_pass: {secret_env: LVSLAB_TEST_SURELY_UNSET_9}\n",
            p,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "environment variable `LVSLAB_TEST_SURELY_UNSET_9` (secret `a_pass`) is not set\n \
             ——▶ i.yml:2:24\n  │\n2 │   a_pass: {secret_env: LVSLAB_TEST_SURELY_UNSET_9}\n  │                        \
             ^^^^^^^^^^^^^^^^^^^^^^^^^^\n  = expected the secret in `LVSLAB_TEST_SURELY_UNSET_9`, e.g. \
             `export LVSLAB_TEST_SURELY_UNSET_9=...`"
        );
        let e = vars("vars:\n  a_pass: {secret_env: X, y: 1}\n", p).unwrap_err();
        assert!(e.starts_with("`secret_env` of variable `a_pass` takes no other keys"));
        let path = std::env::var("PATH").unwrap();
        assert_eq!(
            vars("vars:\n  a: {secret_env: PATH}\n", p).unwrap(),
            vec![serde_json::to_string(&path).unwrap()]
        );
    }
}
