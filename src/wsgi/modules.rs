//! The source files of the imported Python modules, for the reloader (`--reload`).

use pyo3::prelude::*;
use std::path::PathBuf;

/// Every existing file behind `sys.modules` (`__file__`), as Gunicorn's reloader watches them.
pub fn module_files() -> Vec<PathBuf> {
    Python::attach(|py| {
        let collect = || -> PyResult<Vec<PathBuf>> {
            let modules = py.import("sys")?.getattr("modules")?;
            let values = modules.call_method0("values")?;
            let mut files = Vec::new();
            for module in values.try_iter()? {
                let Ok(file) = module?.getattr("__file__") else {
                    continue;
                };
                if let Ok(path) = file.extract::<String>() {
                    files.push(PathBuf::from(path));
                }
            }
            Ok(files)
        };
        collect().unwrap_or_default()
    })
    .into_iter()
    .filter(|p| p.is_file())
    .collect()
}

/// The files named in a formatted traceback (`File "/path/app.py", line 3`), so that a module
/// that failed to import — a SyntaxError is never in `sys.modules` — is watched too.
pub fn traceback_files(traceback: &str) -> Vec<PathBuf> {
    traceback
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("File \""))
        .filter_map(|rest| rest.split_once('"').map(|(path, _)| PathBuf::from(path)))
        .filter(|p| p.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_files_in_a_traceback() {
        let tb = format!("Traceback:\n  File \"{}\", line 1\n    x = (\n", file!());
        assert_eq!(
            super::traceback_files(&tb),
            vec![std::path::PathBuf::from(file!())]
        );
        assert!(super::traceback_files("  File \"/no/such.py\", line 1").is_empty());
    }
}
