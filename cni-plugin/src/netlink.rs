//! A minimal blocking rtnetlink client for a short-lived process: no runtime, no threads. The
//! requests of a batch go out in one `send(2)` (the kernel handles them one after the other, in
//! order, before `send` returns) and every answer is matched to its request by sequence number.
//! At most one dump per batch, and last: a second dump started while the first is still running
//! would be refused (EBUSY).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;

/// Flags of a request answered by one message (a get by name or index).
pub const GET: u16 = NLM_F_REQUEST;
/// Flags of a dump.
pub const DUMP: u16 = NLM_F_REQUEST | NLM_F_DUMP;
/// Flags of a plain acknowledged request (delete, port settings).
pub const ACK: u16 = NLM_F_REQUEST | NLM_F_ACK;
/// Flags of a create or set request (what `ip` and the netlink libraries send).
pub const CREATE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE;

/// Receive buffer: large enough for any single message the kernel sends us.
const RECV_BUF: usize = 64 * 1024;

/// The answer to one request: its messages (none for an acknowledgement), or the errno
/// (positive) the kernel refused it with.
pub type Answer = Result<Vec<RouteNetlinkMessage>, i32>;

/// A NETLINK_ROUTE socket, bound to the network namespace of the thread that created it.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Socket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn new() -> io::Result<Socket> {
        // SAFETY: plain socket(2) call; the descriptor is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket {
            fd,
            seq: 0,
            buf: Vec::new(),
        })
    }

    /// One request, one answer.
    pub fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<Answer> {
        let mut answers = self.batch(vec![(msg, flags)])?;
        Ok(answers.pop().unwrap_or(Err(libc::EIO)))
    }

    /// Sends `reqs` (message, NLM_F_* flags) in one datagram and returns their answers, in
    /// order. A request is complete with its error, or else its acknowledgement (NLM_F_ACK),
    /// its NLMSG_DONE (dumps) or its single reply (other gets).
    pub fn batch(&mut self, reqs: Vec<(RouteNetlinkMessage, u16)>) -> io::Result<Vec<Answer>> {
        let n = reqs.len();
        let first = self.seq.wrapping_add(1);
        let mut out = Vec::new();
        let mut flags = Vec::with_capacity(n);
        for (i, (msg, f)) in reqs.into_iter().enumerate() {
            let mut m = NetlinkMessage::from(msg);
            m.header.flags = f;
            m.header.sequence_number = first.wrapping_add(i as u32);
            m.finalize();
            let start = out.len();
            out.resize(start + align4(m.buffer_len()), 0);
            m.serialize(&mut out[start..]);
            flags.push(f);
        }
        self.seq = first.wrapping_add(n as u32).wrapping_sub(1);
        self.send(&out)?;

        let mut answers: Vec<Answer> = (0..n).map(|_| Ok(Vec::new())).collect();
        let mut done = vec![false; n];
        let mut pending = n;
        while pending > 0 {
            let len = self.recv()?;
            let mut off = 0;
            while off < len {
                let data = &self.buf[off..len];
                let nb = NetlinkBuffer::new_checked(data).map_err(decode_err)?;
                let msg_len = nb.length() as usize;
                let seq = nb.sequence_number();
                off += align4(msg_len).max(msg_len);
                let i = seq.wrapping_sub(first) as usize;
                if i >= n || done[i] {
                    continue; // not ours (or a late duplicate): ignore
                }
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..msg_len])
                    .map_err(decode_err)?;
                let finished = match msg.payload {
                    NetlinkPayload::Error(e) => {
                        let code = e.raw_code();
                        if code != 0 {
                            answers[i] = Err(code.abs());
                        }
                        true
                    }
                    NetlinkPayload::Done(d) => {
                        if d.code != 0 {
                            answers[i] = Err(d.code.abs());
                        }
                        true
                    }
                    NetlinkPayload::InnerMessage(m) => {
                        if let Ok(v) = &mut answers[i] {
                            v.push(m);
                        }
                        // A plain get is answered by this one message.
                        flags[i] & NLM_F_ACK == 0 && flags[i] & NLM_F_DUMP != NLM_F_DUMP
                    }
                    _ => false,
                };
                if finished {
                    done[i] = true;
                    pending -= 1;
                }
            }
        }
        Ok(answers)
    }

    fn send(&self, data: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: data is a valid buffer of data.len() bytes; an unbound, unconnected
            // netlink socket sends to the kernel.
            let rc =
                unsafe { libc::send(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) };
            if rc >= 0 {
                return if rc as usize == data.len() {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "short netlink send",
                    ))
                };
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receives one datagram into `buf` (its length is the datagram's). The buffer is not
    /// zero-filled first: only the pages the kernel writes to are ever touched.
    fn recv(&mut self) -> io::Result<usize> {
        self.buf.clear();
        self.buf.reserve(RECV_BUF);
        let cap = self.buf.capacity();
        loop {
            // SAFETY: the spare capacity is valid for writes of `cap` bytes.
            let rc = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    cap,
                    libc::MSG_TRUNC,
                )
            };
            if rc >= 0 {
                let n = rc as usize;
                if n > cap {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("netlink message of {n} bytes truncated"),
                    ));
                }
                // SAFETY: the kernel initialised the first n <= cap bytes.
                unsafe { self.buf.set_len(n) };
                return Ok(n);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn decode_err(e: netlink_packet_core::DecodeError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("cannot decode netlink message: {e}"),
    )
}
