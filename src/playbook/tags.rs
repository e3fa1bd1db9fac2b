//! Which tasks `--tags` and `--skip-tags` select, by Ansible's rules: a task's tags are its own
//! plus its play's (`untagged` when it has none); `all` selects every task but those tagged
//! `never`; a task tagged `always` runs unless `always` itself is skipped; a `never` task runs
//! only when one of its other tags (or `never`) is asked for; `tagged` and `untagged` select by
//! whether a task has tags at all.

/// The selection asked for on the command line.
#[derive(Debug, Clone)]
pub(crate) struct TagFilter {
    only: Vec<String>,
    skip: Vec<String>,
}

fn split(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// No `--tags` or `--skip-tags`: every task but those tagged `never`.
impl Default for TagFilter {
    fn default() -> TagFilter {
        TagFilter::new(&[], &[])
    }
}

impl TagFilter {
    /// From `--tags` and `--skip-tags` values (each may hold several, comma separated).
    pub(crate) fn new(tags: &[String], skip_tags: &[String]) -> TagFilter {
        let mut only = split(tags);
        if only.is_empty() {
            only.push("all".into());
        }
        TagFilter {
            only,
            skip: split(skip_tags),
        }
    }

    /// Whether a task with these (own and inherited) tags runs.
    pub(crate) fn runs(&self, task_tags: &[String]) -> bool {
        let untagged = ["untagged".to_string()];
        let tags: &[String] = if task_tags.is_empty() {
            &untagged
        } else {
            task_tags
        };
        let has = |t: &str| tags.iter().any(|x| x == t);
        let only = |t: &str| self.only.iter().any(|x| x == t);
        let skip = |t: &str| self.skip.iter().any(|x| x == t);
        let any_of = |set: &[String]| tags.iter().any(|t| set.contains(t));
        let tagged = !task_tags.is_empty();
        let selected = has("always")
            || (only("all") && !has("never"))
            || any_of(&self.only)
            || (only("tagged") && tagged && !has("never"));
        if !selected {
            return false;
        }
        if skip("all") {
            return has("always") && !skip("always");
        }
        !(any_of(&self.skip) || (skip("tagged") && tagged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(only: &[&str], skip: &[&str]) -> TagFilter {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        TagFilter::new(&s(only), &s(skip))
    }
    fn t(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_runs_all_but_never() {
        let d = f(&[], &[]);
        assert!(d.runs(&t(&[])));
        assert!(d.runs(&t(&["web"])));
        assert!(d.runs(&t(&["always"])));
        assert!(!d.runs(&t(&["never"])));
        assert!(!d.runs(&t(&["never", "debug"])));
    }

    #[test]
    fn tags_select_and_always_stays() {
        let w = f(&["web,db"], &[]);
        assert!(w.runs(&t(&["web"])));
        assert!(w.runs(&t(&["db", "x"])));
        assert!(!w.runs(&t(&["lb"])));
        assert!(!w.runs(&t(&[])));
        assert!(w.runs(&t(&["always"])));
        assert!(f(&["debug"], &[]).runs(&t(&["never", "debug"])));
        assert!(f(&["never"], &[]).runs(&t(&["never"])));
        assert!(f(&["untagged"], &[]).runs(&t(&[])));
        assert!(!f(&["tagged"], &[]).runs(&t(&[])));
        assert!(f(&["tagged"], &[]).runs(&t(&["x"])));
    }

    #[test]
    fn skip_tags() {
        assert!(!f(&[], &["web"]).runs(&t(&["web"])));
        assert!(f(&[], &["web"]).runs(&t(&["db"])));
        assert!(!f(&[], &["always"]).runs(&t(&["always"])));
        assert!(f(&[], &["all"]).runs(&t(&["always"])));
        assert!(!f(&[], &["all"]).runs(&t(&["web"])));
        assert!(!f(&[], &["untagged"]).runs(&t(&[])));
        assert!(!f(&["web"], &["web"]).runs(&t(&["web"])));
    }
}
