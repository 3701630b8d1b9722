//! The timeout block in the error log: the request the lane was serving (as the scoreboard
//! has it), what the watchdog did, the Python stack of its thread or greenlet, and the access
//! line of the 504 it answered.

use super::{Armed, Context};
use crate::log::access::PartialRequest;
use crate::scoreboard::LaneSnapshot;

/// What happened at the deadline, for the log.
pub(super) struct Report<'a> {
    pub(super) answered: bool,
    pub(super) stacks: &'a str,
}

/// For the log line: the lane's request as the scoreboard has it.
fn describe(snap: Option<&LaneSnapshot>) -> String {
    snap.and_then(|l| l.request.as_ref()).map_or_else(
        || "unknown request".to_string(),
        |r| format!("{} {} from {}", r.method, r.path, r.client),
    )
}

pub(super) fn log_timeout(
    ctx: &Context,
    armed: &Armed,
    report: &Report<'_>,
    snap: Option<&LaneSnapshot>,
) {
    let elapsed = armed.started.elapsed();
    let action = match report.answered {
        true => "answered 504",
        false => "response already started: connection cut",
    };
    let mut text = format!(
        "Request timeout (pid:{}): {} after {:.1} s (--request-timeout {}); {action}; \
         interrupting the app",
        std::process::id(),
        describe(snap),
        elapsed.as_secs_f64(),
        ctx.settings.limit.as_secs()
    );
    let greenlet = snap
        .and_then(|l| l.thread_id)
        .and_then(|id| greenlet_stack(report.stacks, id));
    if let Some(stack) = greenlet {
        text.push_str("\n  Python stack of its greenlet:");
        for l in stack.lines() {
            text.push_str("\n    ");
            text.push_str(l);
        }
    } else if !report.stacks.trim().is_empty() {
        text.push_str("\n  Python stacks of all threads:");
        for l in report.stacks.lines() {
            text.push_str("\n    ");
            text.push_str(l);
        }
    }
    crate::error!("{text}");
    let request = snap.and_then(|l| l.request.as_ref());
    if let (Some(format), Some(req), true) = (&ctx.settings.access, request, report.answered) {
        let partial = PartialRequest {
            method: &req.method,
            uri: &req.path,
            version: req.version,
            client: &req.client,
        };
        crate::log::access_partial(format, &partial, 504, elapsed);
    }
}

/// In a greenlet worker's dump: the section of the greenlet `id` (its header and frames), so
/// a timeout logs the stack of its own request, not those of the hundreds beside it.
pub(super) fn greenlet_stack(stacks: &str, id: u64) -> Option<&str> {
    let header = format!("Greenlet {id:#018x} ");
    let start = stacks.find(&header)?;
    let section = &stacks[start..];
    let end = section
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| {
            let next = &section[i..];
            next.is_empty() || !next.starts_with(' ')
        })
        .unwrap_or(section.len());
    Some(section[..end].trim_end())
}
