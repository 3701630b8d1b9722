//! Unit tests of `watchdog` (kept apart so the module itself stays short).

use super::report::greenlet_stack;

const DUMP: &str = "Current thread 0x00007f0000000001 (most recent call first):\n  \
    File \"hub.py\", line 1 in run\n\
    Greenlet 0x00007f00000000a0 (most recent call first):\n  \
    File \"app.py\", line 5 in slow\n\
    \n\
    Greenlet 0x00007f00000000b0 (most recent call first):\n  \
    File \"app.py\", line 9 in other\n\
    -- gunicorn-rs: end of greenlet stacks --\n";

#[test]
fn a_timeout_logs_the_stack_of_its_own_greenlet() {
    assert_eq!(
        greenlet_stack(DUMP, 0x7f00000000a0),
        Some("Greenlet 0x00007f00000000a0 (most recent call first):\n  File \"app.py\", line 5 in slow")
    );
    assert_eq!(
        greenlet_stack(DUMP, 0x7f00000000b0),
        Some("Greenlet 0x00007f00000000b0 (most recent call first):\n  File \"app.py\", line 9 in other")
    );
    assert_eq!(greenlet_stack(DUMP, 0x7f0000000001), None);
}
