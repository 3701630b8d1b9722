#!/usr/bin/env bash
# Instructions per request in one gunicorn-rs worker (valgrind --tool=callgrind): the cost the
# README's "Where the time goes" paragraphs quote, steady under load where req/s is not.
#
#   benches/callgrind.sh [BINARY] [APP] [PATH] [EXTRA ARGS...]
#       (defaults: target/release/gunicorn-rs, app:app, /, -k gthread --threads 1)
#
# Runs one worker under callgrind in benches/.venv, drives it with wrk -c4 for 10 s, stops it
# with TERM and prints the requests answered and the inclusive instruction count of the lane's
# loop (Dispatcher::turn_with) and of the request itself (Dispatcher::drive) per request. The
# callgrind output stays in the printed directory (callgrind_annotate --inclusive=yes FILE).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../target/release/gunicorn-rs}"
app="${2:-app:app}"
path="${3:-/}"
shift $(( $# < 3 ? $# : 3 ))
extra=("$@")
((${#extra[@]})) || extra=(-k gthread --threads 1)
dir="$(mktemp -d /tmp/callgrind.XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cd "$dir"
setsid env VIRTUAL_ENV="$here/.venv" valgrind --tool=callgrind "$bin" -w 1 -b "127.0.0.1:$port" \
    --chdir "$here" --timeout 300 "${extra[@]}" "$app" > server.log 2>&1 &
master=$!
for _ in $(seq 600); do
    curl -s -o /dev/null "http://127.0.0.1:$port$path" && break
    sleep 0.2  # valgrind takes seconds to start; this polls the port, it does not guess
done
requests="$(wrk -t1 -c4 -d10s "http://127.0.0.1:$port$path" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')"
kill -TERM "$master"
while kill -0 "$master" 2>/dev/null; do sleep 0.3; done
out="$(ls -S callgrind.out.* | head -1)"
per() {
    callgrind_annotate --inclusive=yes "$out" 2>/dev/null \
        | sed -n "s/^ *\([0-9,]*\) .*Dispatcher::$1 \[.*/\1/p" | head -1 | tr -d , \
        | awk -v n="$requests" '{ printf "%d", $1 / n }'
}
echo "requests $requests; per request: loop $(per turn_with), request $(per drive) instructions; output in $dir"
