#!/bin/sh
# Starts or stops the example's HAProxy (haproxy.cfg beside this script):
# frontend http://127.0.0.1:9200. The same script as examples/deploy's, run
# for this directory.
#
#   examples/canary/haproxy.sh start|stop|status
here=$(cd "$(dirname "$0")" && pwd)
EXAMPLE_DIR=$here exec "$here/../deploy/haproxy.sh" "$@"
