//! `ParseError`: every way a request can be malformed, and the one mapping to a status.

/// A malformed or refused request. Names follow Gunicorn's `http/errors.py`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The client closed the connection before a complete head (no response is sent).
    #[error("No more data after: {0:?}")]
    NoMoreData(String),
    #[error("Invalid HTTP request line: {0:?}")]
    InvalidRequestLine(String),
}

impl ParseError {
    /// The status code Gunicorn 27 answers with; `None` = close without a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            ParseError::NoMoreData(_) => None,
            ParseError::InvalidRequestLine(_) => Some(400),
        }
    }

    /// Gunicorn's exception class name (for the conformance corpus).
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::NoMoreData(_) => "NoMoreData",
            ParseError::InvalidRequestLine(_) => "InvalidRequestLine",
        }
    }
}
