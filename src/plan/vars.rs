//! Variable resolution and secrets. Values may be templates referring to other variables
//! (`vip_cidr: "{{ lvs_vip }}/32"`): they are rendered in passes until nothing changes; values
//! that need facts or registered results stay templated until run time.

use serde_json::{Map, Value as Json};

use crate::template::{is_templated, TemplateError, Templates};

pub(crate) fn has_template(v: &Json) -> bool {
    match v {
        Json::String(s) => is_templated(s),
        Json::Array(a) => a.iter().any(has_template),
        Json::Object(m) => m.values().any(has_template),
        _ => false,
    }
}

/// `vars` overlaid with `extra` (highest precedence), templated values rendered where all the
/// names they use are known. Errors only for names no later stage can define are left to the
/// caller; a template failing for another reason (syntax, wrong type) is returned.
pub(crate) fn resolve_templated(
    t: &Templates,
    vars: &Map<String, Json>,
    extra: &Map<String, Json>,
) -> Result<Map<String, Json>, (String, TemplateError)> {
    let mut ctx = vars.clone();
    for (k, v) in extra {
        ctx.insert(k.clone(), v.clone());
    }
    for _ in 0..8 {
        let mut progress = false;
        // `hostvars` is resolved per host when the plan is built, in each host's own context.
        let pending: Vec<String> = ctx
            .iter()
            .filter(|(k, v)| k.as_str() != "hostvars" && has_template(v))
            .map(|(k, _)| k.clone())
            .collect();
        if pending.is_empty() {
            break;
        }
        for k in pending {
            let Some(v) = ctx.get(&k).cloned() else {
                continue;
            };
            let mut probe = ctx.clone();
            probe.remove(&k);
            match t.render_value(&v, &probe) {
                Ok(r) => {
                    if !has_template(&r) || r != v {
                        ctx.insert(k, r);
                        progress = true;
                    }
                }
                Err(e) if e.msg.starts_with("undefined") => {}
                Err(e) => return Err((k, e)),
            }
        }
        if !progress {
            break;
        }
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_chains_and_leaves_runtime_ones() {
        let t = Templates::new();
        let vars = json!({"a": "{{ b }}/32", "b": "{{ c }}", "c": "10.0.0.1", "f": "{{ ansible_facts.x }}"});
        let r = resolve_templated(&t, vars.as_object().unwrap(), &Map::new()).unwrap();
        assert_eq!(r["a"], "10.0.0.1/32");
        assert_eq!(r["f"], "{{ ansible_facts.x }}");
    }

    #[test]
    fn extra_vars_win() {
        let t = Templates::new();
        let vars = json!({"a": "1", "b": "{{ a }}"});
        let extra = json!({"a": "2"});
        let r =
            resolve_templated(&t, vars.as_object().unwrap(), extra.as_object().unwrap()).unwrap();
        assert_eq!(r["b"], "2");
    }
}
