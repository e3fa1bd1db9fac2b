//! The shared body of every command that runs a playbook (`setup`, `teardown`, `run`, and
//! `ping`, a run with no playbook): load → plan → execute → report.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{status, Global};
use crate::inventory::Inventory;
use crate::plan::PlaybookSource;
use crate::{exec, plan, report, Error};

/// What every changing run can be narrowed or softened by (`--check`, `--diff`, `--limit`,
/// `--tags`, `--skip-tags`), or replaced with a look at its plan (`--list-hosts`,
/// `--list-tasks`, `--syntax-check`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub check: bool,
    pub diff: bool,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub list_hosts: bool,
    pub list_tasks: bool,
    pub syntax_check: bool,
}

impl From<&crate::cli::RunOpts> for Options {
    fn from(o: &crate::cli::RunOpts) -> Options {
        Options {
            check: o.check,
            diff: o.diff,
            limit: o.limit.clone(),
            tags: o.tags.clone(),
            skip_tags: o.skip_tags.clone(),
            list_hosts: o.list_hosts,
            list_tasks: o.list_tasks,
            syntax_check: o.syntax_check,
        }
    }
}

/// The playbook a command runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Which<'a> {
    /// None: gather facts only (`ping`).
    FactsOnly,
    /// A user's playbook file (`run PLAYBOOK`).
    File(&'a Path),
    /// A playbook lvslab ships: the user's copy where one overrides it, else the built-in one.
    Shipped(&'static str),
}

/// One playbook run, as a command asks for it.
pub(crate) struct PlaybookRun<'a> {
    /// The command's name, for the recap and the JSON document.
    pub(crate) command: &'a str,
    pub(crate) playbook: Which<'a>,
    pub(crate) options: &'a Options,
    pub(crate) extra_vars: Vec<String>,
    /// Check the inventory's LVS vocabulary too (`setup`; `run`'s playbook may be about
    /// anything).
    pub(crate) lvs: bool,
}

pub(crate) fn execute(g: &Global, r: PlaybookRun<'_>) -> Result<ExitCode, Error> {
    let shipped;
    let playbook = match r.playbook {
        Which::FactsOnly => None,
        Which::File(p) => Some(PlaybookSource::File(p)),
        Which::Shipped(name) => {
            shipped = crate::assets::shipped(name, g.playbook_dir.as_deref(), &g.inventory)
                .map_err(Error::Usage)?;
            Some(PlaybookSource::Shipped(&shipped))
        }
    };
    let vars_dir = playbook.as_ref().and_then(PlaybookSource::vars_dir);
    let inventory =
        Inventory::load_with(&g.inventory, vars_dir.as_deref()).map_err(plan::PlanError::from)?;
    plan::print_inventory_warnings(&inventory);
    let route = crate::lab::route(&inventory);
    let mut plan = plan::build(&plan::Request {
        inventory: &inventory,
        route: route.as_ref(),
        playbook,
        limit: r.options.limit.as_deref(),
        extra_vars: &r.extra_vars,
        check: r.options.check,
        lvs: r.lvs,
        tags: crate::playbook::tags::TagFilter::new(&r.options.tags, &r.options.skip_tags),
    })?;
    plan.default_passwords(&g.asked);
    if g.accept_new_host_keys {
        plan.accept_new_host_keys();
    }
    plan::print_warnings(&plan);
    let o = r.options;
    if o.list_hosts || o.list_tasks || o.syntax_check {
        print!(
            "{}",
            plan::listing::render(&plan, o.list_hosts, o.list_tasks)
        );
        return Ok(status(true));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let (tx, reporter) = report::spawn(
        report::ReportOptions {
            json: g.json,
            verbose: g.verbose,
            diff: r.options.diff,
            check: r.options.check,
            command: r.command.to_string(),
            color: g.color,
            quiet: g.quiet,
        },
        plan.order.clone(),
        plan.secrets.clone(),
    );
    let opts = exec::Options {
        check: r.options.check,
        diff: r.options.diff,
        forks: g.forks,
    };
    rt.block_on(exec::run(Arc::new(plan), opts, tx));
    // A reporter that died took the recap with it: what the run did is unknown, so it failed.
    let summary = reporter.join().map_err(|_| Error::Reporter)?;
    Ok(status(summary.success()))
}
