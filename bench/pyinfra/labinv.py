"""lvslab's inventory (Ansible's YAML inventory shape, e.g. inventory/lab.yml) read as it is, for
pyinfra: every host with its variables merged the way Ansible merges them (`all` vars < outer
group vars < inner group vars < host vars) and every group with its hosts. Only literal values:
the seed inventories template none of their variables.

The lab route (ssh through `lvslab lab proxy` into the lab's network namespace, the lab's key and
known_hosts) comes from the environment bench/compare sets, so no address is routed on the host:
LVSLAB_BENCH_SSH_CONFIG (an ssh_config with the ProxyCommand), LVSLAB_BENCH_KEY,
LVSLAB_BENCH_KNOWN_HOSTS.
"""

import os

import yaml


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    hosts, groups = {}, {}

    def walk(name, node, inherited, lineage):
        node = node or {}
        merged = {**inherited, **(node.get("vars") or {})}
        lineage = lineage + [name]
        for h, hv in (node.get("hosts") or {}).items():
            hosts[h] = {**hosts.get(h, {}), **merged, **(hv or {})}
            for g in lineage:
                groups.setdefault(g, [])
                if h not in groups[g]:
                    groups[g].append(h)
        for child, cnode in (node.get("children") or {}).items():
            walk(child, cnode, merged, lineage)

    walk("all", doc.get("all"), {}, [])
    return hosts, groups


def ssh_data(hostvars):
    """pyinfra's connection data for one host of the inventory, over the lab route."""
    data = {
        "ssh_hostname": str(hostvars.get("ansible_host", "")),
        "ssh_user": hostvars.get("ansible_user", "root"),
        "ssh_port": int(hostvars.get("ansible_port", 22)),
        "ssh_strict_host_key_checking": "yes",
        "ssh_look_for_keys": False,
        "ssh_allow_agent": False,
    }
    for key, env in [
        ("ssh_config_file", "LVSLAB_BENCH_SSH_CONFIG"),
        ("ssh_key", "LVSLAB_BENCH_KEY"),
        ("ssh_known_hosts_file", "LVSLAB_BENCH_KNOWN_HOSTS"),
    ]:
        if os.environ.get(env):
            data[key] = os.environ[env]
    if "ansible_ssh_private_key_file" in hostvars:
        data["ssh_key"] = hostvars["ansible_ssh_private_key_file"]
    if "lvslab_known_hosts_file" in hostvars:
        data["ssh_known_hosts_file"] = hostvars["lvslab_known_hosts_file"]
    return data
