//! `install-conf SRC DST`: what upstream's manifest runs as its `install-cni` init container
//! (`/opt/bin/install-conf /etc/kube-flannel/cni-conf.json /etc/cni/net.d/10-flannel.conflist`).
//! The copy is atomic: the data goes to `.<name>.tmp` in DST's directory, is flushed, gets SRC's
//! mode, and is renamed over DST, so a runtime reading the CNI config directory never sees half a
//! file. Exit status 1 with one line on any error, as upstream's.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The temporary file next to `dest`: `.<name>.tmp`, as upstream names it.
fn temp_path(dest: &Path) -> io::Result<PathBuf> {
    let name = dest.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the destination has no file name",
        )
    })?;
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(".tmp");
    Ok(dir.join(tmp))
}

fn install(src: &Path, dest: &Path) -> io::Result<()> {
    let tmp = temp_path(dest)?;
    let mut input = File::open(src)?;
    let mode = input.metadata()?.permissions().mode();
    let _ = fs::remove_file(&tmp);
    let copied = (|| {
        let mut out = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        io::copy(&mut input, &mut out)?;
        out.set_permissions(fs::Permissions::from_mode(mode))?;
        out.sync_all()?;
        fs::rename(&tmp, dest)
    })();
    if copied.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    copied
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        let me = args.first().map(String::as_str).unwrap_or("install-conf");
        eprintln!("usage: {me} <src> <dest>");
        return ExitCode::from(1);
    }
    match install(Path::new(&args[1]), Path::new(&args[2])) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error installing {:?} to {:?}: {e}", args[1], args[2]);
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("install-conf-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("a scratch dir under the temp dir");
        d
    }

    #[test]
    fn copies_atomically_with_the_source_mode_and_no_leftover() {
        let d = scratch("copy");
        let src = d.join("cni-conf.json");
        fs::write(&src, b"{\"name\":\"cbr0\"}").expect("write src");
        fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).expect("chmod");
        let dest = d.join("10-flannel.conflist");
        fs::write(&dest, b"old").expect("write old dest");
        // A stale temporary file from an interrupted run is replaced.
        fs::write(d.join(".10-flannel.conflist.tmp"), b"stale").expect("write stale tmp");
        install(&src, &dest).expect("install");
        assert_eq!(fs::read(&dest).expect("read dest"), b"{\"name\":\"cbr0\"}");
        let mode = fs::metadata(&dest).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let left: Vec<_> = fs::read_dir(&d)
            .expect("read dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 2, "only src and dest remain: {left:?}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_source_leaves_the_destination_alone() {
        let d = scratch("missing");
        let dest = d.join("10-flannel.conflist");
        fs::write(&dest, b"keep").expect("write dest");
        assert!(install(&d.join("nope.json"), &dest).is_err());
        assert_eq!(fs::read(&dest).expect("read dest"), b"keep");
        assert!(!d.join(".10-flannel.conflist.tmp").exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn temp_file_is_named_as_upstream() {
        assert_eq!(
            temp_path(Path::new("/etc/cni/net.d/10-flannel.conflist")).ok(),
            Some(PathBuf::from("/etc/cni/net.d/.10-flannel.conflist.tmp"))
        );
        assert_eq!(
            temp_path(Path::new("x.conf")).ok(),
            Some(PathBuf::from("./.x.conf.tmp"))
        );
    }
}
