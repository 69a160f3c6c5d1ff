#!/bin/sh
# Starts or stops the example's HAProxy (haproxy.cfg beside this script):
# frontend http://127.0.0.1:9100, runtime API .slipway/haproxy/admin.sock.
#
#   examples/deploy/haproxy.sh start|stop|status
#
# Another example runs it for its own directory with EXAMPLE_DIR set.
set -eu
here=${EXAMPLE_DIR:-$(cd "$(dirname "$0")" && pwd)}
cd "$here"
run=.slipway/haproxy
pidfile=$run/haproxy.pid
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)

running() {
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

case "${1:-}" in
start)
    if running; then
        echo "HAProxy already runs (pid $(cat "$pidfile"))"
        exit 0
    fi
    if [ ! -x "$haproxy" ]; then
        echo "HAProxy is not installed: apt-get install haproxy (scripts/test installs it)" >&2
        exit 1
    fi
    mkdir -p "$run"
    rm -f "$run/admin.sock"
    "$haproxy" -c -q -f haproxy.cfg
    # -D: in the background; it binds the socket and the frontend first.
    "$haproxy" -D -f haproxy.cfg
    frontend=$(sed -n 's/^ *bind *\([^ ]*\).*/\1/p' haproxy.cfg | head -n 1)
    echo "HAProxy started (pid $(cat "$pidfile")): http://$frontend, runtime API $here/$run/admin.sock"
    ;;
stop)
    if running; then
        kill "$(cat "$pidfile")"
        echo "HAProxy stopped"
    else
        echo "HAProxy is not running"
    fi
    rm -f "$pidfile" "$run/admin.sock"
    ;;
status)
    if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
