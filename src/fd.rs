//! Writing to a descriptor the process holds but does not own as a Rust value (the master's
//! fds 1 and 2, a connection's socket borrowed by the watchdog thread). One `write_all` for
//! them all: std's, which retries short writes and EINTR (write(2): "the number of bytes
//! written may be less than count"). Non-blocking sockets with deadlines have their own loop
//! in `worker::conn::stream`, which must wait for POLLOUT instead.
//!
//! Knows nothing of HTTP, Python or processes: a leaf that master and worker both use.

use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};

/// Write all of `data` to `fd`; stops at the first error other than EINTR (EAGAIN included:
/// a full pipe or socket buffer is the caller's to handle).
pub fn write_all(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<()> {
    // SAFETY: `fd` is open for the borrow's lifetime; ManuallyDrop keeps the File from closing
    // a descriptor it does not own.
    let file = ManuallyDrop::new(unsafe { File::from_raw_fd(fd.as_raw_fd()) });
    (&*file).write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    #[test]
    fn writes_everything_and_leaves_the_descriptor_open() {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let data = vec![b'x'; 100_000];
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            File::from(read).read_to_end(&mut got).expect("read");
            got
        });
        write_all(write.as_fd(), &data).expect("write_all");
        // Still open: a second write succeeds, then dropping the OwnedFd closes it once.
        write_all(write.as_fd(), b"!").expect("second write");
        drop(write);
        let got = reader.join().expect("reader");
        assert_eq!(got.len(), data.len() + 1);
    }
}
