//! Unit tests of `dump` (kept apart so the module itself stays short).

use super::*;

/// A fresh memfd for `slot` and a borrow of it.
fn memfd(files: &mut DumpFiles, slot: usize) -> BorrowedFd<'static> {
    let raw = files.prepare(slot).expect("memfd");
    // SAFETY: `raw` is owned by `files`, which every test keeps alive until its end.
    unsafe { BorrowedFd::borrow_raw(raw) }
}

const STACK: &str =
    "Current thread 0x1 (most recent call first):\n  File \"h.py\", line 1 in run\n";
const GREENLET: &str =
    "\nGreenlet 0x00007f0000000002 (most recent call first):\n  File \"a.py\", line 3 in slow\n";

#[test]
fn collect_reads_what_the_writer_wrote_after_the_reset() {
    let mut files = DumpFiles::default();
    let fd = memfd(&mut files, 3);
    nix::unistd::write(fd, b"stale output from an earlier dump\n").expect("write");
    let text = collect(fd, Answer::Faulthandler, || {
        nix::unistd::write(fd, b"Thread 0x1 (most recent call first):\n")?;
        Ok(())
    })
    .expect("collect");
    assert_eq!(text, "Thread 0x1 (most recent call first):\n");
    assert_eq!(files.prepare(3).expect("same memfd"), fd.as_raw_fd());
}

#[test]
fn nothing_written_is_empty_within_the_bound() {
    let mut files = DumpFiles::default();
    let fd = memfd(&mut files, 0);
    let started = Instant::now();
    assert_eq!(
        collect(fd, Answer::Faulthandler, || Ok(())).expect("collect"),
        ""
    );
    assert!(started.elapsed() < DUMP_WAIT + Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(collect(fd, Answer::Hub, || Ok(())).expect("collect"), "");
    assert!(started.elapsed() < HUB_WAIT + Duration::from_millis(200));
}

#[test]
fn the_hub_marker_ends_the_wait_and_is_stripped() {
    let mut files = DumpFiles::default();
    let fd = memfd(&mut files, 1);
    let started = Instant::now();
    let text = collect(fd, Answer::Hub, || {
        nix::unistd::write(fd, STACK.as_bytes())?;
        nix::unistd::write(fd, GREENLET.as_bytes())?;
        nix::unistd::write(fd, HUB_DUMP_END.as_bytes())?;
        Ok(())
    })
    .expect("collect");
    assert_eq!(text, format!("{STACK}{GREENLET}"));
    assert!(started.elapsed() < HUB_WAIT / 2, "{:?}", started.elapsed());
}

#[test]
fn a_silent_hub_leaves_faulthandlers_stack_explained_after_the_wait() {
    let mut files = DumpFiles::default();
    let fd = memfd(&mut files, 2);
    let started = Instant::now();
    let text = collect(fd, Answer::Hub, || {
        nix::unistd::write(fd, STACK.as_bytes())?;
        Ok(())
    })
    .expect("collect");
    assert!(started.elapsed() >= HUB_WAIT, "{:?}", started.elapsed());
    let (first, rest) = text.split_once('\n').expect("two parts");
    assert!(
        first.starts_with("The hub did not answer within 1 s"),
        "{first}"
    );
    assert_eq!(rest, STACK);
}

#[test]
fn a_marker_split_across_writes_still_ends_the_dump() {
    let mut files = DumpFiles::default();
    let fd = memfd(&mut files, 4);
    let started = Instant::now();
    let mut writer = None;
    // The hub pauses mid-marker, longer than faulthandler's settle time: only the whole
    // marker ends the wait, and it ends it early.
    let text = collect(fd, Answer::Hub, || {
        writer = Some(std::thread::spawn(move || {
            let (head, tail) = HUB_DUMP_END.split_at(10);
            let first = format!("{STACK}{GREENLET}{head}");
            nix::unistd::write(fd, first.as_bytes()).expect("write");
            std::thread::sleep(SETTLE * 4);
            nix::unistd::write(fd, tail.as_bytes()).expect("write");
        }));
        Ok(())
    })
    .expect("collect");
    writer.expect("spawned").join().expect("writer");
    assert_eq!(text, format!("{STACK}{GREENLET}"));
    assert!(started.elapsed() < HUB_WAIT / 2, "{:?}", started.elapsed());
}

#[test]
fn one_wait_covers_every_file() {
    let mut files = DumpFiles::default();
    let (answered, silent) = (memfd(&mut files, 5), memfd(&mut files, 6));
    for fd in [answered, silent] {
        request(fd, || Ok(())).expect("request");
    }
    let done = format!("{GREENLET}{HUB_DUMP_END}");
    nix::unistd::write(answered, done.as_bytes()).expect("write");
    let started = Instant::now();
    let results: Vec<String> = settle(&[(answered, Answer::Hub), (silent, Answer::Hub)])
        .into_iter()
        .map(|r| r.expect("read"))
        .collect();
    assert_eq!(results, [GREENLET, ""]);
    assert!(started.elapsed() < HUB_WAIT + Duration::from_millis(300));
}
