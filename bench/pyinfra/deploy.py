# The end state of `lvslab setup` (ha mode, direct routing), written as pyinfra 3 operations with
# lvslab's templates (templates/*.j2, Jinja2-compatible). What bench/ansible/setup.yml does:
# preflight, record the originals (for teardown.py), real servers (ARP sysctls persisted, VIP on
# lo now and at boot through the lvslab-vip unit, apache2 with a page naming the node), directors
# (keepalived.conf for the node's keepalived version, validated on the node before it replaces
# the live file, keepalived enabled and running; done once the MASTER holds the VIP).
import os
import shlex

from pyinfra import host, inventory
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "..", "..", "templates")
RECORD = "/var/lib/lvslab-bench"
d = host.data
q = shlex.quote
groups = {g: [h.name for h in inventory.get_group(g)] for g in ("directors", "realservers")}
# lvslab's default for a real server's port: the service's port.
hostvars = {h.name: {"lvs_rs_port": h.data.lvs_port, **h.data.dict()} for h in inventory}
tvars = {**d.dict(), "inventory_hostname": host.name, "groups": groups, "hostvars": hostvars}
is_director = host.name in groups["directors"]

# Preflight: the LAN interface exists; directors' kernels have IPVS and the scheduler.
modules = f"ip_vs {q('ip_vs_' + str(d.lvs_scheduler))}" if is_director else ""
missing = host.get_fact(
    Command,
    f"test -d /sys/class/net/{q(d.lan_interface)} || echo 'no interface {d.lan_interface}'; "
    f"for m in {modules}; do modprobe -n -q \"$m\" || echo \"no module $m\"; done; true",
)
if missing:
    raise DeployError(f"{host.name}: {missing}")

if not host.get_fact(File, path=f"{RECORD}/orig.json"):
    server.script(
        name="Record the originals",
        src=os.path.join(HERE, "..", "common", "record-originals.sh"),
        args=(d.lan_interface,),
    )

if host.name in groups["realservers"]:
    for dev in ("all", d.lan_interface):
        for key, value in (("arp_ignore", 1), ("arp_announce", 2)):
            server.sysctl(
                name=f"ARP: {dev}.{key}",
                key=f"net.ipv4.conf.{dev}.{key}",
                value=value,
                persist=True,
                persist_file="/etc/sysctl.d/90-lvslab-arp.conf",
            )

    vip = f"{d.lvs_vip}/32"
    unit = files.template(
        name="Unit that puts the VIP on lo at boot",
        src=os.path.join(TEMPLATES, "lvslab-vip.service.j2"),
        dest="/etc/systemd/system/lvslab-vip.service",
        mode="644",
        vip_cidr=vip,
        vip_dev="lo",
        vip_label=d.lvs_lo_label,
    )
    systemd.daemon_reload(name="systemd sees the unit", _if=unit.did_change)
    systemd.service(name="VIP on lo at boot", service="lvslab-vip", running=True, enabled=True)
    if not host.get_fact(Command, f"ip -o addr show dev lo to {q(vip)}"):
        server.shell(
            name="VIP on lo now",
            commands=[f"ip addr replace {q(vip)} dev lo label {q(d.lvs_lo_label)}"],
        )

    apt.packages(name="Web server package", packages=["apache2"])
    files.template(
        name="Index page",
        src=os.path.join(TEMPLATES, "index.html.j2"),
        dest="/var/www/html/index.html",
        mode="644",
        **tvars,
    )
    systemd.service(name="Web server running and enabled", service="apache2", running=True, enabled=True)

if is_director:
    apt.packages(name="keepalived and ipvsadm packages", packages=["keepalived", "ipvsadm"])
    major = host.get_fact(
        Command, "keepalived -v 2>&1 | sed -n 's/^Keepalived v\\([0-9]*\\).*/\\1/p' | head -n1"
    )
    live, staged = "/etc/keepalived/keepalived.conf", f"{RECORD}/keepalived.conf"
    # pyinfra's template operation has no validation hook: render next to the record, check it
    # with keepalived -t on the node, and only then install it as the live file.
    rendered = files.template(
        name="keepalived.conf rendered",
        src=os.path.join(TEMPLATES, "keepalived.conf.j2"),
        dest=staged,
        mode="640",
        keepalived_major_version=int(major or 2),
        **tvars,
    )
    in_place = host.get_fact(Command, f"cmp -s {staged} {live} && echo same || true") == "same"
    install = server.shell(
        name="keepalived.conf validated, then installed",
        commands=[
            *([f"keepalived -t -f {staged}"] if int(major or 2) >= 2 else []),
            f"install -m 0640 {staged} {live}",
        ],
        _if=lambda: rendered.did_change() or not in_place,
    )
    started = systemd.service(
        name="keepalived running and enabled", service="keepalived", running=True, enabled=True
    )
    systemd.service(
        name="reload keepalived", service="keepalived", reloaded=True, _if=install.did_change
    )
    if d.keepalived_state == "MASTER":
        server.shell(
            name="wait for the VIP",
            commands=[
                f"i=0; while ! ip -o addr show dev {q(d.lan_interface)} to {q(str(d.lvs_vip))} | grep -q .; do "
                f"i=$((i + 1)); [ $i -le 100 ] || {{ echo 'VIP not up after 20 s' >&2; exit 1; }}; sleep 0.2; done"
            ],
            _if=lambda: install.did_change() or started.did_change(),
        )
