//! A plugin's standard output and error, and its environment.
//!
//! Rust's standard library reaches them through the C library's `write` and `getenv`. On
//! `wasm32-wasip2` those link eleven WASI interfaces into every plugin (the stdin, stdout and
//! stderr streams, terminals, the environment, exit), and since most calls run in a fresh
//! instance the host would link all of them again on every such request: more than a fifth of the cost of
//! a call. The SDK provides its own `write` and `getenv`, so a plugin imports WASI only if it uses
//! it itself (clocks, random numbers, sleeping):
//!
//! * what the plugin prints to stdout (`println!`) reaches the host's log at `info`, what it prints
//!   to stderr (`eprintln!`, a panic message) at `warn`, a line at a time, tagged with the plugin's
//!   id as every [`log`](crate::log) line is;
//! * the environment is empty (the host gives plugins none anyway).
//!
//! A line still open when the call ends is written then.

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
pub(crate) use self::wasm::flush;

/// Does nothing outside the host: native builds print with the platform's own stdio.
#[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
pub(crate) fn flush() {}

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod wasm {
    use std::ffi::{c_char, c_int, c_void};
    use std::sync::Mutex;

    use crate::log::{self, Level};

    /// Bytes of a line without its end after which it is written anyway, so that output without
    /// newlines cannot fill the plugin's memory.
    const MAX_LINE: usize = 16 << 10;

    /// What was printed since the last line end, per stream.
    static STDOUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    static STDERR: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    fn stream(fd: c_int) -> (&'static Mutex<Vec<u8>>, Level) {
        match fd {
            1 => (&STDOUT, Level::Info),
            // Plugins can open no files (the host preopens nothing), so anything else is stderr.
            _ => (&STDERR, Level::Warn),
        }
    }

    /// The C library's `write`, for the file descriptors a plugin has: stdout and stderr.
    ///
    /// # Safety
    /// `buf` points at `count` readable bytes, as for POSIX `write`.
    // Exported to the C library by name: public by necessity, not for Rust callers.
    #[allow(unreachable_pub)]
    #[no_mangle]
    pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: usize) -> isize {
        if count == 0 {
            return 0;
        }
        // SAFETY: the caller passes `count` readable bytes at `buf` (POSIX `write`'s contract).
        let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), count) };
        let (pending, level) = stream(fd);
        let mut pending = pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.extend_from_slice(bytes);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            emit(level, &pending[..end]);
            pending.drain(..=end);
        }
        if pending.len() >= MAX_LINE {
            emit(level, &pending);
            pending.clear();
        }
        // `count` fits: it is the length of a slice in a 32-bit address space.
        count as isize
    }

    /// The C library's `getenv`: a plugin's environment is empty.
    #[allow(unreachable_pub)]
    #[no_mangle]
    pub extern "C" fn getenv(_name: *const c_char) -> *mut c_char {
        std::ptr::null_mut()
    }

    /// Writes what is left of unfinished lines; called when a call into the plugin ends.
    pub(crate) fn flush() {
        for fd in [1, 2] {
            let (pending, level) = stream(fd);
            let mut pending = pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !pending.is_empty() {
                emit(level, &pending);
                pending.clear();
            }
        }
    }

    fn emit(level: Level, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        log::write(level, &String::from_utf8_lossy(line));
    }
}
