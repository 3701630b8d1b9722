#!/usr/bin/env bash
# Instructions per request in one -k asgi or -k tornado worker (valgrind --tool=callgrind), the
# figure the asgi worker's speed work quotes: steady under load where req/s is not.
#
#   benches/callgrind_asgi.sh [BINARY] [KIND] [APP]
#       (defaults: target/release/gunicorn-rs, asgi, asgi_app:app; tornado: tornado tornado_app:app)
#
# callgrind.sh reads the request's cost off the WSGI dispatcher's functions; an event-loop
# worker has no such function (a request is spread over loop turns, tasks and callbacks), and
# callgrind_control cannot reach a forked worker to zero its counters. So the worker is run
# twice, each time under wrk -c4 after a 2 s warm-up: once with no further load, once with 10 s
# more. Both include the boot; the difference of the worker's instruction totals over the
# difference of the requests answered is the cost of a request, loop turns included.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../target/release/gunicorn-rs}"
kind="${2:-asgi}"
app="${3:-asgi_app:app}"

# One run: "requests instructions" of the worker, `$1` seconds of load after the warm-up.
run() {
    local dir port master worker requests more total
    dir="$(mktemp -d /tmp/callgrind_asgi.XXXXXX)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cd "$dir"
    setsid env VIRTUAL_ENV="$here/.venv" valgrind --tool=callgrind "$bin" -w 1 \
        -b "127.0.0.1:$port" --chdir "$here" -k "$kind" --keep-alive 30 --timeout 300 "$app" \
        > server.log 2>&1 &
    master=$!
    for _ in $(seq 600); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.2  # valgrind takes seconds to start; this polls the port, it does not guess
    done
    requests="$(wrk -t1 -c4 -d2s "http://127.0.0.1:$port/" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')"
    more=0
    if (($1 > 0)); then
        more="$(wrk -t1 -c4 -d"$1"s "http://127.0.0.1:$port/" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')"
    fi
    worker="$(pgrep -P "$master" | head -1)"
    kill -TERM "$master"
    while kill -0 "$master" 2>/dev/null; do sleep 0.3; done
    total="$(sed -n "s/^==$worker== Collected : \([0-9,]*\)/\1/p" server.log | tr -d ,)"
    # The curl that found the port ready is a request too.
    echo "$((requests + more + 1)) $total $dir"
}

read -r n1 i1 _ < <(run 0)
read -r n2 i2 dir < <(run 10)
echo "$kind: $(((i2 - i1) / (n2 - n1))) instructions per request ($n1 and $n2 requests; output in $dir)"
