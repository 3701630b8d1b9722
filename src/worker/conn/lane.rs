//! A lane: one thread's (or one greenlet slot's) share of a worker — its scoreboard entry,
//! the `Date` of the current second, the buffer responses are assembled in, the read buffer a
//! connection borrows, and the responses it holds back to send together.

use super::batch::Batch;
use crate::http;

/// One lane's own state: which lane it is, the `Date` value of the current second, the
/// buffer responses are assembled in, and the responses it holds back to send together.
pub struct Lane {
    pub index: usize,
    /// The scoreboard entry the lane's request is shown in. The lane's own for sync and
    /// gthread; a greenlet worker has more lanes than entries and hands these out per request
    /// (None: the request is not shown until an entry frees up).
    pub entry: Option<usize>,
    pub(super) date: (i64, String),
    pub(super) out: Vec<u8>,
    /// The read buffer a connection borrows while it reads a head and is served.
    pub spare: Vec<u8>,
    /// Finished responses waiting to go out together (off unless the kind turns it on).
    pub batch: Batch,
}

impl Lane {
    pub fn new(index: usize) -> Lane {
        Lane {
            index,
            entry: Some(index),
            date: (0, String::new()),
            out: Vec::new(),
            spare: Vec::new(),
            batch: Batch::default(),
        }
    }

    pub(super) fn refresh_date(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if self.date.0 != now {
            self.date = (now, http::response::http_date(now));
        }
    }
}
