# The engine figure of bench/compare, pyinfra's twin of bench/engine/scale.yml: the same 4
# idempotent operations on every host (a directory, a file with fixed content, a templated file,
# file attributes), paths under the host's own `bench_dir`.
import io
import os

from pyinfra import host
from pyinfra.operations import files

HERE = os.path.dirname(os.path.abspath(__file__))
base = host.data.bench_dir

files.directory(name="A directory", path=f"{base}/etc", mode="755")
files.put(
    name="A file with fixed content",
    src=io.StringIO("# managed by bench/engine/scale.yml\nlisten = 127.0.0.1\nworkers = 4\n"),
    dest=f"{base}/etc/app.conf",
    mode="644",
)
files.template(
    name="A file rendered from a template",
    src=os.path.join(HERE, "..", "engine", "templates", "scale.conf.j2"),
    dest=f"{base}/etc/host.conf",
    mode="644",
    inventory_hostname=host.name,
    bench_dir=base,
)
files.file(name="File attributes", path=f"{base}/etc/app.conf", mode="644")
