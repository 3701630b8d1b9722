//! A dump's stacks beside the requests of the worker's threads. faulthandler names each thread
//! by its identity (`Thread 0x00007f… (most recent call first):`, `Current thread 0x…` for the
//! one that took the signal); a worker thread that published the same number in its scoreboard
//! lane (`ThreadInfo::ident`) is matched to its stack by it — never by order, which
//! faulthandler does not keep. A greenlet worker's hub appends a section per request greenlet
//! (`Greenlet 0x… (most recent call first):`), whose identity the worker publishes in the
//! lane the same way. Plain text here; `ctl` prints it, the dashboard styles it.

use crate::protocol::ThreadInfo;
use crate::view::fmt;

/// One line of an annotated dump.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StackLine<'a> {
    /// A line of faulthandler's text, as written.
    Text(&'a str),
    /// Under a thread's header: the worker thread that stack belongs to.
    Owner(&'a ThreadInfo),
}

/// The identity in a faulthandler thread header (or a greenlet worker's greenlet header), or
/// `None` for any other line.
pub fn header_ident(line: &str) -> Option<u64> {
    let rest = line
        .strip_prefix("Current thread 0x")
        .or_else(|| line.strip_prefix("Thread 0x"))
        .or_else(|| line.strip_prefix("Greenlet 0x"))
        .or_else(|| line.strip_prefix("Task 0x"))?;
    let hex: &str = rest.split(|c: char| !c.is_ascii_hexdigit()).next()?;
    u64::from_str_radix(hex, 16).ok()
}

/// `0x00007f0123456789`: an identity written the way faulthandler writes it.
pub fn ident_text(id: u64) -> String {
    format!("{id:#018x}")
}

fn ident_value(t: &ThreadInfo) -> Option<u64> {
    let hex = t.ident.as_deref()?.strip_prefix("0x")?;
    u64::from_str_radix(hex, 16).ok()
}

/// `stack`'s lines, each thread header followed by the worker thread it belongs to (threads
/// whose identity is unknown, or not in the dump, get no line), the longest-running request's
/// stack first — faulthandler's own order says nothing, and the stuck one is what is looked
/// for. Lines before the first header (the master's note that a hub did not answer) stay on
/// top: they speak of what follows. A worker of one thread gets the text as written: its
/// request is the dump's own.
pub fn annotate<'a>(stack: &'a str, threads: &'a [ThreadInfo]) -> Vec<StackLine<'a>> {
    if threads.len() < 2 {
        return stack.lines().map(StackLine::Text).collect();
    }
    let mut sections = sections(stack);
    let preamble = match sections.first().and_then(|s| s.first()) {
        Some(line) if header_ident(line).is_none() => sections.remove(0),
        _ => Vec::new(),
    };
    let owner = |lines: &[&str]| {
        let id = lines.first().and_then(|l| header_ident(l))?;
        threads.iter().find(|t| ident_value(t) == Some(id))
    };
    let elapsed = |t: Option<&ThreadInfo>| t.and_then(|t| t.request.as_ref()).map(|r| r.elapsed);
    // Stable: threads without a request keep faulthandler's order, after the busy ones.
    sections.sort_by(|a, b| {
        let (a, b) = (elapsed(owner(a)), elapsed(owner(b)));
        b.unwrap_or(-1.0).total_cmp(&a.unwrap_or(-1.0))
    });
    let mut out: Vec<StackLine<'a>> = preamble.into_iter().map(StackLine::Text).collect();
    for (i, lines) in sections.iter().enumerate() {
        if i > 0 {
            out.push(StackLine::Text(""));
        }
        let mut lines = lines.iter();
        if let Some(header) = lines.next() {
            out.push(StackLine::Text(header));
        }
        out.extend(owner(&sections[i]).map(StackLine::Owner));
        out.extend(lines.map(|l| StackLine::Text(l)));
    }
    out
}

/// The dump cut at each thread header, without the blank lines between threads.
fn sections(stack: &str) -> Vec<Vec<&str>> {
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for line in stack.lines() {
        match sections.last_mut() {
            Some(current) if header_ident(line).is_none() => current.push(line),
            _ => sections.push(vec![line]),
        }
    }
    for section in &mut sections {
        while section.last().is_some_and(|l| l.trim().is_empty()) {
            section.pop();
        }
    }
    sections
}

/// Whether some busy thread's stack cannot be found by identity in `stack`: then only the
/// thread table says which request is which.
pub fn has_unmatched_busy(stack: &str, threads: &[ThreadInfo]) -> bool {
    let idents: Vec<u64> = stack.lines().filter_map(header_ident).collect();
    threads
        .iter()
        .filter(|t| t.request.is_some())
        .any(|t| ident_value(t).is_none_or(|id| !idents.contains(&id)))
}

/// The requests of a greenlet worker's entries, longest-running first: its idle entries say
/// nothing (it serves as many requests as it is given, not one per entry), and which entry
/// holds a request is chance, so they are listed by what a user looks for — the stuck one.
pub fn longest_first(threads: &[ThreadInfo]) -> Vec<&ThreadInfo> {
    let mut busy: Vec<&ThreadInfo> = threads.iter().filter(|t| t.request.is_some()).collect();
    let elapsed = |t: &ThreadInfo| t.request.as_ref().map_or(0.0, |r| r.elapsed);
    busy.sort_by(|a, b| elapsed(b).total_cmp(&elapsed(a)));
    busy
}

/// `thread 2 · app · GET /x from 10.0.0.7:5123 · 3.4s · deadline T-26s`; an idle thread is
/// `thread 3 · idle`. A green worker's entry is `greenlet · app · …` (`word`; `task` under
/// asgi): its number is only the scoreboard entry the request happened to get.
pub fn owner_text(t: &ThreadInfo, word: Option<&str>) -> String {
    let who = match word {
        Some(word) => word.to_string(),
        None => format!("thread {}", t.thread),
    };
    let mut parts = vec![who, t.state.label().to_string()];
    if let Some(r) = &t.request {
        let from = match r.client.as_str() {
            "" => String::new(),
            client => format!(" from {client}"),
        };
        parts.push(format!("{} {}{from}", r.method, r.path));
        parts.push(fmt::duration(r.elapsed));
    }
    if let Some(deadline) = deadline_text(t) {
        parts.push(deadline);
    }
    parts.join(" · ")
}

/// `deadline T-26s`, `deadline overdue`, `504 sent`, or nothing when no clock runs.
pub fn deadline_text(t: &ThreadInfo) -> Option<String> {
    if t.timed_out {
        return Some("504 sent".into());
    }
    t.deadline_in
        .filter(|_| t.request.is_some())
        .map(|d| format!("deadline {}", fmt::countdown(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{RequestInfo, WorkerState};

    fn thread(n: u32, ident: Option<u64>, path: Option<&str>) -> ThreadInfo {
        ThreadInfo {
            thread: n,
            state: if path.is_some() {
                WorkerState::App
            } else {
                WorkerState::Idle
            },
            request: path.map(|p| RequestInfo {
                method: "GET".into(),
                path: p.into(),
                client: "10.0.0.7:5123".into(),
                elapsed: 3.4,
                ..Default::default()
            }),
            deadline_in: path.map(|_| 26.6),
            ident: ident.map(ident_text),
            ..Default::default()
        }
    }

    const DUMP: &str = "Thread 0x00007fc72ffff6c0 (most recent call first):\n  File \"a.py\", line 3 in slow\n\nCurrent thread 0x00007fc736fbf540 (most recent call first):\n  <no Python frame>\n";

    #[test]
    fn headers_give_their_identity() {
        assert_eq!(
            header_ident("Thread 0x00007fc72ffff6c0 (most recent call first):"),
            Some(0x7fc7_2fff_f6c0)
        );
        assert_eq!(
            header_ident("Current thread 0x00007fc736fbf540 (most recent call first):"),
            Some(0x7fc7_36fb_f540)
        );
        assert_eq!(header_ident("  File \"Thread 0x1.py\", line 1"), None);
        assert_eq!(ident_text(0x7fc7_2fff_f6c0), "0x00007fc72ffff6c0");
    }

    #[test]
    fn each_stack_gets_the_request_of_its_thread_not_of_its_position() {
        let threads = [
            thread(0, Some(0x7fc7_36fb_f540), None),
            thread(1, Some(0x7fc7_2fff_f6c0), Some("/slow")),
        ];
        let lines = annotate(DUMP, &threads);
        assert_eq!(lines[0], StackLine::Text(DUMP.lines().next().unwrap()));
        assert_eq!(lines[1], StackLine::Owner(&threads[1]));
        assert_eq!(lines[5], StackLine::Owner(&threads[0]));
        assert_eq!(lines.len(), DUMP.lines().count() + 2);
        // The busy thread's stack comes first, wherever faulthandler put it.
        let main_busy = [
            thread(0, Some(0x7fc7_2fff_f6c0), None),
            thread(1, Some(0x7fc7_36fb_f540), Some("/main")),
        ];
        let lines = annotate(DUMP, &main_busy);
        assert_eq!(
            lines[..4],
            [
                StackLine::Text("Current thread 0x00007fc736fbf540 (most recent call first):"),
                StackLine::Owner(&main_busy[1]),
                StackLine::Text("  <no Python frame>"),
                StackLine::Text(""),
            ]
        );
        assert_eq!(lines[5], StackLine::Owner(&main_busy[0]));
        assert_eq!(lines.len(), 7, "no blank line at the end: {lines:?}");
        assert!(!has_unmatched_busy(DUMP, &threads));
        assert_eq!(
            owner_text(&threads[1], None),
            "thread 1 · app · GET /slow from 10.0.0.7:5123 · 3.4s · deadline T-26s"
        );
        assert_eq!(owner_text(&threads[0], None), "thread 0 · idle");
    }

    #[test]
    fn unknown_identities_leave_the_text_alone_and_say_so() {
        let threads = [thread(0, None, Some("/slow")), thread(1, None, None)];
        let lines = annotate(DUMP, &threads);
        assert!(lines.iter().all(|l| matches!(l, StackLine::Text(_))));
        assert!(has_unmatched_busy(DUMP, &threads));
        assert!(
            !has_unmatched_busy(DUMP, &threads[1..]),
            "idle threads need no match"
        );
        let one = [thread(0, Some(0x7fc7_2fff_f6c0), Some("/slow"))];
        let lines = annotate(DUMP, &one);
        assert!(
            lines.iter().all(|l| matches!(l, StackLine::Text(_))),
            "one thread: the dump's own request says it all"
        );
        let answered = ThreadInfo {
            timed_out: true,
            ..thread(2, None, Some("/x"))
        };
        assert_eq!(deadline_text(&answered).as_deref(), Some("504 sent"));
    }

    #[test]
    fn greenlet_sections_get_their_requests() {
        assert_eq!(
            header_ident("Greenlet 0x00007f0000000a10 (most recent call first):"),
            Some(0x7f00_0000_0a10)
        );
        let dump = "Current thread 0x00007fc736fbf540 (most recent call first):\n  File \"hub.py\", line 9 in dump\n\nGreenlet 0x00007f0000000a10 (most recent call first):\n  File \"a.py\", line 3 in fast\n\nGreenlet 0x00007f0000000b20 (most recent call first):\n  File \"a.py\", line 7 in slow\n";
        let mut slow = thread(1, Some(0x7f00_0000_0b20), Some("/slow"));
        slow.request.as_mut().expect("request").elapsed = 9.0;
        let greenlets = [thread(0, Some(0x7f00_0000_0a10), Some("/fast")), slow];
        let lines = annotate(dump, &greenlets);
        assert_eq!(
            lines[..3],
            [
                StackLine::Text("Greenlet 0x00007f0000000b20 (most recent call first):"),
                StackLine::Owner(&greenlets[1]),
                StackLine::Text("  File \"a.py\", line 7 in slow"),
            ]
        );
        assert_eq!(lines[5], StackLine::Owner(&greenlets[0]));
        assert!(!has_unmatched_busy(dump, &greenlets));
        assert_eq!(
            owner_text(&greenlets[1], Some("greenlet")),
            "greenlet · app · GET /slow from 10.0.0.7:5123 · 9.0s · deadline T-26s"
        );
    }

    #[test]
    fn a_greenlet_workers_requests_are_listed_longest_first_without_idle_entries() {
        let mut slow = thread(5, None, Some("/slow"));
        slow.request.as_mut().expect("request").elapsed = 9.0;
        let entries = [
            thread(0, None, None),
            thread(1, None, Some("/fast")),
            thread(2, None, None),
            slow,
        ];
        let listed: Vec<u32> = longest_first(&entries).iter().map(|t| t.thread).collect();
        assert_eq!(listed, [5, 1]);
    }

    #[test]
    fn a_note_before_the_first_header_stays_on_top() {
        let note =
            "The hub did not answer within 1 s: the stack below is the greenlet that holds it";
        let dump = format!("{note}\n{DUMP}");
        let threads = [
            thread(0, Some(0x7f00_0000_0a10), Some("/a")),
            thread(1, Some(0x7fc7_2fff_f6c0), Some("/slow")),
        ];
        let lines = annotate(&dump, &threads);
        assert_eq!(lines[0], StackLine::Text(note));
        assert_eq!(
            lines[1],
            StackLine::Text("Thread 0x00007fc72ffff6c0 (most recent call first):")
        );
        assert_eq!(lines[2], StackLine::Owner(&threads[1]));
        assert!(has_unmatched_busy(&dump, &threads), "/a has no stack here");
    }
}
