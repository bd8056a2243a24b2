//! The saved delegate configurations: `<dataDir>/<containerID>` (directory 0700, file 0600,
//! written to a temporary file and fsynced before it takes its name), read back by DEL, CHECK
//! and GC.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::env::validate_container_id;
use serde_json::{Map, Value};

use crate::error::{CniError, DECODING_FAILURE};

/// The file holding the delegate configuration of a container.
pub fn path(data_dir: &Path, cid: &str) -> PathBuf {
    data_dir.join(cid)
}

/// Writes the configuration (replacing an older one): complete and fsynced in a temporary file
/// before it takes its name, so the name never shows a partial file. The temporary file is an
/// unnamed one (O_TMPFILE) linked under the final name when that name is free; a named
/// `.<containerID>.tmp` renamed over it otherwise (an older configuration, or a filesystem
/// without O_TMPFILE). The directory is created (0700) when the file cannot be created in it.
pub fn save(data_dir: &Path, cid: &str, bytes: &[u8]) -> Result<(), CniError> {
    let io =
        |what: &str, e: &std::io::Error| CniError::io(format!("{what} {}", data_dir.display()), e);
    let unnamed = || {
        fs::OpenOptions::new()
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(data_dir)
    };
    let file = match unnamed() {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            create_dir(data_dir).map_err(|e| io("cannot create", &e))?;
            unnamed()
        }
        res => res,
    };
    if let Ok(mut f) = file {
        let dest = path(data_dir, cid);
        let linked = f
            .write_all(bytes)
            .and_then(|()| f.sync_all())
            .and_then(|()| link_unnamed(&f, &dest));
        match linked {
            Ok(true) => return Ok(()),
            // The name is taken (or cannot be given this way): the named way below.
            Ok(false) => {}
            Err(e) => return Err(io("cannot save the delegate configuration in", &e)),
        }
    }
    save_named(data_dir, cid, bytes)
}

/// Gives the unnamed file `f` the name `dest`; false when `dest` exists or the kernel cannot
/// link the file this way.
fn link_unnamed(f: &fs::File, dest: &Path) -> std::io::Result<bool> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let dest = CString::new(dest.as_os_str().as_bytes())?;
    // SAFETY: linkat(2) with a descriptor we own and NUL-terminated paths.
    let rc = unsafe {
        libc::linkat(
            f.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            dest.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // EEXIST: an older configuration; ENOENT / EPERM: AT_EMPTY_PATH needs
        // CAP_DAC_READ_SEARCH.
        Some(libc::EEXIST | libc::ENOENT | libc::EPERM) => Ok(false),
        _ => Err(e),
    }
}

/// `save` with a named temporary file: created, written, fsynced, renamed.
fn save_named(data_dir: &Path, cid: &str, bytes: &[u8]) -> Result<(), CniError> {
    let io =
        |what: &str, e: &std::io::Error| CniError::io(format!("{what} {}", data_dir.display()), e);
    // A leading dot never starts a container ID, so GC never mistakes it for one.
    let tmp = data_dir.join(format!(".{cid}.tmp"));
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
    };
    let file = match create() {
        Ok(f) => Ok(f),
        Err(_) => {
            create_dir(data_dir).map_err(|e| io("cannot create", &e))?;
            create()
        }
    };
    let written = file.and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path(data_dir, cid))
    });
    written.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io("cannot save the delegate configuration in", &e)
    })
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The saved configuration; None when there is none.
pub fn load(data_dir: &Path, cid: &str) -> Result<Option<Vec<u8>>, CniError> {
    let p = path(data_dir, cid);
    match fs::read(&p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CniError::io(format!("cannot read {}", p.display()), &e)),
    }
}

/// Removes the saved configuration (absent is fine).
pub fn remove(data_dir: &Path, cid: &str) -> Result<(), CniError> {
    let p = path(data_dir, cid);
    match fs::remove_file(&p) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(CniError::io(format!("cannot remove {}", p.display()), &e))
        }
        _ => Ok(()),
    }
}

/// Puts back what `load` returned before an ADD overwrote it (ADD failed): the old content, or
/// no file.
pub fn restore(data_dir: &Path, cid: &str, previous: Option<&[u8]>) -> Result<(), CniError> {
    match previous {
        Some(bytes) => save(data_dir, cid, bytes),
        None => remove(data_dir, cid),
    }
}

/// Container IDs with a saved configuration (names that are not container IDs are ignored).
pub fn list(data_dir: &Path) -> Result<Vec<String>, CniError> {
    let entries = match fs::read_dir(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(CniError::io(
                format!("cannot list {}", data_dir.display()),
                &e,
            ))
        }
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| validate_container_id(n).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Parses a saved delegate configuration.
pub fn parse(bytes: &[u8]) -> Result<Map<String, Value>, CniError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CniError::new(
            DECODING_FAILURE,
            "cannot decode the saved delegate configuration",
            "not an object",
        )),
        Err(e) => Err(CniError::new(
            DECODING_FAILURE,
            "cannot decode the saved delegate configuration",
            e.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_load_remove_with_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("flannel");
        assert_eq!(load(&dir, "c1").unwrap(), None);
        assert_eq!(list(&dir).unwrap(), Vec::<String>::new());
        save(&dir, "c1", b"{}").unwrap();
        save(&dir, "c2", b"[]").unwrap();
        save(&dir, "c1", b"{\"a\":1}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("c1")), 0o600);
        assert_eq!(
            load(&dir, "c1").unwrap().as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        fs::write(dir.join(".junk"), "x").unwrap();
        assert_eq!(
            list(&dir).unwrap(),
            vec!["c1".to_string(), "c2".to_string()]
        );
        remove(&dir, "c1").unwrap();
        remove(&dir, "c1").unwrap();
        assert_eq!(load(&dir, "c1").unwrap(), None);
        restore(&dir, "c2", None).unwrap();
        assert_eq!(load(&dir, "c2").unwrap(), None);
        restore(&dir, "c2", Some(b"old")).unwrap();
        assert_eq!(load(&dir, "c2").unwrap().as_deref(), Some(&b"old"[..]));
    }

    #[test]
    fn save_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        save(&dir, "c1", b"one").unwrap();
        let mode = fs::metadata(dir.join("c1")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        save(&dir, "c1", b"two").unwrap();
        save(&dir, "c2", b"three").unwrap();
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["c1".to_string(), "c2".to_string()]);
        assert_eq!(fs::read(dir.join("c1")).unwrap(), b"two");
        // Named way (as without O_TMPFILE): same result.
        save_named(&dir, "c2", b"four").unwrap();
        assert_eq!(load(&dir, "c2").unwrap().as_deref(), Some(&b"four"[..]));
        assert!(!dir.join(".c2.tmp").exists());
    }
}
