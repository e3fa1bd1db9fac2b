# shellcheck shell=bash
# bench/engine/sshd.sh, sourced by bench/engine/run.sh and bench/compare: N real sshd on
# 127.0.0.1 with a generated host key and user key, checked host keys, one port each.
#
#   sshd_start MAX      start MAX sshd; sets SSHD_DIR (work dir), SSHD_PORTS (array),
#                       SSHD_DIR/user_key, SSHD_DIR/known_hosts
#   sshd_stop           stop them (only the pids started here) and remove SSHD_DIR
#
# HOME points into the work dir (authorized_keys `environment=`) so the remote user's shell rc
# (here: root's .bashrc runs `pyenv init`, ~80 ms and a global lock per command) does not drown
# what is measured. Needs root (sshd as root, /run/sshd).
SSHD_PIDS=()
SSHD_PORTS=()
SSHD_DIR=

sshd_start() {
    local max=$1 i port
    SSHD_DIR=$(mktemp -d /tmp/lvb-XXXXXX)
    mkdir -p /run/sshd "$SSHD_DIR/home"
    ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/user_key"
    echo "environment=\"HOME=$SSHD_DIR/home\" $(cat "$SSHD_DIR/user_key.pub")" > "$SSHD_DIR/authorized_keys"
    : > "$SSHD_DIR/known_hosts"
    for i in $(seq 1 "$max"); do
        port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
        cat > "$SSHD_DIR/sshd_$i.conf" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_key
PidFile $SSHD_DIR/sshd_$i.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserEnvironment yes
MaxSessions 50
MaxStartups 200
LogLevel ERROR
PrintMotd no
Subsystem sftp internal-sftp
CFG
        /usr/sbin/sshd -D -f "$SSHD_DIR/sshd_$i.conf" -E "$SSHD_DIR/sshd_$i.log" &
        SSHD_PIDS+=($!)
        SSHD_PORTS+=("$port")
        echo "[127.0.0.1]:$port $(cat "$SSHD_DIR/host_key.pub")" >> "$SSHD_DIR/known_hosts"
    done
    for port in "${SSHD_PORTS[@]}"; do
        for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    done
}

sshd_stop() {
    local p
    for p in "${SSHD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    SSHD_PIDS=()
    [ -z "$SSHD_DIR" ] || rm -rf "$SSHD_DIR"
    SSHD_DIR=
}
