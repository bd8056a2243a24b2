//! The udp backend's UDP socket adapter: a socket bound to the interface address and port,
//! batched sends with `sendmmsg` where each message may carry a run of equal-sized datagrams
//! for the kernel to split (UDP GSO, `UDP_SEGMENT`), and batched receives with `recvmmsg` where
//! the kernel may hand over a run of datagrams in one buffer (UDP GRO, `UDP_GRO`). On the wire
//! every datagram still holds exactly one inner packet: GSO/GRO only change how many datagrams
//! cross the system-call boundary at once. The unsafe code of the data path lives here.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket as RawSocket, Type};

/// Most datagrams one GSO send may carry (the kernel's limit is 64 on older kernels).
pub const MAX_SEGMENTS: usize = 64;
/// Most payload bytes one GSO send may carry (the largest UDP/IPv4 datagram).
pub const MAX_GSO_BYTES: usize = 65_507;
/// Socket buffer size asked for (root may exceed rmem_max/wmem_max).
const SOCKET_BUFFER: usize = 8 << 20;
/// Receive buffer per message: a whole GRO run.
const RECV_BUF: usize = 65_536;
const CMSG_BUF: usize = 64;

/// The UDP socket of one data-path queue.
pub struct Socket {
    sock: RawSocket,
    gso: bool,
    gro: bool,
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a valid pointer to a c_int and its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Socket {
    /// Bind `addr` (SO_REUSEPORT, so each queue has its own socket on the same port), with large
    /// buffers, GRO on when the kernel has it, and GSO use when the kernel has it.
    pub fn bind(addr: SocketAddrV4) -> io::Result<Socket> {
        let sock = RawSocket::new(Domain::IPV4, Type::DGRAM.cloexec(), Some(Protocol::UDP))?;
        sock.set_reuse_port(true)?;
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if setsockopt_int(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                force,
                SOCKET_BUFFER as i32,
            )
            .is_err()
            {
                let _ = setsockopt_int(
                    sock.as_raw_fd(),
                    libc::SOL_SOCKET,
                    plain,
                    SOCKET_BUFFER as i32,
                );
            }
        }
        sock.bind(&SockAddr::from(addr))?;
        let fd = sock.as_raw_fd();
        let gro = setsockopt_int(fd, libc::SOL_UDP, libc::UDP_GRO, 1).is_ok();
        // Each datagram then carries the socket's drop count (receive queue full): counted.
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1);
        // Setting a zero segment size is a no-op that fails on kernels without UDP GSO.
        let gso = setsockopt_int(fd, libc::SOL_UDP, libc::UDP_SEGMENT, 0).is_ok();
        Ok(Socket { sock, gso, gro })
    }

    pub fn gso(&self) -> bool {
        self.gso
    }

    pub fn gro(&self) -> bool {
        self.gro
    }

    /// Datagrams one message may carry.
    pub fn max_segments(&self) -> usize {
        if self.gso {
            MAX_SEGMENTS
        } else {
            1
        }
    }
}

fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr_in(s: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
        u16::from_be(s.sin_port),
    )
}

/// Control-message buffer, aligned for `cmsghdr`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Cmsg([u8; CMSG_BUF]);

/// A run of datagrams to one peer: packets `start..end` of the batch, all of the first one's
/// size except possibly the last (the shape UDP GSO needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub to: SocketAddrV4,
    pub start: usize,
    pub end: usize,
}

