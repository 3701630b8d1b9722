//! The worker kind (`worker_class`, by any name Gunicorn and uvicorn users write it) and the
//! asgi worker's settings, for the high stage.

use super::super::resolved::Resolved;
use super::super::value::Value;
use super::super::{AsgiLoop, AsgiSettings, ConfigError, Lifespan, WorkerClass};
use super::{int, seconds, string};

/// `asgi_loop`, `asgi_lifespan`, `root_path`, `asgi_disconnect_grace_period`,
/// `websocket_max_message_size`, `websocket_per_message_deflate` (the choices are validated
/// with the table).
pub(super) fn asgi(r: &Resolved) -> AsgiSettings {
    AsgiSettings {
        event_loop: match string(r, "asgi_loop") {
            Some("asyncio") => AsgiLoop::Asyncio,
            Some("uvloop") => AsgiLoop::Uvloop,
            _ => AsgiLoop::Auto,
        },
        lifespan: match string(r, "asgi_lifespan") {
            Some("on") => Lifespan::On,
            Some("off") => Lifespan::Off,
            _ => Lifespan::Auto,
        },
        root_path: string(r, "root_path").unwrap_or("").into(),
        disconnect_grace: seconds(r, "asgi_disconnect_grace_period"),
        websocket_max_message_size: int(r, "websocket_max_message_size").max(1) as usize,
        // Unset: on (a `FlagFalse` stores `False` only when `--no-...` is given).
        websocket_per_message_deflate: !matches!(
            r.get("websocket_per_message_deflate"),
            Value::Bool(false)
        ),
    }
}

/// The worker class by Gunicorn's name, class path or `egg:gunicorn#` form. Like Gunicorn,
/// `sync` with `threads > 1` is `gthread`.
pub(super) fn worker_class(r: &Resolved) -> Result<WorkerClass, ConfigError> {
    let class = string(r, "worker_class").unwrap_or("sync");
    let unsupported = |why: &str| ConfigError::UnsupportedValue {
        setting: "worker_class".into(),
        value: class.into(),
        why: why.into(),
    };
    let name = class.strip_prefix("egg:gunicorn#").unwrap_or(class);
    let kind = match name {
        "sync" | "gunicorn.workers.sync.SyncWorker" => WorkerClass::Sync,
        "gthread" | "gunicorn.workers.gthread.ThreadWorker" => WorkerClass::Gthread,
        "gevent"
        | "gevent_wsgi"
        | "gevent_pywsgi"
        | "gunicorn.workers.ggevent.GeventWorker"
        | "gunicorn.workers.ggevent.GeventPyWSGIWorker" => WorkerClass::Gevent,
        "eventlet" | "gunicorn.workers.geventlet.EventletWorker" => WorkerClass::Eventlet,
        "asgi"
        | "gunicorn.workers.gasgi.ASGIWorker"
        | "uvicorn.workers.UvicornWorker"
        | "uvicorn.workers.UvicornH11Worker"
        | "uvicorn_worker.UvicornWorker"
        | "uvicorn_worker.UvicornH11Worker" => WorkerClass::Asgi,
        "tornado" | "gunicorn.workers.gtornado.TornadoWorker" => WorkerClass::Tornado,
        _ => return Err(unsupported("not a worker class gunicorn-rs knows")),
    };
    match (kind, int(r, "threads") > 1) {
        (WorkerClass::Sync, true) => Ok(WorkerClass::Gthread),
        _ => Ok(kind),
    }
}
