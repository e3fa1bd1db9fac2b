//! The typing of INI inventory values: Ansible passes each value through Python's
//! `ast.literal_eval` and keeps the text as a string when that fails. So `port=22` is a number,
//! `on=True` a boolean, `list=[1, 2]` a list, `name='x'` (after the line's own quote removal,
//! `"'x'"`) a string, and `yes` or `hello world` stay strings. This module is that evaluator,
//! for the literals an inventory can hold: numbers, strings (with escapes and adjacent-string
//! concatenation), `True`/`False`/`None`, lists, tuples (as lists), dicts and sets (as lists).

use crate::yaml::Value;

/// A literal's value; keys of dicts are already their JSON text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Lit>),
    Dict(Vec<(String, Lit)>),
}

/// `ast.literal_eval(text)`, or `None` where Python would raise (the caller keeps the text).
pub(crate) fn eval(text: &str) -> Option<Lit> {
    let chars: Vec<char> = text.trim_start_matches([' ', '\t']).chars().collect();
    let mut p = P {
        c: &chars,
        i: 0,
        depth: 0,
    };
    let v = p.expr_list()?;
    p.skip();
    (p.i == p.c.len()).then_some(v)
}

/// The typed value of an INI value as Ansible stores it.
pub(crate) fn typed(text: &str) -> Lit {
    eval(text).unwrap_or_else(|| Lit::Str(text.to_string()))
}

impl Lit {
    /// Python's `json.dumps` text for a dict key of this value.
    fn key_text(&self) -> Option<String> {
        Some(match self {
            Lit::None => "null".into(),
            Lit::Bool(b) => b.to_string(),
            Lit::Int(i) => i.to_string(),
            Lit::Float(x) => py_float(*x),
            Lit::Str(s) => s.clone(),
            Lit::List(_) | Lit::Dict(_) => return None,
        })
    }

    /// Into the located tree's value, every part at `node`'s place.
    pub(crate) fn into_value(self, node: &dyn Fn(Value) -> crate::yaml::Node) -> Value {
        match self {
            Lit::None => Value::Null,
            Lit::Bool(b) => Value::Bool(b),
            Lit::Int(i) => Value::Int(i),
            Lit::Float(x) => Value::Float(x),
            Lit::Str(s) => Value::Str(s),
            Lit::List(l) => Value::Seq(l.into_iter().map(|v| node(v.into_value(node))).collect()),
            Lit::Dict(d) => Value::Map(
                d.into_iter()
                    .map(|(k, v)| {
                        let n = node(v.into_value(node));
                        (
                            crate::yaml::Key {
                                name: k,
                                pos: n.pos,
                            },
                            n,
                        )
                    })
                    .collect(),
            ),
        }
    }
}

fn py_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        x.to_string()
    }
}

/// Most nested brackets (Python gives up on deep nesting too; the parser must not overflow).
const MAX_DEPTH: usize = 100;

