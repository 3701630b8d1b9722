//! The frames a server writes (RFC 6455 §5.1–5.2: unmasked, FIN set, the shortest length
//! encoding), and the close frame with its code and reason.

use super::CLOSE;

/// A server frame (unmasked, RFC 6455 §5.1), whole (FIN set).
pub fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let (header, len) = server_header(opcode, payload.len());
    out.extend_from_slice(&header[..len]);
    out.extend_from_slice(payload);
}

/// RSV1 in a frame's first byte: a compressed message (RFC 7692 §6).
pub const COMPRESSED: u8 = 0x40;

/// The header of a server frame (FIN set, no mask) with a `len`-byte payload, and how many
/// of its bytes are used: the shortest length encoding (§5.2: "the minimal number of bytes
/// MUST be used").
pub fn server_header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut header = [0u8; 10];
    header[0] = 0x80 | opcode;
    let used = match len {
        n if n < 126 => {
            header[1] = n as u8;
            2
        }
        n if n <= usize::from(u16::MAX) => {
            header[1] = 126;
            header[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            4
        }
        n => {
            header[1] = 127;
            header[2..10].copy_from_slice(&(n as u64).to_be_bytes());
            10
        }
    };
    (header, used)
}

/// A close frame with `code` and `reason` (the reason cut to fit a control frame's 125 bytes).
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    write_frame(out, CLOSE, &payload);
}
