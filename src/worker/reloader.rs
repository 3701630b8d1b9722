//! `--reload`: a worker watches the files of the modules it imported (and
//! `--reload-extra-file` paths and globs) and exits when one changes; the master replaces it,
//! and the new worker imports the new code. Gunicorn's reloader runs a thread per worker; here
//! the inotify descriptor joins the worker's epoll set, and the poll engine is checked from the
//! worker's loop, which wakes at least once a second.
//!
//! Directories are watched rather than files, because editors save by writing a new file and
//! renaming it over the old one, which a watch on the old inode would miss.

use crate::config::{Reload, ReloadEngine};
use inotify::{Inotify, WatchMask};
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

enum Engine {
    Inotify(Inotify, HashMap<inotify::WatchDescriptor, PathBuf>),
    /// Modification times seen at the last check.
    Poll(HashMap<PathBuf, Option<SystemTime>>),
}

pub struct Reloader {
    engine: Engine,
    files: HashSet<PathBuf>,
    patterns: Vec<glob::Pattern>,
}

impl Reloader {
    /// Watch `files` plus the extra files and globs of `settings`.
    pub fn new(settings: &Reload, files: Vec<PathBuf>) -> std::io::Result<Reloader> {
        let patterns = settings
            .extra_files
            .iter()
            .filter_map(|p| glob::Pattern::new(&absolute(p)).ok())
            .collect();
        let mut reloader = Reloader {
            engine: Engine::Poll(HashMap::new()),
            files: HashSet::new(),
            patterns,
        };
        reloader
            .files
            .extend(files.into_iter().filter_map(|f| f.canonicalize().ok()));
        reloader.files.extend(reloader.expand_globs());
        reloader.engine = match settings.engine {
            ReloadEngine::Inotify => reloader.watch_dirs()?,
            ReloadEngine::Poll => Engine::Poll(
                reloader
                    .files
                    .iter()
                    .map(|f| (f.clone(), mtime(f)))
                    .collect(),
            ),
        };
        Ok(reloader)
    }

    /// The descriptor to wait on (inotify only; the poll engine is checked every wake-up).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.engine {
            Engine::Inotify(inotify, _) => Some(inotify.as_fd()),
            Engine::Poll(_) => None,
        }
    }

    fn expand_globs(&self) -> Vec<PathBuf> {
        let matches = self
            .patterns
            .iter()
            .filter_map(|p| glob::glob(p.as_str()).ok());
        matches
            .flat_map(|paths| paths.filter_map(Result::ok))
            .filter_map(|p| p.canonicalize().ok())
            .collect()
    }

    fn watch_dirs(&self) -> std::io::Result<Engine> {
        let inotify = Inotify::init()?;
        let mask = WatchMask::CLOSE_WRITE
            | WatchMask::MOVED_TO
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::ATTRIB;
        let mut dirs: HashSet<PathBuf> = self
            .files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        dirs.extend(self.patterns.iter().filter_map(|p| glob_base(p.as_str())));
        let mut watches = HashMap::new();
        for dir in dirs {
            if let Ok(wd) = inotify.watches().add(&dir, mask) {
                watches.insert(wd, dir);
            }
        }
        Ok(Engine::Inotify(inotify, watches))
    }

    /// The first watched file that changed since the last call, if any.
    pub fn changed(&mut self) -> Option<PathBuf> {
        match &mut self.engine {
            Engine::Inotify(inotify, watches) => {
                let mut buffer = [0u8; 4096];
                let events = inotify.read_events(&mut buffer).ok()?;
                let paths: Vec<PathBuf> = events
                    .filter_map(|e| Some(watches.get(&e.wd)?.join(e.name?)))
                    .collect();
                paths.into_iter().find(|p| self.is_watched(p))
            }
            Engine::Poll(seen) => {
                let now: Vec<PathBuf> = self
                    .files
                    .iter()
                    .cloned()
                    .chain(
                        self.patterns
                            .iter()
                            .filter_map(|p| glob::glob(p.as_str()).ok())
                            .flat_map(|g| g.filter_map(Result::ok)),
                    )
                    .collect();
                // A file not seen before (a new glob match) counts as a change.
                now.into_iter().find(|f| {
                    let m = mtime(f);
                    seen.insert(f.clone(), m).is_none_or(|old| old != m)
                })
            }
        }
    }

    fn is_watched(&self, path: &Path) -> bool {
        self.files.contains(path) || self.patterns.iter().any(|p| p.matches_path(path))
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Relative extra files are relative to the launch directory, as in Gunicorn.
fn absolute(pattern: &str) -> String {
    match std::env::current_dir() {
        Ok(cwd) if !pattern.starts_with('/') => cwd.join(pattern).to_string_lossy().into_owned(),
        _ => pattern.to_string(),
    }
}

/// The directory part of a glob before its first wildcard (`/a/b/*.py` → `/a/b`).
fn glob_base(pattern: &str) -> Option<PathBuf> {
    let cut = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    let base = Path::new(&pattern[..cut]);
    let dir = if pattern[..cut].ends_with('/') {
        base
    } else {
        base.parent()?
    };
    Some(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(engine: ReloadEngine, extra: Vec<String>) -> Reload {
        Reload {
            engine,
            extra_files: extra,
        }
    }

    #[test]
    fn inotify_sees_a_rename_over_a_watched_file() {
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let app = dir.join("app.py");
        std::fs::write(&app, "x = 1\n").unwrap();
        let mut r =
            Reloader::new(&settings(ReloadEngine::Inotify, vec![]), vec![app.clone()]).unwrap();
        assert_eq!(r.changed(), None);
        std::fs::write(dir.join("other.txt"), "unwatched").unwrap();
        assert_eq!(r.changed(), None);
        std::fs::write(dir.join("app.py.tmp"), "x = 2\n").unwrap();
        std::fs::rename(dir.join("app.py.tmp"), &app).unwrap();
        assert_eq!(r.changed(), Some(app.canonicalize().unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn poll_sees_a_new_file_matching_an_extra_glob() {
        let dir =
            std::env::temp_dir().join(format!("gunicorn-rs-reload-poll-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pattern = format!("{}/*.html", dir.display());
        let mut r = Reloader::new(&settings(ReloadEngine::Poll, vec![pattern]), vec![]).unwrap();
        assert_eq!(r.changed(), None);
        std::fs::write(dir.join("index.html"), "<p>").unwrap();
        assert!(r.changed().is_some());
        assert_eq!(r.changed(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn glob_base_is_the_directory_before_the_wildcard() {
        assert_eq!(glob_base("/a/b/*.py"), Some(PathBuf::from("/a/b")));
        assert_eq!(glob_base("/a/b/c.py"), Some(PathBuf::from("/a/b")));
    }
}
