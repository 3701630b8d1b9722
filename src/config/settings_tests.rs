//! Unit tests of `settings` (kept apart so the module itself stays short).

use super::*;
use std::collections::HashSet;

#[test]
fn declares_gunicorns_120_settings_and_our_own() {
    assert_eq!(SETTINGS.len(), 131);
    assert_eq!(
        SETTINGS
            .iter()
            .filter(|s| s.support != Support::RsOnly)
            .count(),
        120
    );
    let names: HashSet<_> = SETTINGS.iter().map(|s| s.name).collect();
    assert_eq!(names.len(), SETTINGS.len(), "setting names are unique");
}

#[test]
fn flags_are_unique_and_well_formed() {
    let mut seen = HashSet::new();
    for flag in SETTINGS.iter().flat_map(|s| s.flags) {
        assert!(seen.insert(*flag), "{flag} declared twice");
        let short = flag.len() == 2 && flag.starts_with('-');
        assert!(short || flag.starts_with("--"), "{flag}");
    }
    assert!(seen.contains("--limit-request-field_size"));
    assert_eq!(
        find("errorlog").map(|s| s.flags),
        Some(&["--error-logfile", "--log-file"][..])
    );
}

#[test]
fn hooks_and_maps_are_config_file_only() {
    for s in SETTINGS
        .iter()
        .filter(|s| matches!(s.kind, Kind::Hook | Kind::Map))
    {
        assert!(!s.is_cli(), "{}", s.name);
    }
}
