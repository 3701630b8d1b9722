//! `NO_COLOR` (https://no-color.org) in a real terminal: `attach` under it draws no colour at
//! all (states are marked by bold and reverse), and without it the same screen has colours.

use crate::support::{bin, Opts, Server};
use crate::tmux::{row_pids, Tmux};

/// The parameters of each SGR sequence (`ESC [ … m`) on `screen`.
fn sgr(screen: &str) -> Vec<Vec<u32>> {
    screen
        .split("\x1b[")
        .skip(1)
        .filter_map(|sequence| {
            let (params, _) = sequence.split_once('m')?;
            params.split(';').map(|p| p.parse().ok()).collect()
        })
        .collect()
}

/// The colour-setting SGR sequences on `screen` (foreground, background, 256-colour and RGB);
/// resets to the default colours (39, 49) do not count.
fn colours(screen: &str) -> Vec<Vec<u32>> {
    sgr(screen)
        .into_iter()
        .filter(|ps| {
            ps.iter()
                .any(|p| matches!(p, 30..=38 | 40..=48 | 90..=97 | 100..=107))
        })
        .collect()
}

/// `attach` to `socket`, with `env` in front; waits for the rows of `server`'s workers.
fn attached(server: &Server, socket: &str, env: &[&str]) -> Tmux {
    let mut args = vec!["env"];
    args.extend_from_slice(env);
    args.extend([bin(), "attach", socket]);
    let t = Tmux::run(&args);
    let pids = server.worker_pids();
    t.wait(&format!("rows {pids:?}"), |s| {
        (row_pids(s) == pids).then_some(())
    });
    t
}

#[test]
fn no_color_draws_no_colour_and_colour_is_there_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ctl.sock");
    let sock = socket.to_str().unwrap();
    let server = Server::app_with("hello:app", &["--control-socket", sock], 2, Opts::default());

    let plain = attached(&server, sock, &["NO_COLOR=1"]);
    let screen = plain.screen_with_escapes();
    assert_eq!(colours(&screen), Vec::<Vec<u32>>::new(), "{screen:?}");
    // The terminal library drops colours under NO_COLOR by itself; the dashboard's part is to
    // mark in their place: labels dim (SGR 2) instead of grey.
    let dim = sgr(&screen).iter().any(|ps| ps.contains(&2));
    assert!(dim, "labels marked dim: {screen:?}");
    plain.keys("q");
    plain.wait_text("[exit 0]");

    let coloured = attached(&server, sock, &[]);
    let screen = coloured.screen_with_escapes();
    assert!(
        !colours(&screen).is_empty(),
        "colours by default: {screen:?}"
    );
    coloured.keys("q");
    coloured.wait_text("[exit 0]");
}
