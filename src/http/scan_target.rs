//! The request-target forms of RFC 9112 §3.2, as bytes arrive: which form the first byte
//! starts and which bytes may follow (`scan.rs`).

use crate::http::request::ParserConfig;

/// How much of a request-target form (RFC 9112 §3.2) has been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// No byte yet: the first one chooses the form.
    Unknown,
    /// §3.2.1 `/…`, or §3.2.2 after its `scheme://`: visible ASCII (Gunicorn 27's set).
    Path,
    /// §3.2.4 `*`: nothing may follow.
    Asterisk,
    /// §3.2.2 the scheme of an absolute-URI (RFC 3986 §3.1), then `:`, `/`, `/`.
    Scheme,
    Colon,
    Slash,
    /// §3.2.3 CONNECT's `host:port` (RFC 3986 §3.2.2 characters).
    Authority,
}

/// The form a request-target's first byte starts, if any.
pub(super) fn first_target_form(b: u8, method: &[u8], cfg: &ParserConfig) -> Option<Form> {
    let is = |name: &[u8]| match cfg.casefold_http_method {
        true => method.eq_ignore_ascii_case(name),
        false => method == name,
    };
    // RFC 9110 §9.3.6: CONNECT's target is only a host and port (RFC 9112 §3.2.3).
    if is(b"CONNECT") {
        return is_authority_byte(b).then_some(Form::Authority);
    }
    match b {
        b'/' => Some(Form::Path),
        // RFC 9112 §3.2.4: the asterisk-form is only for OPTIONS.
        b'*' if is(b"OPTIONS") => Some(Form::Asterisk),
        // RFC 3986 §3.1: a scheme starts with a letter.
        _ if b.is_ascii_alphabetic() => Some(Form::Scheme),
        _ => None,
    }
}

/// RFC 3986 §3.2.2: unreserved, pct-encoded, sub-delims, and `[`, `]`, `:` of an
/// IP-literal and port.
fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=[]:".contains(&b)
}

/// The next form after byte `b`, or `None` if `b` cannot continue the target.
pub(super) fn next_form(form: Form, b: u8) -> Option<Form> {
    let visible = (0x21..=0x7e).contains(&b);
    match form {
        Form::Path if visible => Some(Form::Path),
        Form::Scheme if b.is_ascii_alphanumeric() || b"+-.".contains(&b) => Some(Form::Scheme),
        Form::Scheme if b == b':' => Some(Form::Colon),
        Form::Colon if b == b'/' => Some(Form::Slash),
        Form::Slash if b == b'/' => Some(Form::Path),
        Form::Authority if is_authority_byte(b) => Some(Form::Authority),
        _ => None,
    }
}

/// Does a whole request-target name a host that may be valid (RFC 9112 §3.2.2-3.2.3)? Only
/// absolute-form and CONNECT's authority-form name one; the others leave it to Host.
pub(super) fn target_names_a_valid_host(target: &[u8], method: &[u8]) -> bool {
    // The usual origin-form (`/…`) names no host: nothing to decode or look at.
    if target.starts_with(b"/") && method != b"CONNECT" {
        return true;
    }
    let (Ok(target), Ok(method)) = (std::str::from_utf8(target), std::str::from_utf8(method))
    else {
        return false;
    };
    let named = crate::http::host::TargetHost::of(target, method);
    crate::http::host::target_host(&named).is_ok()
}
