#!/bin/sh
# Starts or stops the example's Prometheus on http://127.0.0.1:9290, its
# data in .slipway/prometheus/ (apt-get install prometheus; scripts/test
# installs it).
#
#   examples/canary/prometheus.sh start|stop|status
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
run=.slipway/prometheus
pidfile=$run/prometheus.pid
prometheus=$(command -v prometheus || echo /usr/bin/prometheus)

running() {
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

case "${1:-}" in
start)
    if running; then
        echo "Prometheus already runs (pid $(cat "$pidfile"))"
        exit 0
    fi
    if [ ! -x "$prometheus" ]; then
        echo "Prometheus is not installed: apt-get install prometheus (scripts/test installs it)" >&2
        exit 1
    fi
    mkdir -p "$run"
    "$prometheus" --config.file=prometheus.yml --storage.tsdb.path="$run/data" \
        --web.listen-address=127.0.0.1:9290 >"$run/prometheus.log" 2>&1 &
    echo $! >"$pidfile"
    # Ready once its HTTP API answers.
    for _ in $(seq 1 100); do
        if curl -fs http://127.0.0.1:9290/-/ready >/dev/null 2>&1; then
            echo "Prometheus started (pid $(cat "$pidfile")): http://127.0.0.1:9290"
            exit 0
        fi
        sleep 0.1
    done
    echo "Prometheus did not become ready; see $here/$run/prometheus.log" >&2
    exit 1
    ;;
stop)
    if running; then
        kill "$(cat "$pidfile")"
        echo "Prometheus stopped"
    else
        echo "Prometheus is not running"
    fi
    rm -f "$pidfile"
    ;;
status)
    if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
