//! The open-file limit: a worker that may hold `worker_connections` client sockets raises its
//! soft `RLIMIT_NOFILE` as far as the hard limit allows, and says so when that is not enough
//! (Gunicorn leaves this to the operator; a too-low limit shows up as EMFILE on accept).

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Descriptors a worker needs beside its client sockets: listeners, pipes, the epoll set,
/// the app's own files and database connections.
const HEADROOM: u64 = 128;

/// Make room for `connections` client sockets.
pub fn raise_for(connections: usize) {
    let want = connections as u64 + HEADROOM;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= want {
        return;
    }
    let target = want.min(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_err() {
        crate::warning!("Cannot raise the open-file limit from {soft} to {target}");
        return;
    }
    if target < want {
        crate::warning!(
            "The open-file limit (hard {hard}) is below what --worker-connections {connections} \
             needs ({want}): past about {} connections a worker leaves new ones in the backlog",
            hard.saturating_sub(HEADROOM)
        );
    } else {
        crate::debug!("Raised the open-file limit from {soft} to {target}");
    }
}
