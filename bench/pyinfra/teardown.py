# Back to the node as found before deploy.py, from what it recorded on the node
# (../common/record-originals.sh): services stopped/disabled if they were, the VIP off lo, files
# restored or removed, ARP sysctls back to their recorded values, the packages installed since
# purged with the dependencies nothing needs any more, the record removed. A node never set up,
# or torn down twice, is left unchanged.
import json
import shlex

from pyinfra import host, inventory
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

RECORD = "/var/lib/lvslab-bench"
q = shlex.quote
raw = host.get_fact(Command, f"cat {RECORD}/orig.json 2>/dev/null || true")
if raw:
    orig = json.loads(raw)
    for name, st in orig["services"].items():
        if name == "lvslab-vip" and not host.get_fact(File, path="/etc/systemd/system/lvslab-vip.service"):
            continue
        systemd.service(
            name=f"{name} back to its recorded state",
            service=name,
            running=st["active"],
            enabled=st["enabled"],
        )
    vip = f"{host.data.lvs_vip}/32"
    if host.get_fact(Command, f"ip -o addr show dev lo to {q(vip)}"):
        server.shell(name="VIP off lo", commands=[f"ip addr del {q(vip)} dev lo"])
    removed_unit = False
    for path, existed in orig["files"].items():
        if existed:
            files.copy(
                name=f"{path} restored",
                src=f"{RECORD}/files{path}",
                dest=path.rsplit("/", 1)[0] or "/",
                overwrite=True,
            )
        else:
            op = files.file(name=f"{path} removed", path=path, present=False)
            if path.endswith(".service"):
                removed_unit = op
    if removed_unit:
        systemd.daemon_reload(name="systemd forgets the removed unit", _if=removed_unit.did_change)
    for key, value in orig["sysctl"].items():
        server.sysctl(name=f"{key} back to {value}", key=key, value=int(value))
    now = host.get_fact(Command, "dpkg-query -W -f '${db:Status-Status} ${Package}\\n'")
    then = set(host.get_fact(Command, f"cat {RECORD}/packages").split())
    added = {line.split()[1] for line in now.splitlines() if line.startswith("installed ")} - then
    if added:
        apt.packages(
            name="Packages installed since, purged with the dependencies nothing needs any more",
            packages=sorted(added),
            present=False,
            purge=True,
            extra_uninstall_args="--auto-remove",
        )
    files.directory(name="The record itself", path=RECORD, present=False)
