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

source "$here/callgrind_worker.sh"

# One run: "messages instructions directory" of the worker, `$1` seconds of load after the
# warm-up.
run() {
    local warm more total
    worker_start "$bin" "$venv" asgi asgi_app:app callgrind_ws
    local args=(--port "$cg_port" --path /ws --clients 4 --size 1024 --threads 1
        ${extra[@]+"${extra[@]}"})
    warm="$("$load" "${args[@]}" --duration 1 | messages)"
    more="$("$load" "${args[@]}" --duration "$1" | messages)"
    total="$(worker_instructions)"
    echo "$((warm + more)) $total $cg_dir"
}

read -r n1 i1 _ < <(run 1)
read -r n2 i2 dir < <(run 6)
echo "websocket: $(((i2 - i1) / (n2 - n1))) instructions per message ($n1 and $n2 messages; output in $dir)"
