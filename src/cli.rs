//! The command-line contract, as clap derive types.
//!
//! This module only records what was asked; turning it into a runnable plan is the job of the
//! layers behind `lvslab::run`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "lvslab",
    version,
    about = "Provision, verify and tear down an LVS + keepalived lab over SSH",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Inventory: an Ansible YAML or INI file, or a directory of them, with group_vars/ and
    /// host_vars/ beside it. Default: $LVSLAB_INVENTORY, else ./inventory/lab.yml.
    #[arg(
        short = 'i',
        long = "inventory",
        global = true,
        env = "LVSLAB_INVENTORY",
        value_name = "PATH"
    )]
    pub inventory: Option<PathBuf>,

    /// Directory whose playbooks/ and templates/ replace the built-in ones of setup and
    /// teardown. Default: beside the inventory, or beside the directory holding it.
    #[arg(long, global = true, value_name = "DIR")]
    pub playbook_dir: Option<PathBuf>,

    /// More output: -v shows remote commands, -vv also their stdout/stderr, -vvv adds ssh's
    /// own debug output under each host (-vvvv, -vvvvv: ssh -vv, -vvv).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less output: failures and the recap only.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour the recap, task results and diffs. `auto`: on a terminal, unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,

    /// One JSON document on stdout at the end; human output goes to stderr.
    #[arg(long, global = true)]
    pub json: bool,

    /// How many hosts are worked on at once.
    #[arg(long, global = true, default_value_t = 50)]
    pub forks: usize,

    /// Record the host key of a host not yet in known_hosts (ssh's `accept-new`). A key that
    /// differs from the recorded one is still refused.
    #[arg(long, global = true)]
    pub accept_new_host_keys: bool,

    /// Ask for the ssh login password (for hosts without `ansible_password`).
    #[arg(short = 'k', long, global = true)]
    pub ask_pass: bool,

    /// Ask for the `become` password (for hosts without `ansible_become_password`).
    #[arg(short = 'K', long, global = true)]
    pub ask_become_pass: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring the nodes to a working LVS (+ keepalived) cluster: runs playbooks/setup.yml.
    Setup(SetupArgs),
    /// Check the running lab end to end; changes nothing.
    Verify(VerifyArgs),
    /// Restore every node to what it was before the first setup: runs playbooks/teardown.yml.
    Teardown(TeardownArgs),
    /// Send a few requests to the VIP and show every hop of their packets, and what the director
    /// changed in them (embedded lab); exit 1 when they contradict the configured method.
    Trace(TraceArgs),
    /// Run any playbook against the inventory.
    Run {
        /// The playbook file.
        playbook: PathBuf,
        #[command(flatten)]
        opts: RunOpts,
        /// Extra variables, highest precedence.
        #[arg(short = 'e', long = "extra-vars", value_name = "KEY=VALUE")]
        extra_vars: Vec<String>,
    },
    /// Reach every host and print its facts summary.
    Ping {
        /// Only hosts matching this pattern.
        #[arg(long, short = 'l')]
        limit: Option<String>,
    },
    /// The embedded virtual lab built from the inventory.
    #[command(subcommand)]
    Lab(LabCommand),
    /// The whole tour: lab up, setup, verify, failover drill, teardown, lab down.
    Demo,
    /// Print a shell completion script (e.g. `lvslab completions bash > /etc/bash_completion.d/lvslab`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `lvslab man | man -l -`).
    Man,
    /// Print the resolved inventory as `ansible-inventory` does (JSON); contacts nobody.
    Inventory(InventoryArgs),
    /// Write an editable copy of the shipped inventory, playbooks and templates into DIR
    /// (created if missing; no existing file is overwritten).
    Init {
        /// The directory to write `inventory/`, `playbooks/` and `templates/` into.
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["list", "host"])))]
pub struct InventoryArgs {
    /// Every group with its hosts and children, and every host's merged variables.
    #[arg(long)]
    pub list: bool,
    /// One host's merged variables.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Also apply the group_vars/ and host_vars/ beside this playbook.
    #[arg(long, value_name = "FILE")]
    pub playbook: Option<PathBuf>,
    /// Extra variables, merged over every host's (KEY=VALUE ..., @FILE, or YAML/JSON).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorArg {
    #[default]
    Auto,
    Always,
    Never,
}

/// A few command lines to start from, shown under `--help` and in the manual page.
const EXAMPLES: &str = "\
Examples:
  lvslab demo                          the whole job on the embedded microVM lab
  lvslab lab up && lvslab setup        boot the lab, then build the LVS-DR cluster with keepalived
  lvslab verify --failover             prove it works, then drill the failovers
  lvslab trace --pcap /tmp/lvs         watch the director rewrite packets, hop by hop
  lvslab -i ~/lab/hosts setup --check  what setup would change on your own hosts
  lvslab teardown                      restore every node as it was
  lvslab inventory --list              the inventory as lvslab reads it, in ansible-inventory's JSON
  lvslab setup --list-tasks -t web     what setup would run with tag web; contacts nobody
  lvslab init mylab                    an editable copy of the inventory, playbooks and templates

Exit status: 0 success; 1 the job ran and something failed; 2 invalid input (nothing was run).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Mode {
    /// keepalived on both directors owns the VIP and the IPVS table.
    #[default]
    Ha,
    /// One director; the tool adds the VIP alias and the ipvsadm rules itself.
    Lvs,
}

