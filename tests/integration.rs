//! The one integration test binary: each module is a group of tests (ripgrep's layout).
//! Run with `cargo test --test integration -- --test-threads 2`.

// Gunicorn's request corpus through the parser, in every chunking.
mod parser;
// The WSGI bridge with an in-memory body and a recording sink.
mod wsgi_bridge;

// The same requests to gunicorn-rs and Gunicorn 27 (tests/differential/), disagreements listed.
mod differential;

// The real `gunicorn-rs` binary on port 0 with the apps of tests/apps (tests/support/: harness).
mod support;

mod config_cli;
// --paste: a PasteDeploy ini's app, its globals and its logging.
mod errors;
mod hooks;
mod hooks_async;
mod hooks_errors;
mod lifecycle;
mod paste;
mod python;
mod serve;
mod signals;
// --reload and HUP re-reading the configuration.
mod reload;
// Faults under load: repeated HUPs, a leaking app recycled by --max-requests.
mod faults;
// App factory forms and fd:// listeners.
mod binding;
// Stuck workers explained: WORKER TIMEOUT block, --request-timeout, deaths, worker output.
mod stuck;
// The control socket: gunicornc, `gunicorn-rs ctl`, subscriptions, dumps, hold, bad clients.
mod control;
// The control commands the README lists, each on a running server.
mod ctl_commands;
// The dashboard in a real terminal: tmux drives `--tui` and `attach` (tmux.rs is the harness).
mod tmux;
mod tui_e2e;
// The dashboard under NO_COLOR.
mod tui_no_color;
// Keep-alive and pipelining under gthread, and bad input on a kept-alive connection.
mod keepalive;
// tests/apps/wsgi_probe.py under every WSGI kind: what the app-level differential run found.
mod wsgi_probe;
// The gthread worker's concurrency, timeouts and what the app sees.
mod gthread;
// Slow clients: slowloris under sync and gthread, --header-timeout, sync hand-off of heads.
mod slowloris;
// Graceful stops (HUP, TERM, max-requests) with kept-alive clients.
mod graceful_keepalive;
// The request corpus through the real server (gthread with keep-alive, and sync).
mod corpus_server;
// Refused at the deciding byte, not at a line end or a timeout, under sync, gthread, asgi.
mod early_refusal;
// tests/RULES.md: each rule names tests and fixtures that exist.
mod rules_table;
// 10,000 connections on one gthread worker, and the open-file limit.
mod connections;
// The greenlet workers (gevent, eventlet): concurrency, the hub's heartbeat, worker-connections,
// slow and vanishing clients, the missing library, what the app sees, `show workers`.
mod green;
// Keep-alive, bad input, the corpus and graceful stops under gevent and eventlet.
mod green_keepalive;
// What a greenlet worker shows of itself: dumps, entries, request timeouts.
mod green_debug;
// The asgi worker (issue 9), HTTP side: the scope, streamed bodies, SSE (tests/apps/asgi_app.py).
mod asgi;
// The asgi worker when the app raises or the client leaves: 500s, cut responses, split
// fields refused, http.disconnect, the disconnect grace period, send() after the close.
mod asgi_faults;
// ASGI response extensions: 103 Early Hints (Gunicorn's informational message), trailers.
mod asgi_ext;
// Where the differential check (tests/differential/asgi_diff.py) found -k asgi off the spec.
mod asgi_probe;
// The asgi worker as a worker: lifespan, worker-connections, header timeout, names, WORKER TIMEOUT.
mod asgi_worker;
// Keep-alive, bad input, the corpus, graceful stops and slowloris under -k asgi.
mod asgi_conn;
// WebSocket under -k asgi: the websockets client and raw RFC 6455 frames.
mod asgi_ws;
// The same request under every worker kind: same answer, access line and error-log lines.
mod kind_parity;
// permessage-deflate (RFC 7692) under -k asgi: raw compressed frames and the websockets client.
mod asgi_ws_deflate;
// The Autobahn|Testsuite's server cases 1–7 and 10 against -k asgi (kosoku).
mod autobahn;
// Starlette, FastAPI (a Pydantic body) and Django's ASGI handler under -k asgi.
mod asgi_apps;
// The tornado worker: tornado apps natively, WSGI apps in tornado's WSGIContainer, and the
// checks every kind passes.
mod tornado;
// Settings seen working in a running server (--env, --pythonpath, --umask, --backlog, …).
mod settings;
// TLS (--certfile and the other SSL settings) under every kind, with curl, Python's ssl and
// openssl s_client.
mod tls;
// Real fronts (issue 10): nginx and HAProxy as children of the tests (fronts.rs is the
// harness): proxy_pass over TCP, a Unix socket and TLS, PROXY v1/v2, uwsgi_pass, smuggling.
mod fronts;
mod fronts_haproxy;
mod fronts_nginx;
mod fronts_uwsgi;
// Production: --metrics-bind's /metrics through promtool and a real Prometheus.
mod metrics;
// /healthz and /readyz, answers while every worker is stuck, --shutdown-delay under TERM and HUP.
mod metrics_health;
// --statsd-host: Gunicorn's statsd metrics to a real UDP / Unix datagram receiver.
mod statsd;
mod statsd_rx;
// assets/k8s: the manifests against Kubernetes' schemas and against each other.
mod k8s;
// --log-format json: every line a JSON object, from every process and worker kind.
mod log_json;
// --log-syslog against a real rsyslogd (unix socket, UDP).
mod syslog;
// logconfig_dict, --log-config, --log-config-json: records through Python's logging.
mod log_config;
// --logger-class: user subclasses of Gunicorn's Logger.
mod logger_class;
// A sweep with real frameworks and clients, TLS and graceful reloads: what it found, fixed.
mod frameworks;
