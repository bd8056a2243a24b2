//! Noticing changes of the services file and stop signals, for the
//! kube-proxy-lite loop. The file's directory is watched with inotify (so a
//! change is seen at once, whether the file is rewritten in place or
//! replaced by a rename), and its metadata (size, mtime, ctime, inode) is
//! polled as a fallback; [`FileWatcher::wait`] returns after at most the
//! poll interval either way.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What identifies one version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub len: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
}

impl FileStamp {
    /// The stamp of `path`, or `None` when it cannot be read.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            ino: m.ino(),
        })
    }
}

/// Watches one file.
#[derive(Debug)]
pub struct FileWatcher {
    path: PathBuf,
    inotify: Option<OwnedFd>,
}

impl FileWatcher {
    /// Watches `path`; without inotify (e.g. too many watches) it only polls.
    pub fn new(path: &Path) -> Self {
        let inotify = inotify_dir(path);
        if inotify.is_none() {
            tracing::debug!(path = %path.display(), "inotify unavailable; polling only");
        }
        FileWatcher {
            path: path.to_path_buf(),
            inotify,
        }
    }

    /// The watched path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's current stamp.
    pub fn stamp(&self) -> Option<FileStamp> {
        FileStamp::of(&self.path)
    }

    /// Sleeps until something in the file's directory changes or `timeout`
    /// passes (or a signal arrives); returns whether inotify reported events.
    pub fn wait(&self, timeout: Duration) -> bool {
        let Some(fd) = &self.inotify else {
            std::thread::sleep(timeout);
            return false;
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is a valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n <= 0 {
            return false;
        }
        // Drain the queued events; which file they name does not matter, the
        // caller compares stamps.
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into a buffer we own, of the given length.
            let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                break;
            }
        }
        true
    }
}

fn inotify_dir(path: &Path) -> Option<OwnedFd> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let cdir = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: plain syscalls; the fd is owned by OwnedFd right away.
    unsafe {
        let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let mask = libc::IN_CLOSE_WRITE
            | libc::IN_MOVED_TO
            | libc::IN_CREATE
            | libc::IN_MODIFY
            | libc::IN_ATTRIB
            | libc::IN_DELETE;
        if libc::inotify_add_watch(fd, cdir.as_ptr(), mask) < 0 {
            return None;
        }
        Some(owned)
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs SIGTERM and SIGINT handlers that set the returned flag.
pub fn install_stop_handler() -> &'static AtomicBool {
    let handler: extern "C" fn(libc::c_int) = on_stop_signal;
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; sigaction is zeroed then filled in.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
    &STOP
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn notices_rewrites_and_renames() {
        let dir = std::env::temp_dir().join(format!("kpl-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let file = dir.join("svc.json");
        std::fs::write(&file, "{}").expect("write");
        let w = FileWatcher::new(&file);
        let first = w.stamp().expect("stamp");

        std::fs::write(&file, "{\"a\":1}").expect("rewrite");
        let t = Instant::now();
        assert!(
            w.wait(Duration::from_secs(2)),
            "inotify event for a rewrite"
        );
        assert!(t.elapsed() < Duration::from_secs(1));
        let second = w.stamp().expect("stamp");
        assert_ne!(first, second);

        let tmp = dir.join("svc.json.tmp");
        std::fs::write(&tmp, "{\"b\":2}").expect("write tmp");
        std::fs::rename(&tmp, &file).expect("rename");
        w.wait(Duration::from_millis(200));
        assert_ne!(w.stamp().expect("stamp"), second);

        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(w.stamp().is_none());
    }
}
