//! Link-time rpath to the libpython this binary was built against.
//!
//! The binary links libpython by soname only; without an rpath the loader may pick another
//! CPython of the same soname (a system 3.11.2 instead of pyenv's 3.11.7) and with it the wrong
//! `sys.prefix` and `sys.path` (DESIGN §7). So the lib dir found by pyo3-build-config is baked in.

fn main() {
    let config = pyo3_build_config::get();
    if let Some(lib_dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    // The interpreter's prefix, so the worker can set `sys.executable` to a real Python
    // (never this binary: multiprocessing's spawn would re-execute the server).
    if let Some(exe) = config.executable() {
        println!("cargo:rustc-env=GUNICORN_RS_BUILD_PYTHON={exe}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
