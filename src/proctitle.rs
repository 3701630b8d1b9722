//! Process titles for `ps` and `top`: `gunicorn-rs: master [NAME]`, `gunicorn-rs: worker [NAME]`.
//!
//! Linux shows `/proc/PID/cmdline`, which the kernel reads from the memory where the process's
//! argv strings live (and, when argv's last byte is not NUL, on into the environment strings
//! that follow it). Like `setproctitle(3)` of BSD and Python's setproctitle, [`init`] moves the
//! environment strings to the heap so that the whole argv+environ area can hold a title, and
//! [`set`] writes the title there. `PR_SET_NAME` sets the short name `top` shows too.
//!
//! [`init`] must run first thing in `main`, after the arguments were copied (Rust's
//! `std::env::args` reads the argv memory lazily) and before any thread exists.

use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};

static AREA_START: AtomicUsize = AtomicUsize::new(0);
static AREA_LEN: AtomicUsize = AtomicUsize::new(0);

extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// Fields 48–51 of `/proc/self/stat`: arg_start, arg_end, env_start, env_end.
fn memory_layout() -> Option<[usize; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
    Some([get(48)?, get(49)?, get(50)?, get(51)?])
}

/// Make the argv+environ area writable as one title buffer. Call once, single-threaded.
pub fn init() {
    let Some([arg_start, arg_end, env_start, env_end]) = memory_layout() else {
        return;
    };
    if arg_end <= arg_start || env_start < arg_end || env_end < env_start {
        return;
    }
    // SAFETY: single-threaded at this point (documented precondition). Each environ entry is
    // replaced by a heap copy that is never freed, so getenv(3) keeps working after the
    // original strings are overwritten; entries outside [env_start, env_end) are left alone.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let ptr = *entry as usize;
            if ptr >= env_start && ptr < env_end {
                let copy = CString::from(std::ffi::CStr::from_ptr(*entry));
                *entry = copy.into_raw();
            }
            entry = entry.add(1);
        }
    }
    AREA_START.store(arg_start, Ordering::Relaxed);
    AREA_LEN.store(env_end - arg_start, Ordering::Relaxed);
}

/// Set the process title.
pub fn set(title: &str) {
    let start = AREA_START.load(Ordering::Relaxed);
    let len = AREA_LEN.load(Ordering::Relaxed);
    if start != 0 && len > 1 {
        let bytes = title.as_bytes();
        let n = bytes.len().min(len - 1);
        // SAFETY: [start, start+len) is this process's own argv+environ string area (from
        // /proc/self/stat); `init` moved every environ string that lived there to the heap,
        // and the argv strings were copied by Rust's runtime before `init` ran.
        unsafe {
            let area = std::slice::from_raw_parts_mut(start as *mut u8, len);
            area[..n].copy_from_slice(&bytes[..n]);
            // A title longer than argv leaves argv's last byte non-NUL, which is what tells
            // the kernel to read on into the environ part of the area.
            area[n..].fill(0);
        }
    }
    if let Ok(name) = CString::new(title.chars().take(15).collect::<String>()) {
        let _ = nix::sys::prctl::set_name(&name);
    }
}
