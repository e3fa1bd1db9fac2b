//! How a plain (unquoted) YAML scalar is typed.
//!
//! Two schemas, because two kinds of file are read. Playbooks keep the YAML 1.2 core schema
//! (plus `yes`/`no`) they have always been read with. Inventories, `group_vars`/`host_vars`
//! files and `-e @file` are read as Ansible reads them — PyYAML's YAML 1.1 resolvers — so that
//! `port: 0644`, `on`, `1_000` or `1:30` mean in lvslab what they mean to `ansible-inventory`.

use super::Value;

/// Which resolver types plain scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schema {
    /// YAML 1.2 core schema plus `yes`/`no` (playbooks).
    Core,
    /// YAML 1.1 as PyYAML resolves it (inventories and variable files, as Ansible reads them).
    Ansible,
}

/// The value of a plain scalar under `schema`.
pub(crate) fn plain(text: &str, schema: Schema) -> Value {
    match schema {
        Schema::Core => core(text),
        Schema::Ansible => yaml11(text),
    }
}

fn core(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" => return Value::Bool(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let looks_float = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && text.chars().any(|c| c.is_ascii_digit())
        && text.contains('.');
    if looks_float {
        if let Ok(x) = text.parse::<f64>() {
            return Value::Float(x);
        }
    }
    Value::Str(text.to_string())
}

fn yaml11(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true)
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false)
        }
        _ => {}
    }
    if let Some(i) = int11(text) {
        return Value::Int(i);
    }
    if let Some(x) = float11(text) {
        return Value::Float(x);
    }
    Value::Str(text.to_string())
}

fn split_sign(text: &str) -> (i64, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    }
}

fn all(s: &str, f: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.chars().all(f)
}

/// Sexagesimal parts after the first (`:30`, `:5`): each 0..59, one or two digits.
fn base60_parts<'a>(parts: impl Iterator<Item = &'a str>) -> Option<Vec<i64>> {
    parts
        .map(|p| {
            let ok = (1..=2).contains(&p.len())
                && all(p, |c| c.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5');
            ok.then(|| p.parse::<i64>().ok()).flatten()
        })
        .collect()
}

/// PyYAML's int: `0b1_0`, `0_17` (octal), `0x1F`, `1_000`, `1:30` (base 60), signed.
fn int11(text: &str) -> Option<i64> {
    let (sign, body) = split_sign(text);
    let digits = |s: &str, radix: u32| -> Option<i64> {
        let s: String = s.chars().filter(|c| *c != '_').collect();
        if s.is_empty() {
            return None;
        }
        i64::from_str_radix(&s, radix).ok()
    };
    let v = if let Some(b) = body.strip_prefix("0b") {
        if !all(b, |c| matches!(c, '0' | '1' | '_')) {
            return None;
        }
        digits(b, 2)?
    } else if let Some(h) = body.strip_prefix("0x") {
        if !all(h, |c| c.is_ascii_hexdigit() || c == '_') {
            return None;
        }
        digits(h, 16)?
    } else if body == "0" {
        0
    } else if let Some(o) = body.strip_prefix('0') {
        if !all(o, |c| matches!(c, '0'..='7' | '_')) {
            return None;
        }
        digits(o, 8)?
    } else if body.contains(':') {
        let mut parts = body.split(':');
        let first = parts.next()?;
        if !first.starts_with(|c: char| matches!(c, '1'..='9'))
            || !all(first, |c| c.is_ascii_digit() || c == '_')
        {
            return None;
        }
        let mut v = digits(first, 10)?;
        for p in base60_parts(parts)? {
            v = v.checked_mul(60)?.checked_add(p)?;
        }
        v
    } else {
        if !body.starts_with(|c: char| matches!(c, '1'..='9'))
            || !all(body, |c| c.is_ascii_digit() || c == '_')
        {
            return None;
        }
        digits(body, 10)?
    };
    v.checked_mul(sign)
}

/// PyYAML's float: `1.5`, `1.`, `1_0.5e+3`, `.5` (unsigned only), `1:30.5`, `.inf`, `.nan`.
fn float11(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let unsigned_fraction = text.starts_with('.');
    let (sign, body) = if unsigned_fraction {
        (1, text)
    } else {
        split_sign(text)
    };
    let sign = sign as f64;
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-'])?;
        if !all(e, |c| c.is_ascii_digit()) || body.contains(':') {
            return None;
        }
    }
    let (int_part, frac) = mantissa.split_once('.')?;
    if !frac.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let clean = |s: &str| s.chars().filter(|c| *c != '_').collect::<String>();
    if int_part.contains(':') {
        let mut parts = int_part.split(':');
        let first = parts.next()?;
        if !first.starts_with(|c: char| c.is_ascii_digit())
            || !all(first, |c| c.is_ascii_digit() || c == '_')
        {
            return None;
        }
        let mut v: f64 = clean(first).parse().ok()?;
        let parts = base60_parts(parts)?;
        for p in parts {
            v = v * 60.0 + p as f64;
        }
        let f: f64 = format!("0.{}", clean(frac)).parse().unwrap_or(0.0);
        return Some(sign * (v + f));
    }
    if unsigned_fraction {
        if int_part.is_empty() && !frac.is_empty() {
            let s = format!("0.{}{}", clean(frac), exp_text(body));
            return s.parse().ok();
        }
        return None;
    }
    if !int_part.starts_with(|c: char| c.is_ascii_digit())
        || !all(int_part, |c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let s = format!("{}.{}{}", clean(int_part), clean(frac), exp_text(body));
    s.parse::<f64>().ok().map(|v| sign * v)
}

fn exp_text(body: &str) -> &str {
    body.find(['e', 'E']).map(|i| &body[i..]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(t: &str) -> Value {
        plain(t, Schema::Ansible)
    }

    #[test]
    fn yaml11_ints_as_pyyaml_reads_them() {
        for (t, v) in [
            ("0644", 420),
            ("0", 0),
            ("-12", -12),
            ("+7", 7),
            ("1_000", 1000),
            ("0x1F", 31),
            ("0b101", 5),
            ("1:30", 90),
            ("-1:00:01", -3601),
        ] {
            assert!(matches!(a(t), Value::Int(i) if i == v), "{t}: {:?}", a(t));
        }
        for t in ["0o17", "08", "1:60", "0x", "12abc", "1e3", "-.5", "_1"] {
            assert!(matches!(a(t), Value::Str(_)), "{t}: {:?}", a(t));
        }
    }

    #[test]
    fn yaml11_floats_bools_nulls() {
        for (t, v) in [
            ("1.5", 1.5),
            ("1.", 1.0),
            (".5", 0.5),
            ("1.0e+3", 1000.0),
            ("-2_0.5", -20.5),
            ("1:30.5", 90.5),
        ] {
            assert!(matches!(a(t), Value::Float(x) if x == v), "{t}: {:?}", a(t));
        }
        assert!(matches!(a("1.0e3"), Value::Str(_)));
        assert!(matches!(a("on"), Value::Bool(true)));
        assert!(matches!(a("OFF"), Value::Bool(false)));
        assert!(matches!(a("y"), Value::Str(_)));
        assert!(matches!(a("~"), Value::Null));
    }

    #[test]
    fn core_schema_unchanged_for_playbooks() {
        assert!(matches!(plain("0644", Schema::Core), Value::Int(644)));
        assert!(matches!(plain("on", Schema::Core), Value::Str(_)));
        assert!(matches!(plain("0o17", Schema::Core), Value::Int(15)));
    }
}
