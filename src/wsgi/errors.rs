//! `wsgi.errors`: a text stream into the server's error log (PEP 3333 "Input and Error
//! Streams": `write`, `writelines`, `flush`).
//!
//! Bytes go to `log::write_error_stream` as they are, with no log-record prefix, as Gunicorn's
//! `WSGIErrorsWrapper` writes straight to the error-log streams.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// The `wsgi.errors` object. Stateless, so one instance serves every request.
#[pyclass(frozen, module = "gunicorn_rs", name = "WSGIErrors")]
pub struct ErrorStream;

#[pymethods]
impl ErrorStream {
    /// Write `data` (str, or bytes for leniency); returns its length like `io.TextIOBase`.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let (bytes, len) = if let Ok(text) = data.cast::<PyString>() {
            // Lone surrogates cannot be UTF-8; lossy beats losing the whole message.
            let text = text.to_string_lossy();
            (text.as_bytes().to_vec(), text.chars().count())
        } else if let Ok(bytes) = data.cast::<PyBytes>() {
            (bytes.as_bytes().to_vec(), bytes.as_bytes().len())
        } else {
            let kind = data.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "write() argument must be str, not {kind}"
            )));
        };
        // Detached: the error log may be a pipe that blocks when full.
        super::blocking(py, || crate::log::write_error_stream(&bytes));
        Ok(len)
    }

    fn writelines(&self, py: Python<'_>, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(py, &line?)?;
        }
        Ok(())
    }

    /// Every write is already handed to the log writer.
    fn flush(&self) {}

    fn writable(&self) -> bool {
        true
    }
}
