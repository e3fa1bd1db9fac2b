//! Templating: one minijinja environment with strict undefined (a misspelt variable is an error,
//! never an empty string), Ansible's habits (`trim_blocks`, trailing newline kept, a whole-value
//! `"{{ x }}"` keeps x's type), a few Ansible filters, and the plan-time analysis that finds
//! undefined variables before any host is contacted.

use std::collections::{BTreeSet, HashSet};

mod limits;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

/// The name command lines are rendered under: every `{{ }}` output becomes one quoted shell
/// word, so a variable's value can never become shell syntax (`| safe` opts out on purpose).
const SHELL_TEMPLATE: &str = "<shell command>";
use serde_json::{Map, Value as Json};

/// The shared template environment.
pub(crate) struct Templates {
    env: Environment<'static>,
    globals: HashSet<String>,
}

/// A template failure, with the undefined variables it found when that was the cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{msg}")]
pub struct TemplateError {
    pub(crate) msg: String,
    /// 1-based line inside the template text, when known.
    pub(crate) line: Option<usize>,
    /// Byte offset inside the template text, when known.
    pub(crate) offset: Option<usize>,
}

/// Where `}}` closes the top level of an expression (outside string literals and brackets), if
/// it does: minijinja's lexer would end the expression there.
fn top_level_variable_end(src: &str) -> Option<usize> {
    let b = src.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b'}' if depth == 0 && b.get(i + 1) == Some(&b'}') => return Some(i),
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Does this string need rendering at all?
pub(crate) fn is_templated(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Compare dotted versions numerically (`2.2.7` > `1.3.5`; missing parts count as 0).
pub(crate) fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<u64> {
        s.split(['.', '-', '_'])
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    let (x, y) = (parts(a), parts(b));
    for i in 0..x.len().max(y.len()) {
        let o = x.get(i).unwrap_or(&0).cmp(y.get(i).unwrap_or(&0));
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

/// Ansible's `version` test: `keepalived_version is version('2.0', '>=')`.
fn version_test(v: Value, other: String, op: Option<String>) -> Result<bool, minijinja::Error> {
    use std::cmp::Ordering::*;
    let a = v.to_string();
    let o = compare_versions(&a, &other);
    Ok(match op.as_deref().unwrap_or("==") {
        "<" | "lt" => o == Less,
        "<=" | "le" => o != Greater,
        ">" | "gt" => o == Greater,
        ">=" | "ge" => o != Less,
        "==" | "=" | "eq" => o == Equal,
        "!=" | "<>" | "ne" => o != Equal,
        other => {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("unknown version comparison `{other}`"),
            ))
        }
    })
}

fn to_bool(v: Value) -> bool {
    if let Some(s) = v.as_str() {
        return matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "yes" | "on" | "1" | "true" | "y"
        );
    }
    v.is_true()
}

impl Templates {
    pub(crate) fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_fuel(Some(limits::FUEL));
        env.set_keep_trailing_newline(true);
        env.add_filter("bool", to_bool);
        // Already a shell word: marked safe so shell escaping (below) leaves it alone.
        env.add_filter("quote", |s: String| {
            Value::from_safe_string(crate::quote::quote(&s))
        });
        env.set_auto_escape_callback(|name| {
            if name == SHELL_TEMPLATE {
                AutoEscape::Custom("shell")
            } else {
                minijinja::default_auto_escape_callback(name)
            }
        });
        env.set_formatter(|out, state, value| {
            limits::check_printable(value)?;
            if state.auto_escape() == AutoEscape::Custom("shell") && !value.is_safe() {
                out.write_str(&crate::quote::quote(&value.to_string()))?;
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        env.add_filter("to_json", |v: Value| {
            serde_json::to_string(&v).unwrap_or_default()
        });
        env.add_filter("to_nice_json", |v: Value| {
            serde_json::to_string_pretty(&v).unwrap_or_default()
        });
        env.add_filter(
            "ternary",
            |v: Value, a: Value, b: Value| {
                if to_bool(v) {
                    a
                } else {
                    b
                }
            },
        );
        env.add_filter("mandatory", |v: Value| -> Result<Value, minijinja::Error> {
            if v.is_undefined() {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::UndefinedError,
                    "mandatory variable is not defined",
                ))
            } else {
                Ok(v)
            }
        });
        env.add_test("version", version_test);
        env.add_test("version_compare", version_test);
        env.add_filter("version_compare", version_test);
        // Ansible's `combine`: later mappings win (shallow).
        env.add_filter(
            "combine",
            |base: Value, rest: minijinja::value::Rest<Value>| -> Result<Value, minijinja::Error> {
                let mut out: std::collections::BTreeMap<String, Value> =
                    std::collections::BTreeMap::new();
                for m in std::iter::once(&base).chain(rest.iter()) {
                    for k in m.try_iter()? {
                        let v = m.get_item(&k)?;
                        out.insert(k.to_string(), v);
                    }
                }
                Ok(Value::from_iter(out))
            },
        );
        // Ansible's `extract`: `groups['web'] | map('extract', hostvars, 'ansible_host')`.
        env.add_filter(
            "extract",
            |key: Value,
             container: Value,
             more: Option<Value>|
             -> Result<Value, minijinja::Error> {
                let v = container.get_item(&key)?;
                match more {
                    Some(k) => v.get_item(&k),
                    None => Ok(v),
                }
            },
        );
        env.add_filter("regex_escape", |s: String| {
            s.chars()
                .flat_map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        vec![c]
                    } else {
                        vec!['\\', c]
                    }
                })
                .collect::<String>()
        });
        let globals = env.globals().map(|(k, _)| k.to_string()).collect();
        Templates { env, globals }
    }

    fn explain(&self, e: &minijinja::Error, src: &str, ctx: &Map<String, Json>) -> TemplateError {
        let missing: BTreeSet<String> = self
            .undeclared(src)
            .into_iter()
            .filter(|v| !ctx.contains_key(v))
            .collect();
        let msg = if e.kind() == minijinja::ErrorKind::OutOfFuel {
            format!(
                "too much work: rendering stopped after {} steps (a loop far too large?)",
                limits::FUEL
            )
        } else if e.kind() == minijinja::ErrorKind::UndefinedError && !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
            format!("undefined variable {}", names.join(", "))
        } else {
            let mut m = e.kind().to_string();
            if let Some(d) = e.detail() {
                m = format!("{m}: {d}");
            }
            m
        };
        let offset = e
            .range()
            .map(|r| r.start)
            .or_else(|| missing.iter().next().and_then(|name| find_word(src, name)));
        TemplateError {
            msg,
            line: e.line(),
            offset,
        }
    }

    /// A variable every host of the run sees alike (`hostvars`): converted for the template
    /// engine once, instead of being copied into every host's context and converted again at
    /// every render (at 100 hosts, that copying was most of lvslab's own CPU time). A context
    /// variable of the same name wins.
    pub(crate) fn share(&mut self, name: &'static str, value: &Json) {
        self.env.add_global(name, Value::from_serialize(value));
        self.globals.insert(name.to_string());
    }

    /// Variables a template or expression reads that it does not define itself, minus the
    /// environment's globals (functions like `range`, shared variables).
    pub(crate) fn undeclared(&self, src: &str) -> HashSet<String> {
        let vars = match self.env.template_from_str(src) {
            Ok(t) => t.undeclared_variables(false),
            Err(_) => HashSet::new(),
        };
        vars.into_iter()
            .filter(|v| !self.globals.contains(v))
            .collect()
    }

    /// Compile an expression. minijinja's expression lexer starts inside `{{ }}`, so a `}}` at
    /// the top level ends it, and anything after that makes it panic (found by fuzzing
    /// `when: "}} x"`): such expressions are refused here as the syntax error they are.
    fn expression<'s>(
        &'s self,
        src: &'s str,
    ) -> Result<minijinja::Expression<'s, 's>, minijinja::Error> {
        if top_level_variable_end(src).is_some() {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::SyntaxError,
                "unexpected `}}` in an expression",
            ));
        }
        self.env.compile_expression(src)
    }

    /// Variables an expression (`when:`) reads.
    pub(crate) fn undeclared_expr(&self, src: &str) -> HashSet<String> {
        match self.expression(src) {
            Ok(e) => e
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !self.globals.contains(v))
                .collect(),
            Err(_) => HashSet::new(),
        }
    }

    /// Check a template's syntax without rendering it.
    pub(crate) fn check_syntax(&self, src: &str) -> Result<(), TemplateError> {
        self.env
            .template_from_str(src)
            .map(|_| ())
            .map_err(|e| self.explain(&e, src, &Map::new()))
    }

    /// Check an expression's syntax without evaluating it.
    pub(crate) fn check_expr_syntax(&self, src: &str) -> Result<(), TemplateError> {
        self.expression(src)
            .map(|_| ())
            .map_err(|e| self.explain(&e, src, &Map::new()))
    }

    /// Render a template text to a string.
    pub(crate) fn render_str(
        &self,
        src: &str,
        ctx: &Map<String, Json>,
    ) -> Result<String, TemplateError> {
        self.render_named("<string>", src, ctx)
    }

    /// Render a command line (`shell`, `command`'s `cmd`): each expression's output is quoted
    /// as one shell word; `| quote` and `| safe` output is left as it is.
    pub(crate) fn render_shell(
        &self,
        src: &str,
        ctx: &Map<String, Json>,
    ) -> Result<String, TemplateError> {
        self.render_named(SHELL_TEMPLATE, src, ctx)
    }

    /// The template's name chooses its escaping (see the auto-escape callback).
    fn render_named(
        &self,
        name: &str,
        src: &str,
        ctx: &Map<String, Json>,
    ) -> Result<String, TemplateError> {
        if !is_templated(src) {
            return Ok(src.to_string());
        }
        let t = self
            .env
            .template_from_named_str(name, src)
            .map_err(|e| self.explain(&e, src, ctx))?;
        let mut out = limits::Bounded::default();
        match t.render_captured_to(ctx, &mut out) {
            Ok(_) => Ok(String::from_utf8_lossy(&out.buf).into_owned()),
            Err(_) if out.overflow => Err(TemplateError {
                msg: format!("rendered text larger than {} MiB", limits::MAX_OUTPUT >> 20),
                line: None,
                offset: None,
            }),
            Err(e) => Err(self.explain(&e, src, ctx)),
        }
    }

    /// Render a module's arguments: `shell_args` are command lines ([`Self::render_shell`]),
    /// everything else as [`Self::render_value`].
    pub(crate) fn render_args(
        &self,
        args: &Json,
        ctx: &Map<String, Json>,
        shell_args: &[&str],
    ) -> Result<Json, TemplateError> {
        let Json::Object(m) = args else {
            return self.render_value(args, ctx);
        };
        let mut out = Map::new();
        for (k, v) in m {
            let r = match v {
                Json::String(s) if shell_args.contains(&k.as_str()) => {
                    Json::String(self.render_shell(s, ctx)?)
                }
                other => self.render_value(other, ctx)?,
            };
            out.insert(k.clone(), r);
        }
        Ok(Json::Object(out))
    }

    /// Render one argument value: strings are rendered; a string that is exactly one
    /// `{{ expression }}` keeps the expression's type (a list stays a list); containers recurse.
    pub(crate) fn render_value(
        &self,
        v: &Json,
        ctx: &Map<String, Json>,
    ) -> Result<Json, TemplateError> {
        // A variable's value may itself be a template that could not be resolved earlier (it
        // needed facts): render again, a few rounds, so it is resolved — or fails loudly —
        // instead of reaching the node as literal `{{ ... }}`.
        let mut out = self.render_once(v, ctx)?;
        for _ in 0..4 {
            match &out {
                Json::String(s) if is_templated(s) && Json::String(s.clone()) != *v => {
                    let next = self.render_once(&out, ctx)?;
                    if next == out {
                        break;
                    }
                    out = next;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    fn render_once(&self, v: &Json, ctx: &Map<String, Json>) -> Result<Json, TemplateError> {
        match v {
            Json::String(s) if is_templated(s) => {
                if let Some(expr) = single_expression(s) {
                    let e = self
                        .expression(expr)
                        .map_err(|e| self.explain(&e, expr, ctx))?;
                    let out = e.eval(ctx).map_err(|e| self.explain(&e, expr, ctx))?;
                    if out.is_undefined() {
                        return Err(TemplateError {
                            msg: format!("undefined value `{expr}`"),
                            line: None,
                            offset: None,
                        });
                    }
                    // Strings stay strings; everything else keeps its type.
                    return limits::to_json(&out).map_err(|msg| TemplateError {
                        msg,
                        line: None,
                        offset: None,
                    });
                }
                Ok(Json::String(self.render_str(s, ctx)?))
            }
            Json::Array(a) => a
                .iter()
                .map(|x| self.render_value(x, ctx))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            Json::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.render_value(x, ctx)?);
                }
                Ok(Json::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    /// Evaluate a condition (`when:`, `assert: that:`): a bare expression, or a `{{ }}` one.
    pub(crate) fn eval_bool(
        &self,
        src: &str,
        ctx: &Map<String, Json>,
    ) -> Result<bool, TemplateError> {
        let expr = single_expression(src.trim()).unwrap_or(src);
        let e = self
            .expression(expr)
            .map_err(|e| self.explain(&e, expr, ctx))?;
        let v = e.eval(ctx).map_err(|e| self.explain(&e, expr, ctx))?;
        if v.is_undefined() {
            return Err(TemplateError {
                msg: format!("undefined value in condition `{expr}`"),
                line: None,
                offset: None,
            });
        }
        Ok(to_bool(v))
    }
}

/// `"{{ expr }}"` (and nothing else) → `expr`.
pub(crate) fn single_expression(s: &str) -> Option<&str> {
    // No trimming: `"{{ x }}\n"` is a string with a newline, not x.
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    Some(inner.trim())
}

/// Byte offset of the first whole-word occurrence of `word` in `src`.
pub(crate) fn find_word(src: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut start = 0;
    while let Some(i) = src[start..].find(word) {
        let at = start + i;
        let before = src[..at].chars().next_back();
        let after = src[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(at);
        }
        start = at + word.len();
    }
    None
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap()
    }

    /// Fuzzing regression (fuzz/artifacts/template, input `}}\0`): minijinja's expression lexer
    /// panicked ("empty lexer stack") on anything after a top-level `}}`.
    #[test]
    fn premature_variable_end_in_an_expression_is_an_error_not_a_panic() {
        let t = Templates::new();
        let c = ctx(json!({"x": 1}));
        for src in ["}}\0", "}} x", "x }} and y", "x -}} y"] {
            let e = t.eval_bool(src, &c).unwrap_err();
            assert!(
                e.msg.contains("unexpected `}}` in an expression"),
                "{src}: {e}"
            );
            assert!(t.check_expr_syntax(src).is_err(), "{src}");
            assert!(t.undeclared_expr(src).is_empty());
            assert!(t.render_value(&json!("{{ x }} }} x"), &c).is_ok());
        }
        assert_eq!(top_level_variable_end("{'a': {'b': 1}} == x"), None);
        assert_eq!(top_level_variable_end("x == '}}' or x == \"}}\""), None);
        assert!(t.eval_bool("{'a': {'b': 1}}['a']['b'] == x", &c).unwrap());
        assert!(!t.eval_bool("'}}' == x", &c).unwrap());
    }

    /// Fuzzing regressions: renders that would hang or exhaust memory end in an error.
    #[test]
    fn runaway_renders_are_bounded() {
        let t = Templates::new();
        let c = ctx(json!({}));
        let e = t
            .render_str(
                "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
                &c,
            )
            .unwrap_err();
        assert!(
            e.msg.starts_with("too much work: rendering stopped after"),
            "{e}"
        );
        let e = t.render_str("{{ ['x' * 100000] * 100 }}", &c).unwrap_err();
        assert_eq!(e.msg, "rendered text larger than 4 MiB");
        let e = t.render_str("{{ [1] * 1000000000 }}", &c).unwrap_err();
        assert_eq!(
            e.msg,
            "invalid operation: value too large: more than 1000000 items"
        );
        // The item budget (1 000 000 in use) on a small scale: lazy repetitions stop early.
        let env = minijinja::Environment::new();
        for (src, budget) in [
            ("[1] * 1000000000", 1000),
            ("[[1] * 100000] * 100000", 1000),
        ] {
            let v = env.compile_expression(src).unwrap().eval(()).unwrap();
            assert_eq!(
                limits::to_json_within(&v, budget).unwrap_err(),
                "value too large: more than 1000 items"
            );
        }
        assert_eq!(
            t.render_value(&json!("{{ [1, [2], {'a': 3}] * 2 }}"), &c)
                .unwrap(),
            json!([1, [2], {"a": 3}, 1, [2], {"a": 3}])
        );
    }

    #[test]
    fn command_lines_quote_each_expression_once() {
        let t = Templates::new();
        let c = ctx(json!({"x": "a b;$(id)'", "p": "/etc/x.conf", "n": 3}));
        let q = r#"'a b;$(id)'\'''"#;
        assert_eq!(
            t.render_shell("echo {{ x }} {{ p }} {{ n }}", &c).unwrap(),
            format!("echo {q} /etc/x.conf 3")
        );
        assert_eq!(
            t.render_shell("echo {{ x | quote }} {{ 'a;b' | safe }}", &c)
                .unwrap(),
            format!("echo {q} a;b")
        );
        // Outside command lines nothing is quoted but what `quote` quotes.
        assert_eq!(
            t.render_str("{{ x | quote }} {{ x }}", &c).unwrap(),
            format!("{q} a b;$(id)'")
        );
    }

    #[test]
    fn strict_undefined_names_the_variable() {
        let t = Templates::new();
        let e = t
            .render_str("vip {{ lvs_vipp }}", &ctx(json!({"lvs_vip": "1.2.3.4"})))
            .unwrap_err();
        assert_eq!(e.msg, "undefined variable `lvs_vipp`");
        assert_eq!(e.offset, Some(7));
    }

    #[test]
    fn whole_expression_keeps_type() {
        let t = Templates::new();
        let c = ctx(json!({"xs": [1, 2], "n": 3}));
        assert_eq!(
            t.render_value(&json!("{{ xs }}"), &c).unwrap(),
            json!([1, 2])
        );
        assert_eq!(t.render_value(&json!("{{ n + 1 }}"), &c).unwrap(), json!(4));
        assert_eq!(
            t.render_value(&json!("n={{ n }}"), &c).unwrap(),
            json!("n=3")
        );
    }

    #[test]
    fn defaults_and_defined_work_in_strict_mode() {
        let t = Templates::new();
        let c = ctx(json!({}));
        assert_eq!(t.render_str("{{ x | default('d') }}", &c).unwrap(), "d");
        assert!(!t.eval_bool("x is defined", &c).unwrap());
        assert!(t.eval_bool("{{ 'yes' | bool }}", &c).unwrap());
    }

    #[test]
    fn trailing_newline_and_trim_blocks() {
        let t = Templates::new();
        let c = ctx(json!({"xs": ["a", "b"]}));
        assert_eq!(
            t.render_str("{% for x in xs %}\n{{ x }}\n{% endfor %}\n", &c)
                .unwrap(),
            "a\nb\n"
        );
    }

    #[test]
    fn undeclared_excludes_locals_and_globals() {
        let t = Templates::new();
        let u = t.undeclared("{% for x in xs %}{{ x }}{{ range(3) }}{% endfor %}{{ y.z }}");
        let mut u: Vec<_> = u.into_iter().collect();
        u.sort();
        assert_eq!(u, vec!["xs", "y"]);
    }

    #[test]
    fn variables_holding_templates_are_rendered_through() {
        let t = Templates::new();
        let c = ctx(json!({"a": "{{ b }}", "b": "{{ missing }}"}));
        let e = t.render_value(&json!("x {{ a }}"), &c).unwrap_err();
        assert_eq!(e.msg, "undefined variable `missing`");
        let c = ctx(json!({"a": "{{ b }}/32", "b": "10.0.0.1"}));
        assert_eq!(
            t.render_value(&json!("{{ a }}"), &c).unwrap(),
            json!("10.0.0.1/32")
        );
    }

    #[test]
    fn version_test_and_combine() {
        let t = Templates::new();
        let c = ctx(json!({"kv": "2.2.7", "old": "1.3.5", "a": {"x": 1, "y": 2}, "b": {"y": 3}}));
        assert!(t.eval_bool("kv is version('2.0', '>=')", &c).unwrap());
        assert!(!t.eval_bool("old is version('2.0', '>=')", &c).unwrap());
        assert!(t.eval_bool("old is version('1.3.5')", &c).unwrap());
        assert!(t.eval_bool("'1.10' is version('1.9', 'gt')", &c).unwrap());
        assert_eq!(
            t.render_value(&json!("{{ a | combine(b) }}"), &c).unwrap(),
            json!({"x": 1, "y": 3})
        );
    }

    #[test]
    fn extract_filter_like_ansible() {
        let t = Templates::new();
        let c = ctx(
            json!({"groups": {"rs": ["a", "b"]}, "hostvars": {"a": {"ip": "1"}, "b": {"ip": "2"}}}),
        );
        assert_eq!(
            t.render_value(
                &json!("{{ groups.rs | map('extract', hostvars, 'ip') | list }}"),
                &c
            )
            .unwrap(),
            json!(["1", "2"])
        );
    }

    #[test]
    fn syntax_error_has_line() {
        let t = Templates::new();
        let e = t.check_syntax("a\n{% if %}\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.msg.starts_with("syntax error"), "{}", e.msg);
    }

    #[test]
    fn line_col_of_offset() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(find_word("xfoo foo", "foo"), Some(5));
    }
}
