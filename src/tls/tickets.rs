//! Session tickets any worker can open (RFC 8446 §4.6.1 for TLS 1.3, RFC 5077 for 1.2).
//!
//! A client that comes back with a ticket skips the certificate's signature, which is most of
//! a full handshake's cost (with RSA-2048 about 600 µs of a worker's CPU). But the kernel hands
//! a returning client's connection to whichever worker accepts it, and rustls's default keeps
//! sessions in each worker's own memory (copied at the fork, then apart): a client resumed
//! only when it came back to the worker that served it, one time in N with N workers, and a
//! TLS 1.3 ticket resumed once at most (the cache takes it). So the master draws one secret
//! before it forks, and every worker derives the same key for the same period of time from it;
//! the ticket carries the session encrypted under that key, and any worker opens it.
//!
//! Keys change every [`PERIOD`]: a ticket is opened in the period it was made and the next,
//! then no more. Within that, as with nginx's ticket keys, whoever reads a worker's memory can
//! open the tickets it can; the secret lives as long as the master.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;

/// How long one key makes tickets. A ticket stays valid until its key's next period ends.
const PERIOD: u64 = 6 * 60 * 60;

/// The period a ticket was made in, before its nonce: `decrypt` takes the key from it.
const PERIOD_LEN: usize = 8;

/// Tells this server's keys from any other use of the secret (RFC 5869 §3.2: `info`).
const KEY_LABEL: &[u8] = b"gunicorn-rs session ticket key";

pub struct SharedTickets {
    secret: hkdf::Prk,
    rng: SystemRandom,
}

impl SharedTickets {
    /// A fresh secret from the system's random source; `None` when it has none to give.
    pub fn new() -> Option<SharedTickets> {
        let rng = SystemRandom::new();
        let mut ikm = [0u8; 32];
        rng.fill(&mut ikm).ok()?;
        let secret = hkdf::Salt::new(hkdf::HKDF_SHA256, KEY_LABEL).extract(&ikm);
        Some(SharedTickets { secret, rng })
    }

    /// The key of `period`, the same in every process holding this secret.
    fn key(&self, period: u64) -> Option<LessSafeKey> {
        let info = period.to_be_bytes();
        let info = [KEY_LABEL, info.as_slice()];
        let okm = self.secret.expand(&info, &aead::CHACHA20_POLY1305).ok()?;
        Some(LessSafeKey::new(UnboundKey::from(okm)))
    }
}

fn current_period() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_secs() / PERIOD)
}

impl std::fmt::Debug for SharedTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.write_str("SharedTickets")
    }
}

impl ProducesTickets for SharedTickets {
    fn enabled(&self) -> bool {
        true
    }

    /// What the client is told (RFC 8446 §4.6.1 `ticket_lifetime`): one period, which a ticket
    /// outlives whenever in its period it was made.
    fn lifetime(&self) -> u32 {
        PERIOD as u32
    }

    /// `period ‖ nonce ‖ ChaCha20-Poly1305(plain)`, the period bound in as associated data.
    /// The nonce is random: 96 bits keep a repeat improbable far beyond the tickets one key
    /// makes in a period (RFC 8439 §4 forbids a repeat under one key).
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let now = current_period();
        let period = now.to_be_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let key = self.key(now)?;
        let mut sealed = plain.to_vec();
        let nonce_value = Nonce::assume_unique_for_key(nonce);
        key.seal_in_place_append_tag(nonce_value, Aad::from(period), &mut sealed)
            .ok()?;
        let mut ticket = Vec::with_capacity(PERIOD_LEN + NONCE_LEN + sealed.len());
        ticket.extend_from_slice(&period);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    /// The session, if `cipher` is a ticket of this period or the last, whole and unaltered.
    /// Anything else (the client's bytes, attacker-controlled) is `None`.
    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let period: [u8; PERIOD_LEN] = cipher.get(..PERIOD_LEN)?.try_into().ok()?;
        let nonce: [u8; NONCE_LEN] = cipher
            .get(PERIOD_LEN..PERIOD_LEN + NONCE_LEN)?
            .try_into()
            .ok()?;
        let made = u64::from_be_bytes(period);
        let now = current_period();
        if made != now && made.checked_add(1) != Some(now) {
            return None;
        }
        let mut sealed = cipher.get(PERIOD_LEN + NONCE_LEN..)?.to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce);
        let plain = self
            .key(made)?
            .open_in_place(nonce, Aad::from(period), &mut sealed)
            .ok()?;
        let len = plain.len();
        sealed.truncate(len);
        Some(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_in_another_process_holding_the_same_secret() {
        let tickets = SharedTickets::new().expect("random source");
        let ticket = tickets.encrypt(b"session state").expect("sealed");
        assert_ne!(&ticket[PERIOD_LEN + NONCE_LEN..], b"session state");
        // A worker is a fork: the same secret, so the same keys.
        let other = SharedTickets {
            secret: tickets.secret.clone(),
            rng: SystemRandom::new(),
        };
        assert_eq!(
            other.decrypt(&ticket).as_deref(),
            Some(&b"session state"[..])
        );
    }

    #[test]
    fn altered_short_stale_or_foreign_tickets_do_not_open() {
        let tickets = SharedTickets::new().expect("random source");
        let ticket = tickets.encrypt(b"session state").expect("sealed");
        for i in 0..ticket.len() {
            let mut altered = ticket.clone();
            altered[i] ^= 0x01;
            assert_eq!(tickets.decrypt(&altered), None, "byte {i} altered");
        }
        for n in 0..ticket.len() {
            assert_eq!(tickets.decrypt(&ticket[..n]), None, "cut to {n}");
        }
        let stale = tickets.seal_for(current_period() - 2, b"session state");
        assert_eq!(tickets.decrypt(&stale), None);
        let last = tickets.seal_for(current_period() - 1, b"session state");
        assert_eq!(
            tickets.decrypt(&last).as_deref(),
            Some(&b"session state"[..])
        );
        let foreign = SharedTickets::new().expect("random source");
        assert_eq!(foreign.decrypt(&ticket), None);
    }

    impl SharedTickets {
        /// A ticket as `encrypt` would have made it in `period`.
        fn seal_for(&self, period: u64, plain: &[u8]) -> Vec<u8> {
            let nonce = [7u8; NONCE_LEN];
            let mut sealed = plain.to_vec();
            let key = self.key(period).expect("key");
            let aad = Aad::from(period.to_be_bytes());
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad, &mut sealed)
                .expect("sealed");
            [&period.to_be_bytes()[..], &nonce, &sealed].concat()
        }
    }
}
