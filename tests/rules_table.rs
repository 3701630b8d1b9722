//! tests/RULES.md names, for each RFC rule, the tests that cover it: every `module::test` it
//! names must be a `fn` of that module (src/http/ or tests/), every fixture a file of
//! tests/requests/, and every row must name at least one of them.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The source of a test module named in the table (`host`, `rfc_tests`, `early_refusal`, …),
/// with its unit tests when they live beside it (`body.rs` and `body_tests.rs`).
fn module_source(module: &str) -> Option<String> {
    let candidates = [
        root().join("src/http").join(format!("{module}.rs")),
        root().join("tests").join(format!("{module}.rs")),
    ];
    let (path, source) = candidates
        .iter()
        .find_map(|p| Some((p, std::fs::read_to_string(p).ok()?)))?;
    let beside = path.with_file_name(format!("{module}_tests.rs"));
    let mut source = source + &std::fs::read_to_string(beside).unwrap_or_default();
    // A module's submodules (`tests/parser/*.rs`) are its source too.
    let dir = path.with_extension("");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        source += &std::fs::read_to_string(entry.path()).unwrap_or_default();
    }
    Some(source)
}

/// Does `token` name something that exists? `Some(false)` if it should and does not,
/// `None` if it names no test or fixture.
fn exists(token: &str) -> Option<bool> {
    let token = token.trim_matches(|c: char| !(c.is_alphanumeric() || "_:/.*".contains(c)));
    if let Some(fixture) = token.strip_suffix(".http") {
        let (dir, name) = fixture.split_once('/').unwrap_or(("invalid", fixture));
        let dir = if dir == "valid" { "valid" } else { "invalid" };
        return Some(
            root()
                .join("tests/requests")
                .join(dir)
                .join(format!("{name}.http"))
                .exists(),
        );
    }
    let parts: Vec<&str> = token.split("::").collect();
    match parts.as_slice() {
        [module, .., test] if parts.len() >= 2 => {
            let source = module_source(module)?;
            let is_const = test.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            let item = if is_const {
                format!("const {test}")
            } else {
                format!("fn {test}(")
            };
            Some(source.contains(&item))
        }
        [module] if *module == "early_refusal" => Some(module_source(module).is_some()),
        _ => None,
    }
}

#[test]
fn every_row_points_at_a_test_that_exists() {
    let table = std::fs::read_to_string(root().join("tests/RULES.md")).expect("tests/RULES.md");
    let mut rows = 0;
    let mut missing = Vec::new();
    for line in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| RFC"))
    {
        rows += 1;
        let covered_by = line
            .trim_end_matches('|')
            .rsplit('|')
            .next()
            .unwrap_or_default();
        // `invalid/a.http, b.http`: a bare name after a fixture is in the same directory.
        let mut dir = "invalid";
        let mut named = 0;
        for token in covered_by.split([';', ',', ' ']).filter(|t| !t.is_empty()) {
            let token = match token.split_once('/') {
                Some((d, _)) if token.ends_with(".http") => {
                    dir = if d.ends_with("valid") && !d.ends_with("invalid") {
                        "valid"
                    } else {
                        "invalid"
                    };
                    token.to_string()
                }
                None if token.ends_with(".http") => format!("{dir}/{token}"),
                _ => token.to_string(),
            };
            match exists(&token) {
                Some(true) => named += 1,
                Some(false) => missing.push(format!("{token:?} in: {line}")),
                None => {}
            }
        }
        if named == 0 {
            missing.push(format!("no test named in: {line}"));
        }
    }
    assert!(rows >= 30, "only {rows} rows in tests/RULES.md");
    assert!(
        missing.is_empty(),
        "tests/RULES.md names what does not exist:\n{}",
        missing.join("\n")
    );
}
