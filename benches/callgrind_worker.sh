# Sourced by callgrind_asgi.sh and callgrind_ws.sh: one gunicorn-rs worker of an event-loop
# kind under valgrind --tool=callgrind, started in a fresh directory, and its instruction
# total once the server is stopped.
#
#   worker_start BINARY VENV KIND APP NAME   sets cg_dir, cg_port and cg_master, and returns
#                                            once the port answers (NAME: the temp dir's prefix)
#   worker_instructions                      stops the server; prints the worker's total

worker_start() {
    local bin="$1" venv="$2" kind="$3" app="$4" name="$5" benches
    benches="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    cg_dir="$(mktemp -d "/tmp/$name.XXXXXX")"
    cg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    (cd "$cg_dir" && exec setsid env VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
        valgrind --tool=callgrind "$bin" -w 1 -b "127.0.0.1:$cg_port" --chdir "$benches" \
        -k "$kind" --keep-alive 30 --timeout 300 "$app" > server.log 2>&1) &
    cg_master=$!
    for _ in $(seq 600); do
        curl -s -o /dev/null "http://127.0.0.1:$cg_port/" && return 0
        sleep 0.2  # valgrind takes seconds to start; this polls the port, it does not guess
    done
    echo "the worker under valgrind did not answer within 120 s (see $cg_dir/server.log)" >&2
    return 1
}

worker_instructions() {
    local worker
    worker="$(pgrep -P "$cg_master" | head -1)"
    kill -TERM "$cg_master"
    while kill -0 "$cg_master" 2>/dev/null; do sleep 0.3; done
    sed -n "s/^==$worker== Collected : \([0-9,]*\)/\1/p" "$cg_dir/server.log" | tr -d ,
}
