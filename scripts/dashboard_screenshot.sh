#!/usr/bin/env bash
# Screenshot of the dashboard from a real run: `gunicorn-rs --tui` with 4 workers on
# tests/apps/stuck_app.py in a private 120x40 tmux, some load, and one request stuck in C;
# the pane is captured with its colours and rendered by scripts/ansi_to_png.py.
#
#   scripts/dashboard_screenshot.sh [OUT.png]     (default assets/dashboard.png)
#
# Needs tmux, curl, python3 with Pillow (PYTHON=/path/to/python to choose one), and a built
# binary (BIN=..., default target/debug/gunicorn-rs).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-assets/dashboard.png}
BIN=$(realpath "${BIN:-${CARGO_TARGET_DIR:-target}/debug/gunicorn-rs}")
PYTHON=${PYTHON:-python3}
NAME="gunicorn-rs-shot-$$"
RUN=$(mktemp -d)
LOADS=()
tmux_() { tmux -L "$NAME" -f /dev/null "$@"; }
cleanup() {
    tmux_ kill-server 2>/dev/null || true
    for pid in "${LOADS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$RUN"
}
trap cleanup EXIT

# Polls the pane (or a command) until it holds TEXT; 30 s at most.
wait_for() {
    local what=$1 check=$2
    for _ in $(seq 300); do
        if eval "$check"; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for $what" >&2
    tmux_ capture-pane -p -t main >&2 || true
    exit 1
}

tmux_ new-session -d -x 120 -y 40 -s main cat
tmux_ set-option -g remain-on-exit on
tmux_ respawn-pane -k -t main "cd tests/apps && XDG_RUNTIME_DIR=$RUN TEST_MARKER_DIR=$RUN \
    exec $BIN --tui -b 127.0.0.1:0 -w 4 --name shop --timeout 60 --access-logfile - stuck_app:app"
wait_for "4 worker rows" \
    '[ "$(tmux_ capture-pane -p -t main | grep -cE "│[0-9]+ +[0-9]+ +idle")" -ge 4 ]'
LOG=$(ls "$RUN"/gunicorn-rs/tui-*/output.log)
PORT=$(grep -o 'Listening at: http://127.0.0.1:[0-9]*' "$LOG" | grep -o '[0-9]*$')

# Load: three clients in parallel (so several workers serve), and one request that never
# finishes.
load() {
    local i=0
    while true; do
        i=$((i + 1))
        curl -s "http://127.0.0.1:$PORT/$1?n=$i" >/dev/null
        curl -s "http://127.0.0.1:$PORT/print?line=cart+$i+checked+out" >/dev/null
    done
}
for what in products cart search; do
    load "$what" &
    LOADS+=($!)
done
curl -s "http://127.0.0.1:$PORT/c" >/dev/null &
LOADS+=($!)
wait_for "the stuck request" 'ls "$RUN" | grep -q "^c-"'
wait_for "its row" 'tmux_ capture-pane -p -t main | grep -q "GET /c  *[0-9.]*s "'
# Let the elapsed time and the req/s sparkline grow to something worth showing.
wait_for "8 s of elapsed time" 'tmux_ capture-pane -p -t main | grep -qE "GET /c +([89]|[1-9][0-9])\.?[0-9]*s "'
# Select the stuck worker (the top row: stalled first), and show every worker's logs (`a`).
tmux_ send-keys -t main -l g
wait_for "the top row selected" 'tmux_ capture-pane -p -t main | grep -q "Logs: slot"'
tmux_ send-keys -t main -l a
wait_for "all the logs" 'tmux_ capture-pane -p -t main | grep -q "Logs: all"'
tmux_ capture-pane -p -e -t main >"$RUN/screen.ans"
"$PYTHON" scripts/ansi_to_png.py "$RUN/screen.ans" "$OUT"
echo "wrote $OUT"
