#!/bin/sh
# Sends requests to the example's HAProxy until stopped (Ctrl-C), printing a
# count of answers by status and version every 2 seconds. A canary is judged
# on live traffic: keep this running during a release.
#
#   examples/canary/load.sh [URL]   (default http://127.0.0.1:9200/)
url=${1:-http://127.0.0.1:9200/}
while :; do
    end=$(($(date +%s) + 2))
    while [ "$(date +%s)" -lt "$end" ]; do
        curl -s -o /dev/null -w '%{http_code} %header{x-demo-version}\n' "$url" || echo "000 -"
    done | sort | uniq -c | tr '\n' ' '
    echo
done
