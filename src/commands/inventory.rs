//! `lvslab inventory --list | --host NAME`: the inventory as lvslab resolved it, in
//! `ansible-inventory`'s JSON shape, so it can be compared with Ansible's view or fed to tools
//! that read that shape. Nothing is contacted.

use std::process::ExitCode;

use super::Global;
use crate::cli::InventoryArgs;
use crate::inventory::{list, Inventory};
use crate::{exit, plan, Error};

pub fn run(g: &Global, a: &InventoryArgs) -> Result<ExitCode, Error> {
    let dir = a.playbook.as_deref().map(|p| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    });
    let inv = Inventory::load_with(&g.inventory, dir.as_deref())?;
    plan::print_inventory_warnings(&inv);
    let extra = plan::parse_extra(&a.extra_vars)?;
    let doc = match &a.host {
        Some(h) => list::host(&inv, h, &extra).ok_or_else(|| {
            Error::Usage(format!(
                "--host {h}: no such host in {}",
                g.inventory.display()
            ))
        })?,
        None => list::list(&inv, &extra),
    };
    // Four spaces and sorted keys, as `ansible-inventory` prints: the two outputs can be diffed.
    let mut text = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut text, fmt);
    serde::Serialize::serialize(&doc, &mut ser).map_err(|e| Error::Usage(e.to_string()))?;
    let mut secrets = inv.secrets().clone();
    secrets.add_vars(&extra);
    println!("{}", secrets.redact(&String::from_utf8_lossy(&text)));
    Ok(ExitCode::from(exit::SUCCESS))
}
