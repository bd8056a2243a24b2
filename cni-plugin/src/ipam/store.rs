//! host-local's disk store: `<dataDir>/<network>/` (0755) holding one file per allocated IP,
//! named by the IP, containing `<containerID>\r\n<ifname>` (0644, created exclusively),
//! `last_reserved_ip.<rangeset index>` and the `lock` file (0750, as go-filemutex creates it)
//! that every operation holds an exclusive flock on.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The line break between container ID and interface name in a record.
pub const LINE_BREAK: &str = "\r\n";
const LAST_RESERVED: &str = "last_reserved_ip.";

/// An allocated address as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub ip: IpAddr,
    pub container_id: String,
    /// None for legacy records holding only the container ID.
    pub ifname: Option<String>,
}

impl Record {
    /// Whether this record belongs to (cid, ifname) the way host-local matches it.
    fn is_exact(&self, cid: &str, ifname: &str) -> bool {
        self.container_id == cid && self.ifname.as_deref() == Some(ifname)
    }

    fn is_legacy_of(&self, cid: &str) -> bool {
        self.container_id == cid && self.ifname.is_none()
    }
}

/// The store of one network; `lock` gives access to its records.
pub struct Store {
    dir: PathBuf,
    lock_file: File,
}

/// The store while its lock is held (released on drop).
pub struct Locked<'a> {
    store: &'a Store,
}

impl Store {
    /// Creates `<data_dir>/<network>` and its lock file if needed.
    pub fn open(data_dir: &Path, network: &str) -> io::Result<Store> {
        let dir = data_dir.join(network);
        let lock = dir.join("lock");
        let open_lock = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o750)
                .open(&lock)
        };
        // The directory normally exists: create it only when the lock file cannot be opened.
        let lock_file = match open_lock() {
            Ok(f) => f,
            Err(_) => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&dir)?;
                open_lock()?
            }
        };
        Ok(Store { dir, lock_file })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the exclusive flock (blocking).
    pub fn lock(&self) -> io::Result<Locked<'_>> {
        loop {
            // SAFETY: flock(2) on a descriptor we own.
            let rc = unsafe { libc::flock(self.lock_file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Locked { store: self });
            }
            let err = io::Error::last_os_error();
            if err.kind() != ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: flock(2) on a descriptor we own.
        unsafe {
            libc::flock(self.store.lock_file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

impl Locked<'_> {
    /// Creates the record of `ip` unless it exists (false then); on success updates
    /// `last_reserved_ip.<range_id>`.
    pub fn reserve(
        &self,
        ip: IpAddr,
        cid: &str,
        ifname: &str,
        range_id: usize,
    ) -> io::Result<bool> {
        let path = self.store.dir.join(ip.to_string());
        let mut f = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e),
        };
        let content = format!("{}{LINE_BREAK}{ifname}", cid.trim());
        if let Err(e) = f.write_all(content.as_bytes()) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        // Overwritten in place and cut to length (not truncated to 0 first, which would free
        // the file's block only to allocate another one for the same few bytes).
        let text = ip.to_string();
        let mut last = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(self.store.dir.join(format!("{LAST_RESERVED}{range_id}")))?;
        last.write_all(text.as_bytes())?;
        if last.metadata()?.len() > text.len() as u64 {
            last.set_len(text.len() as u64)?;
        }
        Ok(true)
    }

    /// The content of `last_reserved_ip.<range_id>`, if it holds an IP.
    pub fn last_reserved(&self, range_id: usize) -> Option<IpAddr> {
        let path = self.store.dir.join(format!("{LAST_RESERVED}{range_id}"));
        let data = read_file(&File::open(path).ok()?).ok()?;
        std::str::from_utf8(&data).ok()?.trim().parse().ok()
    }

    /// Every record (files named by an IP address), sorted by IP.
    pub fn records(&self) -> io::Result<Vec<Record>> {
        let dir = File::open(&self.store.dir)?;
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.store.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(ip) = name.to_str().and_then(|n| n.parse::<IpAddr>().ok()) else {
                continue;
            };
            // Unreadable or not text: not a record.
            let Some(data) = read_at(&dir, &name) else {
                continue;
            };
            let Ok(data) = std::str::from_utf8(&data) else {
                continue;
            };
            let data = data.trim();
            let (cid, ifname) = match data.split_once(LINE_BREAK) {
                Some((c, i)) => (c.to_string(), Some(i.to_string())),
                None => (data.to_string(), None),
            };
            out.push(Record {
                ip,
                container_id: cid,
                ifname,
            });
        }
        out.sort_by_key(|r| r.ip);
        Ok(out)
    }

    /// The IPs of (cid, ifname), legacy records of `cid` included (host-local's GetByID).
    pub fn find(&self, cid: &str, ifname: &str) -> io::Result<Vec<IpAddr>> {
        Ok(self
            .records()?
            .into_iter()
            .filter(|r| r.is_exact(cid, ifname) || r.is_legacy_of(cid))
            .map(|r| r.ip)
            .collect())
    }

    /// Removes the records of (cid, ifname); when there are none, the legacy records of `cid`
    /// (host-local's ReleaseByID). Returns the released IPs.
    pub fn release(&self, cid: &str, ifname: &str) -> io::Result<Vec<IpAddr>> {
        let records = self.records()?;
        let mut chosen: Vec<&Record> = records.iter().filter(|r| r.is_exact(cid, ifname)).collect();
        if chosen.is_empty() {
            chosen = records.iter().filter(|r| r.is_legacy_of(cid)).collect();
        }
        let mut released = Vec::new();
        for r in chosen {
            if self.remove_ip(r.ip)? {
                released.push(r.ip);
            }
        }
        Ok(released)
    }

    /// Removes one record; false when it was already gone.
    pub fn remove_ip(&self, ip: IpAddr) -> io::Result<bool> {
        match fs::remove_file(self.store.dir.join(ip.to_string())) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The content of `name` in the directory `dir` (openat, read, close), None when it cannot be
/// read.
fn read_at(dir: &File, name: &std::ffi::OsStr) -> Option<Vec<u8>> {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    let mut cname = Vec::with_capacity(name.len() + 1);
    cname.extend_from_slice(name.as_bytes());
    cname.push(0);
    let cname = std::ffi::CStr::from_bytes_with_nul(&cname).ok()?;
    // SAFETY: openat(2) with a valid directory descriptor and a NUL-terminated name; the new
    // descriptor is owned right away.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            cname.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    read_file(&file).ok()
}

/// The whole content of a small regular file: one read(2) when it fits the buffer (a short read
/// of a regular file is its end), more only for a larger file.
fn read_file(mut f: &File) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = [0u8; 512];
    let n = loop {
        match f.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            res => break res?,
        }
    };
    let mut data = buf[..n].to_vec();
    if n == buf.len() {
        f.read_to_end(&mut data)?;
    }
    Ok(data)
}
