//! Loading the app (`module:name`, `module`, `module:factory(args)`) and calling it per request.

use super::{BodyRead, ConnInfo, Outcome, ResponseSink};
use crate::http::RequestHead;

/// The loaded WSGI callable.
pub struct App {
    _private: (),
}

/// Why the app could not be loaded (worker exit code 4, Gunicorn's APP_LOAD_ERROR).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Gunicorn's wording, e.g. `Failed to find attribute 'x' in 'mod'.`
    #[error("{0}")]
    Message(String),
    /// An exception while importing; the formatted traceback.
    #[error("{0}")]
    Exception(String),
}

impl App {
    /// Import the app named by `uri`. Needs the interpreter initialised.
    pub fn load(uri: &str) -> Result<App, LoadError> {
        let _ = uri;
        todo!("wsgi::App::load")
    }

    /// Run one request through the app.
    pub fn call(
        &self,
        head: &RequestHead,
        conn: &ConnInfo,
        body: &mut dyn BodyRead,
        sink: &mut dyn ResponseSink,
        environ_keys: &[String],
    ) -> Outcome {
        let _ = (head, conn, body, sink, environ_keys);
        todo!("wsgi::App::call")
    }
}
