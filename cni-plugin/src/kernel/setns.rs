//! Network namespaces: opening a namespace file, and a netlink socket inside a pod namespace
//! (the calling thread switches into it for the `socket(2)` call only, then straight back; the
//! socket stays bound to the pod namespace).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::msg::io_err;
use crate::dataplane::KernelError;
use crate::netlink::Socket;

/// Opens a netlink socket inside `ns`: the calling thread joins `ns` for the socket(2) call and
/// returns to its own namespace right after (a thread that cannot return is a bug we must not
/// survive: everything after would run in the pod namespace, so the process aborts).
pub(crate) fn socket_in(ns: &Netns) -> Result<Socket, KernelError> {
    let own = File::open("/proc/thread-self/ns/net")
        .map_err(|e| io_err("open /proc/thread-self/ns/net", e))?;
    // SAFETY: setns(2) on descriptors we hold open; only this thread's network namespace
    // changes, and it is restored below before anything else runs on this thread.
    if unsafe { libc::setns(ns.file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(KernelError::Netns {
            netns: ns.path.clone(),
            source: io::Error::last_os_error(),
        });
    }
    let sock = Socket::new();
    // SAFETY: as above, back to the namespace the thread was in.
    if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        eprintln!(
            "flannel: cannot return to the node network namespace after opening a socket in {}: {}",
            ns.path,
            io::Error::last_os_error()
        );
        std::process::abort();
    }
    sock.map_err(|e| io_err(format!("open rtnetlink socket in {}", ns.path), e))
}

/// An opened network namespace file.
pub(crate) struct Netns {
    pub(crate) file: File,
    pub(crate) path: String,
}

impl Netns {
    pub(crate) fn open(path: &Path) -> Result<Netns, KernelError> {
        let shown = path.display().to_string();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| KernelError::Netns {
                netns: shown.clone(),
                source,
            })?;
        Ok(Netns { file, path: shown })
    }
}
