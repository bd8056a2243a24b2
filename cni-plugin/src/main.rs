//! The `flannel` CNI plugin binary: reads the environment and stdin, runs the command, prints
//! the result or the error JSON on stdout and exits non-zero on error. Logs go to stderr only.
//!
//! The process lives a few milliseconds and is started for every pod, so it skips std's
//! runtime start-up (a stack overflow handler with its alternate stack, which reads
//! /proc/self/maps, and more) and does itself the parts that matter here: standard descriptors
//! that are closed get /dev/null, SIGPIPE is ignored (a closed stdout is a write error, not a
//! kill), and a panic exits with 101.

// The test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::io::{Read, Write};
use std::os::raw::c_int;

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const std::os::raw::c_char) -> c_int {
    sanitize_std_fds();
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    std::panic::catch_unwind(run).unwrap_or(101)
}

fn run() -> c_int {
    let vars = flannel_cni::env::from_process();
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        eprintln!("flannel: cannot read stdin: {e}");
    }
    let out = flannel_cni::run(&vars, &stdin);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.stdout.as_bytes())
        .and_then(|_| stdout.flush())
    {
        eprintln!("flannel: cannot write the result: {e}");
        return 1;
    }
    out.exit_code
}

/// Opens /dev/null on any of descriptors 0, 1 and 2 that is closed (as std's start-up does),
/// so that no file we open later takes their place.
fn sanitize_std_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll(2) on a valid array of three pollfd; a zero timeout never blocks.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if rc <= 0 {
        return;
    }
    for p in fds {
        if p.revents & libc::POLLNVAL != 0 {
            // SAFETY: open(2) of a constant NUL-terminated path; the lowest free descriptor is
            // the closed one, which we keep open for the life of the process.
            unsafe {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}
