//! Every setting, declared once: Gunicorn 27.0.1's 120 (`gunicorn/config.py`, in its order) plus
//! gunicorn-rs's own (`header_timeout`, `max_worker_memory`, `request_timeout`, `dump_signal`,
//! `worker_abort_timeout`, `tui`, `no_tui`, `metrics_bind`, `shutdown_delay`, `log_format`,
//! `websocket_per_message_deflate`).
//!
//! The command line, `--help`, `--print-config`, the config-file reader and the "not supported
//! yet" check are all derived from [`SETTINGS`]. This module knows no parsing and no Python.

/// How a setting is given and validated (Gunicorn's `action`/`type`/`validator` in one word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `store_true` flag; a config file may say `True`/`False` or `"true"`/`"false"`.
    Flag,
    /// A flag that stores `False` (`--no-sendfile`); unset is `None`.
    FlagFalse,
    /// A non-negative integer: decimal on the command line (argparse `int`), `int(x, 0)` for
    /// strings in a config file.
    Int,
    /// Like [`Kind::Int`], but the command line also takes `0022`-style octal (`auto_int`).
    Octal,
    /// A string, stripped; `None` allowed.
    Str,
    /// One of a few words, case-insensitive.
    Choice(&'static [&'static str]),
    /// Comma-separated IP addresses or CIDR networks, or `*`.
    AddrList,
    /// Comma-separated words.
    StrList,
    /// A directory, made absolute and checked to exist.
    Chdir,
    /// A dotted class path (a config file may also give the class itself).
    Class,
    /// `--proxy-protocol [MODE]`: `off|v1|v2|auto`, a bare flag meaning `auto`.
    ProxyProtocol,
    /// Repeatable option (`append`); a config file gives a list, or one string.
    List,
    /// A dictionary; config file only.
    Map,
    /// A server hook (a callable); config file only.
    Hook,
    /// A user name or uid.
    User,
    /// A group name or gid.
    Group,
}

/// A setting's default, where some depend on the environment (Gunicorn reads them at import).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    None,
    Bool(bool),
    Int(i64),
    Str(&'static str),
    List(&'static [&'static str]),
    Map(&'static [(&'static str, &'static str)]),
    /// A no-op hook, shown by `--print-config` as `<QUALNAME()>`.
    Hook(&'static str),
    /// `['0.0.0.0:$PORT']` if `PORT` is set, else `['127.0.0.1:8000']`.
    Port,
    /// `$WEB_CONCURRENCY`, else 1.
    WebConcurrency,
    /// `$FORWARDED_ALLOW_IPS`, else `127.0.0.1,::1`.
    ForwardedAllowIps,
    /// The directory gunicorn-rs was started in.
    Cwd,
    /// The effective uid / gid.
    Euid,
    Egid,
    /// `$XDG_RUNTIME_DIR/gunicorn.ctl` if that directory exists, else `~/.gunicorn/gunicorn.ctl`.
    ControlSocket,
}

/// Whether gunicorn-rs acts on a setting yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented as in Gunicorn.
    Yes,
    /// Declared so `--help` and `--print-config` show it; any non-default value is refused.
    NotYet,
    /// gunicorn-rs's own setting (not in Gunicorn).
    RsOnly,
    /// Declared by Gunicorn and read by none of its code: any value is taken and does
    /// nothing, there as here (refusing it would stop configs that start under Gunicorn).
    Inert,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The config-file name (and `--print-config` name).
    pub name: &'static str,
    /// Gunicorn's section, used as the `--help` heading.
    pub section: &'static str,
    /// Command-line spellings, Gunicorn's exactly; empty for config-file-only settings.
    pub flags: &'static [&'static str],
    /// The value's name in `--help` (argparse's `metavar`; `""` for flags and config-file-only
    /// settings).
    pub meta: &'static str,
    pub kind: Kind,
    pub default: DefaultValue,
    pub support: Support,
    /// One line for `--help`.
    pub help: &'static str,
}

impl Setting {
    /// Is this a command-line option (not config-file only)?
    pub fn is_cli(&self) -> bool {
        !self.flags.is_empty()
    }
}

/// The setting called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