#[derive(Debug, Args)]
pub struct RunOpts {
    /// Report what would change; change nothing.
    #[arg(long, short = 'C')]
    pub check: bool,
    /// Show unified diffs of changed content.
    #[arg(long, short = 'D')]
    pub diff: bool,
    /// Only hosts matching this pattern (host, group, a:b, !x, &g).
    #[arg(long, short = 'l')]
    pub limit: Option<String>,
    /// Only tasks with one of these tags (comma separated; `always` tasks still run, `never`
    /// tasks only when asked for by a tag of theirs).
    #[arg(long, short = 't', value_name = "TAGS")]
    pub tags: Vec<String>,
    /// Skip tasks with one of these tags (comma separated).
    #[arg(long, value_name = "TAGS")]
    pub skip_tags: Vec<String>,
    /// Print each play's hosts; contact nobody, run nothing.
    #[arg(long)]
    pub list_hosts: bool,
    /// Print each play's tasks (as --tags and --skip-tags leave them); contact nobody.
    #[arg(long)]
    pub list_tasks: bool,
    /// Check the playbook, inventory, variables and templates; contact nobody.
    #[arg(long)]
    pub syntax_check: bool,
}

impl RunOpts {
    /// Only looks at the plan: no host is contacted, so no run lock is needed.
    pub fn plan_only(&self) -> bool {
        self.list_hosts || self.list_tasks || self.syntax_check
    }
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub opts: RunOpts,
    /// Undo everything but leave the packages setup installed, so the next setup need not
    /// install them again; a later teardown without this option removes them.
    #[arg(long)]
    pub keep_packages: bool,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// `ha` (keepalived pair) or `lvs` (single director, ipvsadm rules).
    #[arg(long, value_enum, default_value_t = Mode::Ha)]
    pub mode: Mode,
    #[command(flatten)]
    pub opts: RunOpts,
    /// Extra variables, highest precedence.
    #[arg(short = 'e', long = "extra-vars", value_name = "KEY=VALUE")]
    pub extra_vars: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Requests sent to the VIP from the client.
    #[arg(long, default_value_t = 20)]
    pub requests: u32,
    /// Extra variables, as given to `setup` (verify compares against the same values).
    #[arg(short = 'e', long = "extra-vars", value_name = "KEY=VALUE")]
    pub extra_vars: Vec<String>,
    /// After the checks pass, run the failover drills: hard stop of the master director and its
    /// return, a clean keepalived stop and start, a real server's web server stopped and
    /// started, with a request loop on the VIP throughout. Each measured time is compared with
    /// the bound the keepalived settings give (3 × advert_int + skew for a takeover, the skew
    /// for a clean stop, delay_loop, retry, delay_before_retry and connect_timeout for health
    /// checks); exit 1 when one is beyond bound + margin. The lab is always left as found.
    #[arg(long)]
    pub failover: bool,
    /// Seconds a drill's measured time may exceed its expected bound (request loop and polling
    /// granularity, gratuitous ARP, timers running late). Default: 1.0 on real hosts, 2.0 in
    /// the embedded lab (emulated VMs on a shared machine).
    #[arg(long, value_name = "SECONDS", requires = "failover")]
    pub margin: Option<f64>,
    /// How the master is stopped hard: `pause` freezes its VM (embedded lab only), `kill`
    /// SIGKILLs every keepalived process; `auto`: pause when the inventory's lab is up, kill otherwise.
    #[arg(long, value_enum, default_value_t = HardStopArg::Auto, requires = "failover")]
    pub hard_stop: HardStopArg,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Requests sent to the VIP, each from the next of the lab's client addresses.
    #[arg(long, default_value_t = 3)]
    pub requests: u32,
    /// Write one pcap file per capture point (`client.pcap`, one per node) into DIR.
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// Extra variables, as given to `setup` (the trace expects the method they configure).
    #[arg(short = 'e', long = "extra-vars", value_name = "KEY=VALUE")]
    pub extra_vars: Vec<String>,
    /// Capture with tcpdump on the directors and real servers over ssh, as on real hosts, even
    /// when the inventory's embedded lab is up.
    #[arg(long)]
    pub tcpdump: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum HardStopArg {
    #[default]
    Auto,
    Pause,
    Kill,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Boot one microVM per inventory host (idempotent).
    Up {
        /// Install the missing host packages (qemu, debootstrap, ...) with apt-get first.
        #[arg(long)]
        install_deps: bool,
    },
    /// Stop the lab's VMs (saving their state) and remove its network.
    Down,
    /// List each node: VM running, ssh answering, address.
    Status,
    /// Open a shell on a node, or run one command there.
    Ssh {
        node: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Reboot one node; its disk state survives.
    Reboot { node: String },
    /// Return nodes (all, or one) to the pristine image.
    Reset { node: Option<String> },
    /// Print an ssh_config block for the lab's nodes, for plain ssh, scp, Ansible or pyinfra
    /// (e.g. `lvslab lab ssh-config > lab.cfg && ssh -F lab.cfg node01`; as root).
    SshConfig,
    /// Stop the lab and delete its VMs' disks, saved states and keys for good.
    Destroy,
    /// Internal: ssh ProxyCommand that connects to HOST:PORT inside the lab's network namespace.
    #[command(hide = true)]
    Proxy { host: String, port: u16 },
}
