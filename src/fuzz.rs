//! Entry points for the `cargo fuzz` targets in `fuzz/`: the inventory loader, the playbook
//! loader and the template renderer, fed arbitrary text, each going as far as the real
//! commands go with such input (load, resolve, format the error). Not an API: the loaders stay
//! `pub(crate)`; this is the one door the fuzzers use.

use std::path::Path;

use serde_json::{json, Map, Value as Json};

/// Load an inventory from `text` (as YAML, then as INI); on success walk it as the planner does (every host's
/// variables, the group patterns), on failure format the error as `main` would.
pub fn inventory(text: &str) {
    use crate::inventory::Inventory;
    let loads: [fn(&Path, String) -> _; 2] = [Inventory::from_text, Inventory::from_ini_text];
    for (load, name) in loads.into_iter().zip(["fuzz/inventory.yml", "fuzz/hosts"]) {
        match load(Path::new(name), text.into()) {
            Ok(inv) => {
                for h in inv.host_names() {
                    let _ = inv.host_vars(h);
                    let _ = inv.host_var_nodes(h);
                }
                for g in inv.group_names() {
                    let _ = inv.group_hosts(g);
                    let _ = inv.resolve(&format!("{g}:!{g}&all"));
                }
                let _ = inv.resolve("all");
                let _ = crate::inventory::list::list(&inv, &Map::new());
            }
            Err(e) => {
                let _ = crate::secret::Redactor::default().redact(&e.to_string());
            }
        }
    }
}

/// Load a playbook from `text`; format the error on failure.
pub fn playbook(text: &str) {
    if let Err(e) = crate::playbook::Playbook::from_text(Path::new("fuzz/play.yml"), text.into()) {
        let _ = crate::secret::Redactor::default().redact(&e.to_string());
    }
}

/// Render `src` as a template file, as an argument value and as a command line, with a few
/// variables of every type; find its undeclared names; evaluate it as a condition.
pub fn template(src: &str) {
    let t = crate::template::Templates::new();
    let vars = json!({
        "s": "a b;$(x)'", "n": 3, "f": 1.5, "b": true, "l": [1, "two", [3]],
        "m": {"k": "v", "n": {"x": 1}}, "e": "", "u": null,
    });
    let ctx: Map<String, Json> = vars.as_object().cloned().unwrap_or_default();
    let _ = t.check_syntax(src);
    let _ = t.undeclared(src);
    let _ = t.render_str(src, &ctx);
    let _ = t.render_shell(src, &ctx);
    let _ = t.render_value(&Json::String(src.to_string()), &ctx);
    let _ = t.eval_bool(src, &ctx);
}