#[allow(clippy::too_many_arguments)] // one positional row per setting keeps the table readable
const fn row(
    name: &'static str,
    section: &'static str,
    flags: &'static [&'static str],
    meta: &'static str,
    kind: Kind,
    default: DefaultValue,
    support: Support,
    help: &'static str,
) -> Setting {
    Setting {
        name,
        section,
        flags,
        meta,
        kind,
        default,
        support,
        help,
    }
}

const CONFIG_FILE: &str = "Config File";
const CONTROL: &str = "Control";
const DEBUGGING: &str = "Debugging";
const DIRTY_HOOKS: &str = "Dirty Arbiter Hooks";
const DIRTY: &str = "Dirty Arbiters";
const HTTP2: &str = "HTTP/2";
const LOGGING: &str = "Logging";
const PROC_NAMING: &str = "Process Naming";
const SSL: &str = "SSL";
const SECURITY: &str = "Security";
const HOOKS: &str = "Server Hooks";
const MECHANICS: &str = "Server Mechanics";
const SOCKET: &str = "Server Socket";
const WORKERS: &str = "Worker Processes";

use DefaultValue as D;
use Kind::*;
use Support::*;

/// Gunicorn 27.0.1's settings in `KNOWN_SETTINGS` order, then gunicorn-rs's own.
#[rustfmt::skip]
pub static SETTINGS: &[Setting] = &[
    row("config", CONFIG_FILE, &["-c", "--config"], "CONFIG", Str, D::Str("./gunicorn.conf.py"), Yes,
        "The config file: PATH, file:PATH or python:MODULE."),
    row("wsgi_app", CONFIG_FILE, &[], "STRING", Str, D::None, Yes,
        "The app, MODULE:VARIABLE, used when no APP_MODULE is given."),
    row("bind", SOCKET, &["-b", "--bind"], "ADDRESS", List, D::Port, Yes,
        "The socket to bind."),
    row("backlog", SOCKET, &["--backlog"], "INT", Int, D::Int(2048), Yes,
        "The maximum number of pending connections."),
    row("workers", WORKERS, &["-w", "--workers"], "INT", Int, D::WebConcurrency, Yes,
        "The number of worker processes for handling requests."),
    row("worker_class", WORKERS, &["-k", "--worker-class"], "STRING", Class, D::Str("sync"), Yes,
        "The type of workers to use."),
    row("threads", WORKERS, &["--threads"], "INT", Int, D::Int(1), Yes,
        "The number of worker threads for handling requests."),
    row("worker_connections", WORKERS, &["--worker-connections"], "INT", Int, D::Int(1000), Yes,
        "The maximum number of simultaneous clients."),
    row("max_requests", WORKERS, &["--max-requests"], "INT", Int, D::Int(0), Yes,
        "The maximum number of requests a worker will process before restarting."),
    row("max_requests_jitter", WORKERS, &["--max-requests-jitter"], "INT", Int, D::Int(0), Yes,
        "The maximum jitter to add to the max_requests setting."),
    row("timeout", WORKERS, &["-t", "--timeout"], "INT", Int, D::Int(30), Yes,
        "Workers silent for more than this many seconds are killed and restarted."),
    row("graceful_timeout", WORKERS, &["--graceful-timeout"], "INT", Int, D::Int(30), Yes,
        "Timeout for graceful workers restart in seconds."),
    row("keepalive", WORKERS, &["--keep-alive"], "INT", Int, D::Int(2), Yes,
        "The number of seconds to wait for requests on a Keep-Alive connection."),
    row("limit_request_line", SECURITY, &["--limit-request-line"], "INT", Int, D::Int(4094), Yes,
        "The maximum size of HTTP request line in bytes."),
    row("limit_request_fields", SECURITY, &["--limit-request-fields"], "INT", Int, D::Int(100), Yes,
        "Limit the number of HTTP headers fields in a request."),
    row("limit_request_field_size", SECURITY, &["--limit-request-field_size"], "INT", Int, D::Int(8190), Yes,
        "Limit the allowed size of an HTTP request header field."),
    row("reload", DEBUGGING, &["--reload"], "", Flag, D::Bool(false), Yes,
        "Restart workers when code changes."),
    row("reload_engine", DEBUGGING, &["--reload-engine"], "STRING", Choice(&["auto", "poll", "inotify"]), D::Str("auto"), Yes,
        "The implementation that should be used to power reload."),
    row("reload_extra_files", DEBUGGING, &["--reload-extra-file"], "FILES", List, D::List(&[]), Yes,
        "Extra files (or glob patterns) the reloader also watches."),
    row("spew", DEBUGGING, &["--spew"], "", Flag, D::Bool(false), NotYet,
        "Install a trace function that spews every line executed by the server."),
    row("check_config", DEBUGGING, &["--check-config"], "", Flag, D::Bool(false), Yes,
        "Check the configuration and exit (status 0 if it loads, 1 if not)."),
    row("print_config", DEBUGGING, &["--print-config"], "", Flag, D::Bool(false), Yes,
        "Print the configuration settings as fully resolved. Implies check-config."),
    row("preload_app", MECHANICS, &["--preload"], "", Flag, D::Bool(false), Yes,
        "Load application code before the worker processes are forked."),
    row("sendfile", MECHANICS, &["--no-sendfile"], "", FlagFalse, D::None, Yes,
        "Disables the use of sendfile()."),
    row("reuse_port", MECHANICS, &["--reuse-port"], "", Flag, D::Bool(false), Yes,
        "Set the SO_REUSEPORT flag on the listening socket."),
    row("chdir", MECHANICS, &["--chdir"], "CHDIR", Chdir, D::Cwd, Yes,
        "Change directory to specified directory before loading apps."),
    row("daemon", MECHANICS, &["-D", "--daemon"], "", Flag, D::Bool(false), Yes,
        "Daemonize the Gunicorn process."),
    row("raw_env", MECHANICS, &["-e", "--env"], "ENV", List, D::List(&[]), Yes,
        "Set environment variables in the execution environment."),
    row("pidfile", MECHANICS, &["-p", "--pid"], "FILE", Str, D::None, Yes,
        "A filename to use for the PID file."),
    row("worker_tmp_dir", MECHANICS, &["--worker-tmp-dir"], "DIR", Str, D::None, Yes,
        "Accepted for compatibility: gunicorn-rs keeps the heartbeat in shared memory, no temp file."),
    row("user", MECHANICS, &["-u", "--user"], "USER", User, D::Euid, Yes,
        "Switch worker processes to run as this user."),
    row("group", MECHANICS, &["-g", "--group"], "GROUP", Group, D::Egid, Yes,
        "Switch worker process to run as this group."),
    row("umask", MECHANICS, &["-m", "--umask"], "INT", Octal, D::Int(0), Yes,
        "A bit mask for the file mode on files written by Gunicorn."),
    row("initgroups", MECHANICS, &["--initgroups"], "", Flag, D::Bool(false), Yes,
        "Set the worker's group access list to all the groups of the worker user."),
    row("tmp_upload_dir", MECHANICS, &[], "DIR", Str, D::None, Inert,
        "Directory for temporary request data (unused, as in Gunicorn 27)."),
    row("secure_scheme_headers", MECHANICS, &[], "", Map, D::Map(&[("X-FORWARDED-PROTOCOL", "ssl"), ("X-FORWARDED-PROTO", "https"), ("X-FORWARDED-SSL", "on")]), Yes,
        "Headers and values by which a trusted proxy marks a request HTTPS."),
    row("forwarded_allow_ips", MECHANICS, &["--forwarded-allow-ips"], "STRING", AddrList, D::ForwardedAllowIps, Yes,
        "Front-end IPs or networks (or *) trusted to set secure and forwarder headers."),
    row("accesslog", LOGGING, &["--access-logfile"], "FILE", Str, D::None, Yes,
        "The Access log file to write to."),
    row("disable_redirect_access_to_syslog", LOGGING, &["--disable-redirect-access-to-syslog"], "", Flag, D::Bool(false), Yes,
        "Disable redirect access logs to syslog."),
    row("access_log_format", LOGGING, &["--access-logformat"], "STRING", Str, D::Str("%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""), Yes,
        "The access log format."),
    row("errorlog", LOGGING, &["--error-logfile", "--log-file"], "FILE", Str, D::Str("-"), Yes,
        "The Error log file to write to."),
    row("loglevel", LOGGING, &["--log-level"], "LEVEL", Str, D::Str("info"), Yes,
        "The granularity of Error log outputs."),
    row("capture_output", LOGGING, &["--capture-output"], "", Flag, D::Bool(false), Yes,
        "Redirect stdout/stderr to specified file in errorlog."),
    row("logger_class", LOGGING, &["--logger-class"], "STRING", Class, D::Str("gunicorn.glogging.Logger"), Yes,
        "The logger you want to use to log events in Gunicorn."),
    row("logconfig", LOGGING, &["--log-config"], "FILE", Str, D::None, Yes,
        "The log config file to use."),
    row("logconfig_dict", LOGGING, &[], "", Map, D::Map(&[]), Yes,
        "A logging dictConfig dictionary."),
    row("logconfig_json", LOGGING, &["--log-config-json"], "FILE", Str, D::None, Yes,
        "A JSON file of logging dictConfig."),
    row("syslog_addr", LOGGING, &["--log-syslog-to"], "SYSLOG_ADDR", Str, D::Str("udp://localhost:514"), Yes,
        "Address to send syslog messages."),
    row("syslog", LOGGING, &["--log-syslog"], "", Flag, D::Bool(false), Yes,
        "Send *Gunicorn* logs to syslog."),
    row("syslog_prefix", LOGGING, &["--log-syslog-prefix"], "SYSLOG_PREFIX", Str, D::None, Yes,
        "Makes Gunicorn use the parameter as program-name in the syslog entries."),
    row("syslog_facility", LOGGING, &["--log-syslog-facility"], "SYSLOG_FACILITY", Str, D::Str("user"), Yes,
        "Syslog facility name."),
    row("enable_stdio_inheritance", LOGGING, &["-R", "--enable-stdio-inheritance"], "", Flag, D::Bool(false), Yes,
        "Enable stdio inheritance."),
    row("statsd_host", LOGGING, &["--statsd-host"], "STATSD_ADDR", Str, D::None, Yes,
        "The address of the StatsD server to log to."),
    row("dogstatsd_tags", LOGGING, &["--dogstatsd-tags"], "DOGSTATSD_TAGS", Str, D::Str(""), Yes,
        "A comma-delimited list of datadog statsd (dogstatsd) tags to append to statsd metrics."),
    row("statsd_prefix", LOGGING, &["--statsd-prefix"], "STATSD_PREFIX", Str, D::Str(""), Yes,
        "Prefix to use when emitting statsd metrics (a trailing . is added, if not provided)."),
    row("enable_backlog_metric", LOGGING, &["--enable-backlog-metric"], "", Flag, D::Bool(false), Yes,
        "Enable socket backlog metric (only supported on Linux)."),
    row("proc_name", PROC_NAMING, &["-n", "--name"], "STRING", Str, D::None, Yes,
        "A base to use with setproctitle for process naming."),
    row("default_proc_name", PROC_NAMING, &[], "", Str, D::Str("gunicorn"), Yes,
        "Internal setting that is adjusted for each type of application."),
    row("pythonpath", MECHANICS, &["--pythonpath"], "STRING", Str, D::None, Yes,
        "A comma-separated list of directories to add to the Python path."),
    row("paste", MECHANICS, &["--paste", "--paster"], "STRING", Str, D::None, Yes,
        "Load a PasteDeploy config file (PATH[#SECTION])."),
    row("on_starting", HOOKS, &[], "", Hook, D::Hook("OnStarting.on_starting"), Yes,
        "Called just before the master process is initialized."),
    row("on_reload", HOOKS, &[], "", Hook, D::Hook("OnReload.on_reload"), Yes,
        "Called to recycle workers during a reload via SIGHUP."),
    row("when_ready", HOOKS, &[], "", Hook, D::Hook("WhenReady.when_ready"), Yes,
        "Called just after the server is started."),
    row("pre_fork", HOOKS, &[], "", Hook, D::Hook("Prefork.pre_fork"), Yes,
        "Called just before a worker is forked."),
    row("post_fork", HOOKS, &[], "", Hook, D::Hook("Postfork.post_fork"), Yes,
        "Called just after a worker has been forked."),
    row("post_worker_init", HOOKS, &[], "", Hook, D::Hook("PostWorkerInit.post_worker_init"), Yes,
        "Called just after a worker has initialized the application."),
    row("worker_int", HOOKS, &[], "", Hook, D::Hook("WorkerInt.worker_int"), Yes,
        "Called just after a worker exited on SIGINT or SIGQUIT."),
    row("worker_abort", HOOKS, &[], "", Hook, D::Hook("WorkerAbort.worker_abort"), Yes,
        "Called when a worker received the SIGABRT signal."),
    row("pre_exec", HOOKS, &[], "", Hook, D::Hook("PreExec.pre_exec"), Yes,
        "Called just before a new master process is forked."),
    row("pre_request", HOOKS, &[], "", Hook, D::Hook("PreRequest.pre_request"), Yes,
        "Called just before a worker processes the request."),
    row("post_request", HOOKS, &[], "", Hook, D::Hook("PostRequest.post_request"), Yes,
        "Called after a worker processes the request."),
    row("child_exit", HOOKS, &[], "", Hook, D::Hook("ChildExit.child_exit"), Yes,
        "Called just after a worker has been exited, in the master process."),
    row("worker_exit", HOOKS, &[], "", Hook, D::Hook("WorkerExit.worker_exit"), Yes,
        "Called just after a worker has been exited, in the worker process."),
    row("nworkers_changed", HOOKS, &[], "", Hook, D::Hook("NumWorkersChanged.nworkers_changed"), Yes,
        "Called just after num_workers has been changed."),
    row("on_exit", HOOKS, &[], "", Hook, D::Hook("OnExit.on_exit"), Yes,
        "Called just before exiting Gunicorn."),
    row("ssl_context", HOOKS, &[], "", Hook, D::Hook("NewSSLContext.ssl_context"), NotYet,
        "Called when SSLContext is needed."),
    row("proxy_protocol", MECHANICS, &["--proxy-protocol"], "MODE", ProxyProtocol, D::Str("off"), Yes,
        "Enable PROXY protocol support."),
    row("proxy_allow_ips", MECHANICS, &["--proxy-allow-from"], "PROXY_ALLOW_IPS", AddrList, D::Str("127.0.0.1,::1"), Yes,
        "Front-end IPs or networks (or *) allowed to send a PROXY protocol header."),
    row("protocol", MECHANICS, &["--protocol"], "STRING", Choice(&["http", "uwsgi"]), D::Str("http"), Yes,
        "The protocol for incoming connections: http, or uwsgi (for nginx's uwsgi_pass)."),
    row("uwsgi_allow_ips", MECHANICS, &["--uwsgi-allow-from"], "UWSGI_ALLOW_IPS", AddrList, D::Str("127.0.0.1,::1"), Yes,
        "IPs allowed to send uWSGI protocol requests (comma separated)."),
    row("keyfile", SSL, &["--keyfile"], "FILE", Str, D::None, Yes,
        "SSL key file."),
    row("certfile", SSL, &["--certfile"], "FILE", Str, D::None, Yes,
        "SSL certificate file."),
    row("ssl_version", SSL, &["--ssl-version"], "SSL_VERSION", Int, D::Int(2), Yes,
        "SSL version to use (see stdlib ssl module's)."),
    row("cert_reqs", SSL, &["--cert-reqs"], "CERT_REQS", Int, D::Int(0), Yes,
        "Whether a client certificate is required (0 none, 1 optional, 2 required)."),
    row("ca_certs", SSL, &["--ca-certs"], "FILE", Str, D::None, Yes,
        "CA certificates file."),
    row("suppress_ragged_eofs", SSL, &["--suppress-ragged-eofs"], "", Flag, D::Bool(true), Yes,
        "Suppress ragged EOFs (see the ssl module)."),
    row("do_handshake_on_connect", SSL, &["--do-handshake-on-connect"], "", Flag, D::Bool(false), Yes,
        "Perform the SSL handshake on socket connect (see the ssl module)."),
    row("ciphers", SSL, &["--ciphers"], "CIPHERS", Str, D::None, Yes,
        "SSL Cipher suite to use, in the format of an OpenSSL cipher list."),
    row("http_protocols", HTTP2, &["--http-protocols"], "STRING", StrList, D::Str("h1"), NotYet,
        "HTTP protocol versions to support (comma-separated, order = preference)."),
    row("http2_cleartext", HTTP2, &["--http2-cleartext"], "STRING", Choice(&["off", "prior-knowledge", "upgrade", "both"]), D::Str("off"), NotYet,
        "Accept HTTP/2 over cleartext TCP (h2c), and by which mechanism."),
    row("http2_max_concurrent_streams", HTTP2, &["--http2-max-concurrent-streams"], "INT", Int, D::Int(100), NotYet,
        "Maximum number of concurrent HTTP/2 streams per connection."),
    row("http2_initial_window_size", HTTP2, &["--http2-initial-window-size"], "INT", Int, D::Int(65535), NotYet,
        "Initial HTTP/2 flow control window size in bytes."),
    row("http2_max_frame_size", HTTP2, &["--http2-max-frame-size"], "INT", Int, D::Int(16384), NotYet,
        "Maximum HTTP/2 frame payload size in bytes."),
    row("http2_max_header_list_size", HTTP2, &["--http2-max-header-list-size"], "INT", Int, D::Int(65536), NotYet,
        "Maximum size of HTTP/2 header list in bytes (HPACK protection)."),
    row("raw_paste_global_conf", MECHANICS, &["--paste-global"], "CONF", List, D::List(&[]), Yes,
        "Set a PasteDeploy global config variable in key=value form."),
    row("permit_obsolete_folding", MECHANICS, &["--permit-obsolete-folding"], "", Flag, D::Bool(false), Yes,
        "Permit requests using obsolete HTTP header line folding."),
    row("strip_header_spaces", MECHANICS, &["--strip-header-spaces"], "", Flag, D::Bool(false), Yes,
        "Strip spaces present between the header name and the the :."),
    row("permit_unconventional_http_method", MECHANICS, &["--permit-unconventional-http-method"], "", Flag, D::Bool(false), Yes,
        "Permit HTTP methods not matching conventions (IANA registration guidelines)."),
    row("permit_unconventional_http_version", MECHANICS, &["--permit-unconventional-http-version"], "", Flag, D::Bool(false), Yes,
        "Permit HTTP versions other than 1.0 and 1.1."),
    row("casefold_http_method", MECHANICS, &["--casefold-http-method"], "", Flag, D::Bool(false), Yes,
        "Transform received HTTP methods to uppercase."),
    row("forwarder_headers", MECHANICS, &["--forwarder-headers"], "FORWARDER_HEADERS", StrList, D::Str("SCRIPT_NAME,PATH_INFO"), Yes,
        "Upper-case header names a trusted front-end proxy may set although they contain _."),
    row("header_map", MECHANICS, &["--header-map"], "HEADER_MAP", Choice(&["drop", "refuse", "dangerous"]), D::Str("drop"), Yes,
        "What to do with header names containing _: drop, refuse or dangerous."),
    row("asgi_loop", WORKERS, &["--asgi-loop"], "STRING", Choice(&["auto", "asyncio", "uvloop"]), D::Str("auto"), Yes,
        "Event loop implementation for ASGI workers."),
    row("asgi_lifespan", WORKERS, &["--asgi-lifespan"], "STRING", Choice(&["auto", "on", "off"]), D::Str("auto"), Yes,
        "Control ASGI lifespan protocol handling."),
    row("asgi_disconnect_grace_period", WORKERS, &["--asgi-disconnect-grace-period"], "INT", Int, D::Int(3), Yes,
        "Grace period (seconds) for ASGI apps to handle client disconnects."),
    row("websocket_max_message_size", WORKERS, &["--websocket-max-message-size"], "INT", Int, D::Int(16777216), Yes,
        "Largest WebSocket message, in bytes, the asgi worker accepts."),
    row("websocket_per_message_deflate", WORKERS, &["--no-websocket-per-message-deflate"], "", FlagFalse, D::None, RsOnly,
        "Do not offer the WebSocket permessage-deflate extension (RFC 7692) to asgi clients."),
    row("http_parser", WORKERS, &["--http-parser"], "STRING", Choice(&["auto", "fast", "python"]), D::Str("auto"), Yes,
        "HTTP parser implementation (gunicorn-rs always uses its Rust parser)."),
    row("root_path", MECHANICS, &["--root-path"], "STRING", Str, D::Str(""), Yes,
        "The root path for ASGI applications."),
    row("dirty_apps", DIRTY, &["--dirty-app"], "STRING", List, D::List(&[]), NotYet,
        "Dirty applications to load in the dirty worker pool."),
    row("dirty_workers", DIRTY, &["--dirty-workers"], "INT", Int, D::Int(0), NotYet,
        "The number of dirty worker processes."),
    row("dirty_timeout", DIRTY, &["--dirty-timeout"], "INT", Int, D::Int(300), NotYet,
        "Timeout for dirty task execution in seconds."),
    row("dirty_threads", DIRTY, &["--dirty-threads"], "INT", Int, D::Int(1), NotYet,
        "The number of threads per dirty worker."),
    row("dirty_graceful_timeout", DIRTY, &["--dirty-graceful-timeout"], "INT", Int, D::Int(30), NotYet,
        "Timeout for graceful dirty worker shutdown in seconds."),
    row("on_dirty_starting", DIRTY_HOOKS, &[], "", Hook, D::Hook("OnDirtyStarting.on_dirty_starting"), NotYet,
        "Called just before the dirty arbiter process is initialized."),
    row("dirty_post_fork", DIRTY_HOOKS, &[], "", Hook, D::Hook("DirtyPostFork.dirty_post_fork"), NotYet,
        "Called just after a dirty worker has been forked."),
    row("dirty_worker_init", DIRTY_HOOKS, &[], "", Hook, D::Hook("DirtyWorkerInit.dirty_worker_init"), NotYet,
        "Called just after a dirty worker has initialized all applications."),
    row("dirty_worker_exit", DIRTY_HOOKS, &[], "", Hook, D::Hook("DirtyWorkerExit.dirty_worker_exit"), NotYet,
        "Called when a dirty worker has exited."),
    row("control_socket", CONTROL, &["--control-socket"], "PATH", Str, D::ControlSocket, Yes,
        "Unix socket path for control interface (default: one per server, see gunicorn-rs ctl)."),
    row("control_socket_mode", CONTROL, &["--control-socket-mode"], "INT", Octal, D::Int(384), Yes,
        "Permission mode for control socket."),
    row("control_socket_disable", CONTROL, &["--no-control-socket"], "", Flag, D::Bool(false), Yes,
        "Disable control socket."),
    // gunicorn-rs only.
    row("header_timeout", SECURITY, &["--header-timeout"], "SECONDS", Int, D::Int(10), RsOnly,
        "Seconds a client gets to send a complete request head (gunicorn-rs only)."),
    row("request_timeout", WORKERS, &["--request-timeout"], "SECONDS", Int, D::Int(0), RsOnly,
        "A request running longer is answered 504, its stack logged, the app interrupted; 0 = off (gunicorn-rs only)."),
    row("dump_signal", DEBUGGING, &["--dump-signal"], "SIGNAL", Str, D::Str("SIGRTMIN+2"), RsOnly,
        "The signal on which a worker writes the Python stacks of all its threads (gunicorn-rs only)."),
    row("worker_abort_timeout", WORKERS, &["--worker-abort-timeout"], "SECONDS", Int, D::Int(3), RsOnly,
        "After a WORKER TIMEOUT's SIGABRT, seconds before SIGKILL (gunicorn-rs only)."),
    row("max_worker_memory", WORKERS, &["--max-worker-memory"], "MiB", Int, D::Int(0), RsOnly,
        "Recycle a worker whose RSS passes this many MiB, gracefully; 0 = never (gunicorn-rs only)."),
    row("tui", DEBUGGING, &["--tui"], "", Flag, D::Bool(false), RsOnly,
        "Run the server under a live terminal dashboard of its workers (gunicorn-rs only)."),
    // Two settings, not one flag pair: `--no-tui` wins over `--tui` wherever each was given,
    // so the master the dashboard starts stays headless whatever GUNICORN_CMD_ARGS or the
    // config file say.
    row("no_tui", DEBUGGING, &["--no-tui"], "", Flag, D::Bool(false), RsOnly,
        "No dashboard, whatever else asks for one (the default; gunicorn-rs only)."),
    // Issue 11: what production tooling reads (Prometheus, Kubernetes probes, load balancers).
    row("metrics_bind", MECHANICS, &["--metrics-bind"], "ADDRESS", Str, D::None, RsOnly,
        "HOST:PORT where the master serves /metrics (Prometheus), /healthz and /readyz; off by default (gunicorn-rs only)."),
    row("shutdown_delay", MECHANICS, &["--shutdown-delay"], "SECONDS", Int, D::Int(0), RsOnly,
        "On TERM, fail /readyz at once but keep serving this long before the graceful stop; 0 = stop at once (gunicorn-rs only)."),
    row("log_format", LOGGING, &["--log-format"], "FORMAT", Choice(&["text", "json"]), D::Str("text"), RsOnly,
        "The error and access logs as Gunicorn's text lines or one JSON object per line (gunicorn-rs only)."),
];

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
