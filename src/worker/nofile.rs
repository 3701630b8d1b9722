//! The open-file limit: a worker that may hold `worker_connections` client sockets raises its
//! soft `RLIMIT_NOFILE` as far as the hard limit allows, and says so when that is not enough
//! (Gunicorn leaves this to the operator; a too-low limit shows up as EMFILE on accept).

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Descriptors a worker may open beside its client sockets once it serves: the app's own
/// files and database connections.
const HEADROOM: u64 = 64;

/// Make room for `--worker-connections` client sockets.
pub fn raise_for(worker_connections: usize) {
    let open_now = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let want = worker_connections as u64 + open_now + HEADROOM;
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
            "The open-file limit (hard {hard}) is below what --worker-connections \
             {worker_connections} needs ({want} descriptors): past about {} connections a \
             worker leaves new ones in the backlog",
            hard.saturating_sub(open_now + HEADROOM)
        );
    } else {
        crate::debug!("Raised the open-file limit from {soft} to {target}");
    }
}
