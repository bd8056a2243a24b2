//! `lab-cleanup [--prefix fl-] [--dirs]`: removes leftover lab namespaces
//! (killing the processes inside them), e.g. after a test run was SIGKILLed;
//! with `--dirs` also the lab temp directories `$TMPDIR/fl-<6 hex>`. Only
//! prefixes starting with `fl-` are accepted. Mind that the default prefix
//! also matches labs of test runs that are still in progress.

use std::process::ExitCode;

const USAGE: &str = "usage: lab-cleanup [--prefix fl-] [--dirs]";

fn main() -> ExitCode {
    let mut prefix = flannel_integration::PREFIX_ROOT.to_string();
    let mut dirs = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--prefix" => match args.next() {
                Some(p) => prefix = p,
                None => {
                    eprintln!("lab-cleanup: --prefix needs a value\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--dirs" => dirs = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("lab-cleanup: unexpected argument {other}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("lab-cleanup: needs root (deletes network namespaces)");
        return ExitCode::FAILURE;
    }
    let mut ok = true;
    match flannel_integration::cleanup(&prefix) {
        Ok(n) => println!("removed {n} namespace(s) with prefix {prefix}"),
        Err(e) => {
            eprintln!("lab-cleanup: {e:#}");
            ok = false;
        }
    }
    if dirs {
        match flannel_integration::cleanup_dirs(&prefix) {
            Ok(n) => println!("removed {n} lab director(y/ies) with prefix {prefix}"),
            Err(e) => {
                eprintln!("lab-cleanup: {e:#}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
