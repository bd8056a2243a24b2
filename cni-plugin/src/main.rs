//! The `flannel` CNI plugin binary: reads the environment and stdin, runs the command, prints
//! the result or the error JSON on stdout and exits non-zero on error. Logs go to stderr only.

use std::io::{Read, Write};

fn main() {
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
        std::process::exit(1);
    }
    std::process::exit(out.exit_code);
}