struct P<'a> {
    c: &'a [char],
    i: usize,
    depth: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }
    /// Skip blanks and a trailing `#` comment.
    fn skip(&mut self) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' {
                self.i += 1;
            } else if c == '#' {
                self.i = self.c.len();
            } else {
                break;
            }
        }
    }
    fn eat(&mut self, c: char) -> bool {
        self.skip();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `a` or a bare tuple `a, b,`.
    fn expr_list(&mut self) -> Option<Lit> {
        let first = self.expr()?;
        if !self.eat(',') {
            return Some(first);
        }
        let mut items = vec![first];
        loop {
            self.skip();
            if self.i == self.c.len() {
                break;
            }
            items.push(self.expr()?);
            if !self.eat(',') {
                break;
            }
        }
        Some(Lit::List(items))
    }

    fn expr(&mut self) -> Option<Lit> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let v = self.atom();
        self.depth -= 1;
        v
    }

    fn atom(&mut self) -> Option<Lit> {
        self.skip();
        match self.peek()? {
            '-' | '+' => {
                let neg = self.peek() == Some('-');
                self.i += 1;
                self.skip();
                match self.number()? {
                    Lit::Int(i) => Some(Lit::Int(if neg { i.checked_neg()? } else { i })),
                    Lit::Float(x) => Some(Lit::Float(if neg { -x } else { x })),
                    _ => None,
                }
            }
            '[' => {
                self.i += 1;
                self.seq(']').map(Lit::List)
            }
            '(' => {
                self.i += 1;
                self.paren()
            }
            '{' => {
                self.i += 1;
                self.brace()
            }
            c if c.is_ascii_digit() || c == '.' => self.number(),
            _ => self.word_or_string(),
        }
    }

    /// Items up to `close`, commas between, one trailing comma allowed.
    fn seq(&mut self, close: char) -> Option<Vec<Lit>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.expr()?);
            if !self.eat(',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    fn paren(&mut self) -> Option<Lit> {
        if self.eat(')') {
            return Some(Lit::List(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(')') {
            return Some(first);
        }
        if !self.eat(',') {
            return None;
        }
        let mut rest = self.seq(')')?;
        rest.insert(0, first);
        Some(Lit::List(rest))
    }

    fn brace(&mut self) -> Option<Lit> {
        if self.eat('}') {
            return Some(Lit::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if !self.eat(':') {
            // A set: unordered in Python; kept in written order, duplicates dropped.
            let mut items = vec![first];
            if self.eat(',') {
                items.extend(self.seq('}')?);
            } else if !self.eat('}') {
                return None;
            }
            let mut out: Vec<Lit> = Vec::new();
            for i in items {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            return Some(Lit::List(out));
        }
        let mut entries: Vec<(String, Lit)> = Vec::new();
        let mut key = first;
        loop {
            let v = self.expr()?;
            let k = key.key_text()?;
            match entries.iter_mut().find(|(e, _)| *e == k) {
                Some(e) => e.1 = v,
                None => entries.push((k, v)),
            }
            if !self.eat(',') {
                return self.eat('}').then_some(Lit::Dict(entries));
            }
            if self.eat('}') {
                return Some(Lit::Dict(entries));
            }
            key = self.expr()?;
            if !self.eat(':') {
                return None;
            }
        }
    }

    fn number(&mut self) -> Option<Lit> {
        let start = self.i;
        while let Some(c) = self.peek() {
            let exp_sign = matches!(c, '+' | '-')
                && matches!(self.c.get(self.i.wrapping_sub(1)), Some('e' | 'E'))
                && !self.c[start..self.i].iter().any(|c| matches!(c, 'x' | 'X'));
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || exp_sign {
                self.i += 1;
            } else {
                break;
            }
        }
        let text: String = self.c[start..self.i].iter().collect();
        py_number(&text)
    }

    /// `True`, `False`, `None`, `set()`, or one or more adjacent string literals.
    fn word_or_string(&mut self) -> Option<Lit> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.i += 1;
        }
        let word: String = self.c[start..self.i].iter().collect();
        match (word.as_str(), self.peek()) {
            (_, Some('\'' | '"')) => {
                self.i = start;
                self.strings()
            }
            ("True", _) => Some(Lit::Bool(true)),
            ("False", _) => Some(Lit::Bool(false)),
            ("None", _) => Some(Lit::None),
            ("set", Some('(')) => {
                self.i += 1;
                self.eat(')').then_some(Lit::List(Vec::new()))
            }
            _ => None,
        }
    }

    fn strings(&mut self) -> Option<Lit> {
        let mut out = String::new();
        let mut bytes = None;
        loop {
            self.skip();
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            let prefix: String = self.c[start..self.i]
                .iter()
                .collect::<String>()
                .to_lowercase();
            if !matches!(self.peek(), Some('\'' | '"')) {
                self.i = start;
                break;
            }
            let (raw, is_bytes) = match prefix.as_str() {
                "" | "u" => (false, false),
                "r" => (true, false),
                "b" => (false, true),
                "br" | "rb" => (true, true),
                _ => return None,
            };
            if bytes.is_some_and(|b| b != is_bytes) {
                return None;
            }
            bytes = Some(is_bytes);
            out.push_str(&self.string_body(raw)?);
        }
        bytes.map(|_| Lit::Str(out))
    }

    fn string_body(&mut self, raw: bool) -> Option<String> {
        let q = self.peek()?;
        let triple = self.c.get(self.i..self.i + 3) == Some(&[q, q, q][..]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            if c == q && (!triple || self.c.get(self.i..self.i + 3) == Some(&[q, q, q][..])) {
                self.i += if triple { 3 } else { 1 };
                return Some(out);
            }
            self.i += 1;
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = self.peek()?;
            self.i += 1;
            if raw {
                out.push('\\');
                out.push(e);
                continue;
            }
            match e {
                '\\' | '\'' | '"' => out.push(e),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '0'..='7' => {
                    let mut n = e.to_digit(8)?;
                    for _ in 0..2 {
                        match self.peek().and_then(|c| c.to_digit(8)) {
                            Some(d) => {
                                n = n * 8 + d;
                                self.i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(n)?);
                }
                'x' | 'u' | 'U' => {
                    let len = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = self.c.get(self.i..self.i + len)?.iter().collect();
                    self.i += len;
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => {
                    out.push('\\');
                    out.push(e);
                }
            }
        }
    }
}

/// A Python number literal (no sign): ints in any base with `_`, floats, `…j` left alone.
fn py_number(text: &str) -> Option<Lit> {
    let ok_underscores = |s: &str| !s.starts_with('_') && !s.ends_with('_') && !s.contains("__");
    let lower = text.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(d) = lower.strip_prefix(prefix) {
            let d = d.strip_prefix('_').unwrap_or(d);
            if d.is_empty() || !ok_underscores(d) {
                return None;
            }
            return i64::from_str_radix(&d.replace('_', ""), radix)
                .ok()
                .map(Lit::Int);
        }
    }
    if !ok_underscores(text) || lower.ends_with('j') {
        return None;
    }
    let clean = text.replace('_', "");
    if clean.chars().all(|c| c.is_ascii_digit()) {
        // `007` is a syntax error in Python 3; `000` is zero.
        if clean.len() > 1 && clean.starts_with('0') && clean.chars().any(|c| c != '0') {
            return None;
        }
        return clean.parse::<i64>().ok().map(Lit::Int);
    }
    let float_chars = clean
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !float_chars || !clean.chars().any(|c| c.is_ascii_digit()) || text.contains("_.") {
        return None;
    }
    clean.parse::<f64>().ok().map(Lit::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Lit {
        Lit::Str(x.into())
    }

    #[test]
    fn typed_as_ansible_types_ini_values() {
        assert_eq!(typed("22"), Lit::Int(22));
        assert_eq!(typed("-3"), Lit::Int(-3));
        assert_eq!(typed("0x10"), Lit::Int(16));
        assert_eq!(typed("1_000"), Lit::Int(1000));
        assert_eq!(typed("1.5"), Lit::Float(1.5));
        assert_eq!(typed("1e3"), Lit::Float(1000.0));
        assert_eq!(typed("True"), Lit::Bool(true));
        assert_eq!(typed("None"), Lit::None);
        assert_eq!(typed("'x y'"), s("x y"));
        assert_eq!(typed("\"a\" 'b'"), s("ab"));
        assert_eq!(typed("'a\\tb'"), s("a\tb"));
        assert_eq!(typed("r'a\\tb'"), s("a\\tb"));
        assert_eq!(
            typed("[1, 'two', (3, 4)]"),
            Lit::List(vec![
                Lit::Int(1),
                s("two"),
                Lit::List(vec![Lit::Int(3), Lit::Int(4)])
            ])
        );
        assert_eq!(typed("1, 2"), Lit::List(vec![Lit::Int(1), Lit::Int(2)]));
        assert_eq!(
            typed("{'a': 1, 2: [], True: None}"),
            Lit::Dict(vec![
                ("a".into(), Lit::Int(1)),
                ("2".into(), Lit::List(vec![])),
                ("true".into(), Lit::None)
            ])
        );
        assert_eq!(typed("23 # a comment"), Lit::Int(23));
    }

    #[test]
    fn what_python_refuses_stays_text() {
        for t in [
            "yes",
            "true",
            "hello world",
            "007",
            "1+2",
            "--1",
            "{a:1}",
            "'open",
            "f'x'",
            "1j",
            "x.y",
            "-True",
            "10.0.0.1",
            "/usr/bin/python3",
        ] {
            assert_eq!(typed(t), s(t), "{t}");
        }
    }
}
