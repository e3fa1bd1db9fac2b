# pyinfra inventory: the hosts and groups of lvslab's own inventory file, loaded unchanged
# (LVSLAB_BENCH_INVENTORY, default inventory/lab.yml), each host's variables as its data.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labinv  # noqa: E402

_hosts, _groups = labinv.load(os.environ.get("LVSLAB_BENCH_INVENTORY", "inventory/lab.yml"))
_all = _groups.pop("all", [])
_grouped = {h for members in _groups.values() for h in members}
_groups["ungrouped"] = [h for h in _all if h not in _grouped]
for _name, _members in _groups.items():
    globals()[_name] = [(h, {**_hosts[h], **labinv.ssh_data(_hosts[h])}) for h in _members]
