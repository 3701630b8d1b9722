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

source "$here/callgrind_worker.sh"

# One run: "requests instructions directory" of the worker, `$1` seconds of load after the
# warm-up.
run() {
    local requests more total
    worker_start "$bin" "$here/.venv" "$kind" "$app" callgrind_asgi
    requests="$(wrk -t1 -c4 -d2s "http://127.0.0.1:$cg_port/" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')"
    more=0
    if (($1 > 0)); then
        more="$(wrk -t1 -c4 -d"$1"s "http://127.0.0.1:$cg_port/" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')"
    fi
    total="$(worker_instructions)"
    # The curl that found the port ready is a request too.
    echo "$((requests + more + 1)) $total $cg_dir"
}

read -r n1 i1 _ < <(run 0)
read -r n2 i2 dir < <(run 10)
echo "$kind: $(((i2 - i1) / (n2 - n1))) instructions per request ($n1 and $n2 requests; output in $dir)"
