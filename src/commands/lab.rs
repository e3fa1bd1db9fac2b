//! `lvslab lab ...`: the embedded virtual lab's commands.

use std::process::ExitCode;

use super::Global;
use crate::cli::LabCommand;
use crate::{lab, Error};

pub fn run(g: &Global, cmd: &LabCommand) -> Result<ExitCode, Error> {
    let inv = g.inventory.as_path();
    match cmd {
        LabCommand::Up { install_deps } => lab::up(inv, *install_deps)?,
        LabCommand::Down => lab::down(inv)?,
        LabCommand::Status => lab::status::print(inv, g.json)?,
        LabCommand::Ssh { node, command } => return Ok(lab::ssh_node(inv, node, command)?),
        LabCommand::Reboot { node } => lab::reboot(inv, node)?,
        LabCommand::Reset { node } => lab::reset(inv, node.as_deref())?,
        LabCommand::SshConfig => print!("{}", lab::ssh_config::render(inv)?),
        LabCommand::Destroy => lab::destroy(inv)?,
        LabCommand::Proxy { host, port } => lab::proxy(inv, host, *port)?,
    }
    Ok(ExitCode::SUCCESS)
}
