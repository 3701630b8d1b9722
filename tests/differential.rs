//! The differential harness (tests/differential/differential.py) in a short bounded run: the
//! same corpus and mutated requests sent to this build and to Gunicorn 27 (the test venv's,
//! pure-Python parser), every disagreement either listed in tests/differential/differences.json
//! or a failure. The long runs are the script's own (`--count`), see README "Fuzzing".

use crate::support::{bin, repo, venv};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The corpus and about 2900 mutations: some ten seconds.
const INPUTS: usize = 3000;

#[test]
fn gunicorn_rs_and_gunicorn_answer_the_same_or_a_listed_difference() {
    let python = venv().join("bin/python");
    let gunicorn = venv().join("bin/gunicorn");
    let started = Instant::now();
    // `timeout` bounds the script whatever happens; its SIGTERM makes the script stop both
    // servers (they run in sessions of their own) before it exits.
    let out = Command::new("timeout")
        .args(["--kill-after=10", "240"])
        .arg(&python)
        .arg(repo().join("tests/differential/differential.py"))
        .args(["--rs", bin(), "--gunicorn"])
        .arg(&gunicorn)
        .args(["--count", &INPUTS.to_string(), "--seed", "12"])
        // The script stops itself at the limit and stops both servers by pid in any case.
        .args(["--time-limit", "120"])
        .stdin(Stdio::null())
        .output()
        .expect("differential.py runs");
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "unexplained disagreements (above)");
    let compared = format!("compared {INPUTS} inputs:");
    assert!(
        report.starts_with(&compared),
        "fewer inputs than asked in {:?}",
        started.elapsed()
    );
}
