//! `wsgi.file_wrapper` (PEP 3333 "Optional Platform-Specific File Handling").
//!
//! An iterable over `filelike.read(blksize)` that the bridge recognises when the app returns
//! it: if the file has a real descriptor on a regular file, the body goes out with sendfile
//! from the file's current position instead of through Python.

use std::os::fd::{BorrowedFd, RawFd};

use pyo3::prelude::*;

use super::response::{Responder, SendError};
use super::AppError;

/// `FileWrapper(filelike, blksize=8192)`, as in Gunicorn.
#[pyclass(frozen, module = "gunicorn_rs", name = "FileWrapper")]
pub struct FileWrapper {
    #[pyo3(get)]
    filelike: Py<PyAny>,
    #[pyo3(get)]
    blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> Self {
        FileWrapper { filelike, blksize }
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        Ok(if data.is_truthy()? { Some(data) } else { None })
    }

    /// PEP 3333: the wrapper's `close()` calls the file-like object's `close()`, if it has one.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let filelike = self.filelike.bind(py);
        if filelike.hasattr("close")? {
            filelike.call_method0("close")?;
        }
        Ok(())
    }
}

/// Send a returned `FileWrapper` with sendfile. `None`: not possible here (no descriptor, not a
/// regular file, or the sink said `Unsupported`) and nothing was sent — iterate it instead.
/// `Some(result)`: the response was sent (or failed) this way.
pub(crate) fn try_sendfile(
    py: Python<'_>,
    wrapper: &Bound<'_, FileWrapper>,
    responder: &Responder,
) -> Option<Result<(), AppError>> {
    if !responder.has_status() {
        return None;
    }
    let filelike = wrapper.get().filelike.bind(py);
    let fd: RawFd = filelike.call_method0("fileno").ok()?.extract().ok()?;
    if !is_regular_file(fd) {
        return None;
    }
    // `tell()`, not lseek: a buffered file object's position includes what it has read ahead.
    let offset: u64 = filelike.call_method0("tell").ok()?.extract().ok()?;
    match responder.sendfile(py, fd, offset) {
        Err(SendError::Unsupported) => None,
        Err(err) => Some(Err(err.into_app_error())),
        Ok(()) => Some(responder.finish(py)),
    }
}

fn is_regular_file(fd: RawFd) -> bool {
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` came from the live file object's fileno(); it stays open while we hold the
    // wrapper, and the borrow does not outlive this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    nix::sys::stat::fstat(fd).is_ok_and(|st| (st.st_mode & libc::S_IFMT) == libc::S_IFREG)
}
