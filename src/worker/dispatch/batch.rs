//! A lane that serves alone takes every ready event of a wait at once and sends the
//! responses of those requests together at the end (`conn::batch` says why). Its held
//! connections park only once their responses are out: parked earlier, the worker's loop
//! could close one (an expired deadline, a stop) before its response went.

use super::{Dispatcher, Policy};
use crate::worker::conn::{After, Lane};
use crate::worker::table::Token;

impl Dispatcher<'_> {
    /// How many events one wait takes. Several lanes take one each: a batch taken by one
    /// lane would be served one after another while the other lanes sit idle.
    pub(super) fn events_per_wait(&self, lane: &Lane, room: usize) -> usize {
        match self.policy {
            Policy::Threaded { .. } if !lane.batch.is_on() => 1,
            _ => room,
        }
    }

    /// Send what the lane held back once the oldest has waited long enough.
    pub(super) fn send_due(&self, lane: &mut Lane) {
        if lane.batch.is_due() {
            self.send_batch(lane);
        }
    }

    /// Send every response the lane held back; their connections park (or close) now.
    pub(super) fn send_batch(&self, lane: &mut Lane) {
        if lane.batch.is_empty() {
            return;
        }
        let timeout = self.svc.send_timeout();
        lane.batch.send(timeout, |conn, token, sent| {
            let token = Token::from_raw(token);
            match sent {
                true => self.after(token, conn, After::KeepAlive),
                false => self.close(token, conn),
            }
        });
    }
}