/// Reusable sendmmsg state.
#[derive(Default)]
pub struct Sender {
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_in>,
    cmsgs: Vec<Cmsg>,
    msgs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers inside are only scratch space, rebuilt on every `send`.
unsafe impl Send for Sender {}

impl Sender {
    /// Send `groups` of `packets` (in send order; groups index into it) with as few system
    /// calls as possible. `on_error` gets each group the kernel refused, with the error.
    pub fn send<'a>(
        &mut self,
        sock: &Socket,
        packets: impl IntoIterator<Item = &'a [u8]>,
        groups: &[Group],
        mut on_error: impl FnMut(&Group, io::Error),
    ) {
        if groups.is_empty() {
            return;
        }
        self.iovs.clear();
        for p in packets {
            self.iovs.push(libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            });
        }
        self.addrs.clear();
        self.addrs.extend(groups.iter().map(|g| sockaddr_in(g.to)));
        self.cmsgs.resize(groups.len(), Cmsg([0; CMSG_BUF]));
        self.msgs.clear();
        for (i, g) in groups.iter().enumerate() {
            // SAFETY: zeroed msghdr is a valid "empty" value; pointers are filled below and
            // point into vectors that outlive the sendmmsg call.
            let mut h: libc::msghdr = unsafe { mem::zeroed() };
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = self.iovs[g.start..g.end].as_mut_ptr();
            h.msg_iovlen = (g.end - g.start) as _;
            if g.end - g.start > 1 {
                let seg = self.iovs[g.start].iov_len as u16;
                // SAFETY: the control buffer is CMSG_BUF bytes, aligned, and large enough for
                // one cmsghdr carrying a u16.
                unsafe {
                    let space = libc::CMSG_SPACE(mem::size_of::<u16>() as u32) as usize;
                    h.msg_control = self.cmsgs[i].0.as_mut_ptr().cast();
                    h.msg_controllen = space as _;
                    let c = libc::CMSG_FIRSTHDR(&h);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = libc::UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
                }
            }
            self.msgs.push(libc::mmsghdr {
                msg_hdr: h,
                msg_len: 0,
            });
        }
        let fd = sock.sock.as_raw_fd();
        let mut k = 0;
        while k < self.msgs.len() {
            let rest = &mut self.msgs[k..];
            // SAFETY: every header points at live buffers set up above.
            let r = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as u32, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                on_error(&groups[k], e);
                k += 1;
            } else {
                k += r as usize;
            }
        }
    }
}

/// One received message: a sender and a run of datagrams of `segment` bytes each (the last
/// may be shorter).
pub struct Datagrams<'a> {
    pub from: SocketAddrV4,
    pub data: &'a [u8],
    pub segment: usize,
    /// The kernel's count of datagrams dropped at this socket so far (its receive queue was
    /// full), when it is not zero (`SO_RXQ_OVFL`).
    pub socket_drops: Option<u32>,
}

/// Reusable recvmmsg state.
pub struct Receiver {
    bufs: Vec<Vec<u8>>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_in>,
    cmsgs: Vec<Cmsg>,
    msgs: Vec<libc::mmsghdr>,
    got: usize,
}

// SAFETY: the raw pointers inside point into the struct's own vectors, rebuilt before each use.
unsafe impl Send for Receiver {}

impl Receiver {
    pub fn new(batch: usize) -> Receiver {
        let batch = batch.max(1);
        Receiver {
            bufs: vec![vec![0u8; RECV_BUF]; batch],
            iovs: Vec::with_capacity(batch),
            addrs: vec![sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); batch],
            cmsgs: vec![Cmsg([0; CMSG_BUF]); batch],
            msgs: Vec::with_capacity(batch),
            got: 0,
        }
    }

    /// Block until at least one message arrives, then take what is queued (up to the batch).
    /// Returns the number of messages.
    pub fn recv(&mut self, sock: &Socket) -> io::Result<usize> {
        self.iovs.clear();
        self.msgs.clear();
        for b in self.bufs.iter_mut() {
            self.iovs.push(libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            });
        }
        for i in 0..self.bufs.len() {
            // SAFETY: as in `Sender::send`; pointers target this struct's own vectors.
            let mut h: libc::msghdr = unsafe { mem::zeroed() };
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.cmsgs[i].0.as_mut_ptr().cast();
            h.msg_controllen = CMSG_BUF as _;
            self.msgs.push(libc::mmsghdr {
                msg_hdr: h,
                msg_len: 0,
            });
        }
        let fd = sock.sock.as_raw_fd();
        loop {
            // SAFETY: headers point at live buffers of the stated sizes.
            let r = unsafe {
                libc::recvmmsg(
                    fd,
                    self.msgs.as_mut_ptr(),
                    self.msgs.len() as u32,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if r >= 0 {
                self.got = r as usize;
                return Ok(self.got);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Message `i` of the last `recv`.
    pub fn get(&self, i: usize) -> Datagrams<'_> {
        let m = &self.msgs[i];
        let len = (m.msg_len as usize).min(RECV_BUF);
        let mut segment = len;
        let mut socket_drops = None;
        // SAFETY: the kernel filled msg_control/msg_controllen for this header.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&m.msg_hdr);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                    let s = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>());
                    if s > 0 {
                        segment = s as usize;
                    }
                }
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL {
                    socket_drops = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
                }
                c = libc::CMSG_NXTHDR(&m.msg_hdr, c);
            }
        }
        Datagrams {
            from: from_sockaddr_in(&self.addrs[i]),
            data: &self.bufs[i][..len],
            segment,
            socket_drops,
        }
    }
}

impl Datagrams<'_> {
    /// The datagrams of this message, one inner packet each.
    pub fn iter(&self) -> std::slice::Chunks<'_, u8> {
        self.data.chunks(self.segment.max(1))
    }
}
