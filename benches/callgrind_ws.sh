#!/usr/bin/env bash
# Instructions per echoed WebSocket message in one -k asgi worker (valgrind --tool=callgrind),
# the figure the asgi worker's WebSocket speed work quotes: steady where messages/s is not.
#
#   benches/callgrind_ws.sh [BINARY] [ws-load options...]
#       (default: target/release/gunicorn-rs; asgi_app:app's /ws echo, 4 clients, 1 KiB binary;
#        e.g. `--text` for text messages; needs ws_load built: cargo build --release there.
#        VENV and WS_LOAD name another venv or ws-load binary than benches' own.)
#
# As callgrind_asgi.sh, for the same reason (a message is spread over loop turns, tasks and
# callbacks, and callgrind_control cannot reach a forked worker): the worker is run twice,
# each time under ws-load for 1 s of warm-up and then 1 s or 6 s more. Both include the boot
# and the same number of handshakes; the difference of the worker's instruction totals over
# the difference of the messages echoed is the cost of a message, loop turns included.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../target/release/gunicorn-rs}"
shift || true
extra=("$@")
venv="${VENV:-$here/.venv}"
load="${WS_LOAD:-$here/ws_load/target/release/ws-load}"

# `messages` of ws-load's JSON line on stdin.
messages() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)["messages"])'
}

# One run: "messages instructions directory" of the worker, `$1` seconds of load after the
# warm-up.
run() {
    local dir port master worker warm more total
    dir="$(mktemp -d /tmp/callgrind_ws.XXXXXX)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cd "$dir"
    setsid env VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" valgrind --tool=callgrind \
        "$bin" -w 1 -b "127.0.0.1:$port" --chdir "$here" -k asgi --keep-alive 30 --timeout 300 \
        asgi_app:app > server.log 2>&1 &
    master=$!
    for _ in $(seq 600); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.2  # valgrind takes seconds to start; this polls the port, it does not guess
    done
    local args=(--port "$port" --path /ws --clients 4 --size 1024 --threads 1
        ${extra[@]+"${extra[@]}"})
    warm="$("$load" "${args[@]}" --duration 1 | messages)"
    more="$("$load" "${args[@]}" --duration "$1" | messages)"
    worker="$(pgrep -P "$master" | head -1)"
    kill -TERM "$master"
    while kill -0 "$master" 2>/dev/null; do sleep 0.3; done
    total="$(sed -n "s/^==$worker== Collected : \([0-9,]*\)/\1/p" server.log | tr -d ,)"
    echo "$((warm + more)) $total $dir"
}

read -r n1 i1 _ < <(run 1)
read -r n2 i2 dir < <(run 6)
echo "websocket: $(((i2 - i1) / (n2 - n1))) instructions per message ($n1 and $n2 messages; output in $dir)"
