//! The udp backend's data path threads. The TUN device `flannel0` is multi-queue with the
//! kernel's TCP offloads on (IFF_VNET_HDR): a read can return a TCP superpacket that `tun-rs`
//! splits into MTU-sized packets, and a write can carry packets that `tun-rs` coalesced back
//! into one superpacket. Per queue there is one thread for each direction:
//!
//! - sender: read packets from its TUN queue (as many as are queued, up to a batch), route
//!   each with the current `PeerTable` snapshot, and send runs of packets to the same peer as
//!   one UDP GSO message (one inner packet per datagram on the wire);
//! - receiver: take runs of datagrams from its UDP socket (recvmmsg + UDP GRO), check each
//!   packet against the sender's lease, and write the accepted ones to the TUN in one batch.
//!
//! One more thread folds the kernel's own drops at the TUN queue (`tx_dropped` of the device:
//! packets routed into it while a sender thread fell behind) into the `tun-queue` counter; the
//! receiver counts the drops the kernel reports at its socket (`socket-queue`).
//!
//! The threads read the route table through an atomic pointer: lease changes never stall them.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};
use tun_rs::{DeviceBuilder, GROTable, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use super::packet;
use super::sock::{Group, Receiver, Sender, Socket, MAX_GSO_BYTES};
use super::table::{self, Counters, DropReason, Outbound, PeerTable, Routes};

/// Messages taken per recvmmsg call (each up to a 64 KiB GRO run).
const RECV_BATCH: usize = 16;
/// Largest TCP superpacket the TUN hands over.
const MAX_SUPERPACKET: usize = 65_535;
/// Smallest TCP MSS the kernel lets a peer ask for (`net.ipv4.tcp_min_snd_mss` default): a
/// superpacket read from the TUN splits into at most 64 KiB / this many packets.
const MIN_MSS: usize = 48;
/// Minimum time between two warnings of the same kind from one thread.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Open (or re-attach to) `name` as a persistent multi-queue TUN device with `queues` queues,
/// with offloads when the kernel allows them. Returns one handle per queue.
pub fn open_tun(name: &str, queues: usize) -> io::Result<Vec<Arc<SyncDevice>>> {
    let build = |offload: bool| {
        // Up/down is left alone: a new device stays down until the daemon has configured it,
        // a persistent one kept from the previous run stays up.
        DeviceBuilder::new()
            .name(name)
            .multi_queue(true)
            .offload(offload)
            .inherit_enable_state()
            .build_sync()
    };
    let first = match build(true) {
        Ok(d) => d,
        Err(e) => {
            warn!(
                dev = name,
                "TUN offloads unavailable ({e}); continuing without them"
            );
            build(false)?
        }
    };
    // Persistent, like the other backends' devices: flannel0, its address and its route stay
    // while flanneld restarts, so pod traffic waits for the new process instead of leaving
    // unencapsulated through the default route.
    if let Err(e) = first.persist() {
        warn!(dev = name, "cannot make the TUN device persistent: {e}");
    }
    info!(
        dev = name,
        queues,
        offload = first.tcp_gso(),
        "opened TUN device"
    );
    let mut devs = Vec::with_capacity(queues);
    for _ in 1..queues.max(1) {
        devs.push(Arc::new(first.try_clone()?));
    }
    devs.insert(0, Arc::new(first));
    Ok(devs)
}

/// How often the kernel's drops at the TUN queue are folded into the counters.
const TUN_DROPS_EVERY: Duration = Duration::from_secs(1);

/// Start the threads: per TUN queue one UDP socket on `bind` and a sender and a receiver
/// thread, plus one that counts the kernel's drops at the TUN queue. A data-path thread that
/// dies reports on `failed`.
pub fn start(
    devs: Vec<Arc<SyncDevice>>,
    bind: SocketAddrV4,
    mtu: usize,
    routes: Arc<Routes>,
    failed: UnboundedSender<String>,
) -> io::Result<()> {
    if let Some(name) = devs.first().and_then(|d| d.name().ok()) {
        let routes = routes.clone();
        std::thread::Builder::new()
            .name("udp-tun-drops".into())
            .spawn(move || count_tun_queue_drops(&name, &routes))?;
    }
    for (q, dev) in devs.into_iter().enumerate() {
        let sock =
            Arc::new(Socket::bind(bind).map_err(|e| {
                io::Error::new(e.kind(), format!("binding UDP socket {bind}: {e}"))
            })?);
        if q == 0 {
            info!(%bind, gso = sock.gso(), gro = sock.gro(), "udp backend socket bound");
        }
        for dir in ["send", "recv"] {
            let (dev, sock, routes, failed) =
                (dev.clone(), sock.clone(), routes.clone(), failed.clone());
            std::thread::Builder::new()
                .name(format!("udp-{dir}-{q}"))
                .spawn(move || {
                    let e = if dir == "send" {
                        send_loop(&dev, &sock, &routes, mtu)
                    } else {
                        recv_loop(&dev, &sock, &routes)
                    };
                    let _ = failed.send(format!("udp data path thread {dir}-{q} stopped: {e}"));
                })?;
        }
    }
    Ok(())
}

/// The kernel's `tx_dropped` of the TUN device: packets routed into it that it dropped, as
/// its queue to flanneld was full (or, while flanneld is down, had no reader).
fn tun_tx_dropped(name: &str) -> io::Result<u64> {
    let path = format!("/sys/class/net/{name}/statistics/tx_dropped");
    let text = std::fs::read_to_string(&path)?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}")))
}

/// Growth of a kernel counter from `prev` to `now` (a counter that went back, e.g. a device
/// re-created, counts from 0).
fn growth(prev: u64, now: u64) -> u64 {
    if now >= prev {
        now - prev
    } else {
        now
    }
}

/// Fold the TUN queue drops the kernel counts into `tun-queue`, once a second, from the value
/// at start (drops while no flanneld read the persistent device are not ours to count).
fn count_tun_queue_drops(name: &str, routes: &Routes) {
    let mut prev = match tun_tx_dropped(name) {
        Ok(v) => v,
        Err(e) => {
            warn!(
                dev = name,
                "cannot read the TUN device's drop counter, tun-queue drops stay uncounted: {e}"
            );
            return;
        }
    };
    let mut warn_read = Every::default();
    loop {
        std::thread::sleep(TUN_DROPS_EVERY);
        match tun_tx_dropped(name) {
            Ok(now) => {
                let n = growth(prev, now);
                if n > 0 {
                    routes.unattributed.dropped(DropReason::TunQueue, n);
                }
                prev = now;
            }
            Err(e) => {
                if warn_read.due() {
                    warn!(dev = name, "cannot read the TUN device's drop counter: {e}");
                }
            }
        }
    }
}

/// Rate limit for one kind of warning.
#[derive(Default)]
struct Every(Option<Instant>);

impl Every {
    fn due(&mut self) -> bool {
        let now = Instant::now();
        if self.0.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
            return false;
        }
        self.0 = Some(now);
        true
    }
}

/// Errors after which a device or socket is unusable.
fn fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::EBADFD | libc::ENODEV | libc::ENXIO)
    )
}

/// Wait until the TUN queue is readable.
fn wait_readable(dev: &SyncDevice) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd: dev.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// TUN → UDP.
fn send_loop(dev: &SyncDevice, sock: &Socket, routes: &Routes, mtu: usize) -> io::Error {
    if let Err(e) = dev.set_nonblocking(true) {
        return e;
    }
    let hdr = if dev.tcp_gso() { VIRTIO_NET_HDR_LEN } else { 0 };
    let mut raw = vec![0u8; hdr + MAX_SUPERPACKET];
    // Room for a whole superpacket split at the smallest MSS a peer can ask for, plus a batch:
    // one slab, so the pages of buffers never used are never touched.
    let per_read = MAX_SUPERPACKET / MIN_MSS + 2;
    let batch = IDEAL_BATCH_SIZE + per_read;
    let size = mtu.max(1500) + 256;
    let mut slab = vec![0u8; batch * size];
    let mut bufs: Vec<&mut [u8]> = slab.chunks_mut(size).collect();
    let mut sizes = vec![0usize; batch];
    let mut sender = Sender::default();
    let mut plan = Plan::default();
    let mut warn_read = Every::default();
    loop {
        // Take what is queued, up to a batch; block only when nothing is pending.
        let mut filled = 0;
        while batch - filled >= per_read {
            match dev.recv_multiple(&mut raw, &mut bufs[filled..], &mut sizes[filled..], 0) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if filled > 0 {
                        break;
                    }
                    if let Err(e) = wait_readable(dev) {
                        return e;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if fatal(&e) => return e,
                Err(e) => {
                    routes.unattributed.dropped(DropReason::Malformed, 1);
                    if warn_read.due() {
                        warn!("dropped a packet read from the TUN device: {e}");
                    }
                }
            }
        }
        let table = routes.load();
        plan.build(&table, &mut bufs, &sizes[..filled], sock.max_segments());
        for i in plan.unreachable.drain(..) {
            answer_unreachable(dev, hdr, &bufs[i][..sizes[i]], &routes.unattributed);
        }
        let packets = plan.order.iter().map(|&i| &bufs[i][..sizes[i]]);
        sender.send(sock, packets, &plan.groups, |g, e| {
            plan.failed.push((*g, e));
        });
        plan.count(&table, &sizes, routes);
    }
}

/// Write ICMP net unreachable for `offender` back into the TUN when one is due.
fn answer_unreachable(dev: &SyncDevice, hdr: usize, offender: &[u8], c: &Counters) {
    c.dropped(DropReason::NoRoute, 1);
    // A zeroed virtio header (no offload) before the packet when the device has one.
    let mut b = [0u8; VIRTIO_NET_HDR_LEN + packet::MAX_UNREACHABLE];
    if let Some(n) = packet::net_unreachable(offender, &mut b[hdr..]) {
        if dev.send(&b[..hdr + n]).is_err() {
            c.dropped(DropReason::TunError, 1);
        }
    }
}

/// What one batch read from the TUN turns into: packets in send order, grouped into runs for
/// UDP GSO, plus the packets to answer with ICMP and the drops.
#[derive(Default)]
struct Plan {
    /// Buffer indices, in send order.
    order: Vec<usize>,
    /// Peer of each entry of `order`.
    peers: Vec<usize>,
    groups: Vec<Group>,
    /// Buffer indices of packets no peer can take.
    unreachable: Vec<usize>,
    failed: Vec<(Group, io::Error)>,
    drops: Vec<(Option<usize>, DropReason)>,
}

impl Plan {
    fn build(
        &mut self,
        table: &PeerTable,
        bufs: &mut [&mut [u8]],
        sizes: &[usize],
        max_seg: usize,
    ) {
        self.order.clear();
        self.peers.clear();
        self.groups.clear();
        self.unreachable.clear();
        self.failed.clear();
        self.drops.clear();
        for (i, &len) in sizes.iter().enumerate() {
            match table::outbound(table, &mut bufs[i][..len]) {
                Outbound::Send(p) => {
                    self.order.push(i);
                    self.peers.push(p);
                }
                Outbound::Drop(p, why) => self.drops.push((Some(p), why)),
                Outbound::NoRoute => self.unreachable.push(i),
                Outbound::Malformed(why) => self.drops.push((None, why)),
            }
        }
        // Runs of consecutive packets to one peer, all the size of the first but the last.
        let mut start = 0;
        while start < self.order.len() {
            let peer = self.peers[start];
            let seg = sizes[self.order[start]];
            let mut end = start + 1;
            let mut bytes = seg;
            while end < self.order.len()
                && end - start < max_seg
                && self.peers[end] == peer
                && bytes + sizes[self.order[end]] <= MAX_GSO_BYTES
                && sizes[self.order[end - 1]] == seg
                && sizes[self.order[end]] <= seg
            {
                bytes += sizes[self.order[end]];
                end += 1;
            }
            self.groups.push(Group {
                to: table.peer(peer).addr,
                start,
                end,
            });
            start = end;
        }
    }

    /// Add the batch to the counters: one update per group, not per packet.
    fn count(&mut self, table: &PeerTable, sizes: &[usize], routes: &Routes) {
        for g in &self.groups {
            let n = (g.end - g.start) as u64;
            let c = &table.peer(self.peers[g.start]).counters;
            match self.failed.iter().position(|(f, _)| f == g) {
                Some(_) => c.dropped(DropReason::SendError, n),
                None => {
                    let bytes: usize = self.order[g.start..g.end].iter().map(|&i| sizes[i]).sum();
                    c.sent(n, bytes as u64);
                }
            }
        }
        for (p, why) in self.drops.drain(..) {
            match p {
                Some(p) => table.peer(p).counters.dropped(why, 1),
                None => routes.unattributed.dropped(why, 1),
            }
        }
        if let Some((g, e)) = self.failed.first() {
            tracing::debug!(peer = %g.to, "udp send failed: {e}");
        }
    }
}

/// Per-peer tally of accepted packets within one batch, flushed when the peer changes.
#[derive(Default)]
struct Tally {
    peer: Option<usize>,
    packets: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, table: &PeerTable, peer: usize, bytes: usize) {
        if self.peer != Some(peer) {
            self.flush(table);
            self.peer = Some(peer);
        }
        self.packets += 1;
        self.bytes += bytes as u64;
    }

    fn flush(&mut self, table: &PeerTable) {
        if let Some(p) = self.peer.take() {
            table.peer(p).counters.received(self.packets, self.bytes);
        }
        self.packets = 0;
        self.bytes = 0;
    }
}

/// UDP → TUN.
fn recv_loop(dev: &SyncDevice, sock: &Socket, routes: &Routes) -> io::Error {
    let hdr = if dev.tcp_gso() { VIRTIO_NET_HDR_LEN } else { 0 };
    let mut rx = Receiver::new(RECV_BATCH);
    let mut out: Vec<Vec<u8>> = (0..IDEAL_BATCH_SIZE)
        .map(|_| Vec::with_capacity(hdr + MAX_SUPERPACKET + 1))
        .collect();
    let mut gro = GROTable::default();
    let mut warn_sender = Every::default();
    let mut warn_tun = Every::default();
    // The socket's drop count as last seen (it starts at 0 with the socket).
    let mut socket_drops = 0u32;
    loop {
        let n = match rx.recv(sock) {
            Ok(n) => n,
            Err(e) if fatal(&e) => return e,
            Err(e) => {
                if warn_sender.due() {
                    warn!("udp receive failed: {e}");
                }
                continue;
            }
        };
        let table = routes.load();
        let mut used = 0;
        let mut tally = Tally::default();
        for i in 0..n {
            let d = rx.get(i);
            if let Some(n) = d.socket_drops {
                let new = n.wrapping_sub(socket_drops);
                if new > 0 {
                    routes
                        .unattributed
                        .dropped(DropReason::SocketQueue, u64::from(new));
                }
                socket_drops = n;
            }
            let senders = table.senders(d.from);
            for pkt in d.iter() {
                match table::inbound(&table, senders, pkt) {
                    Ok(p) => {
                        if used == out.len() {
                            write_tun(dev, &mut gro, &mut out[..used], hdr, routes, &mut warn_tun);
                            used = 0;
                        }
                        let b = &mut out[used];
                        b.clear();
                        b.resize(hdr, 0);
                        b.extend_from_slice(pkt);
                        used += 1;
                        tally.add(&table, p, pkt.len());
                    }
                    Err((Some(p), why)) => table.peer(p).counters.dropped(why, 1),
                    Err((None, why)) => {
                        routes.unattributed.dropped(why, 1);
                        if warn_sender.due() {
                            warn!(sender = %d.from, "dropped a datagram from an address and port that is no peer's (further drops are only counted)");
                        }
                    }
                }
            }
        }
        tally.flush(&table);
        if used > 0 {
            write_tun(dev, &mut gro, &mut out[..used], hdr, routes, &mut warn_tun);
        }
    }
}

fn write_tun(
    dev: &SyncDevice,
    gro: &mut GROTable,
    bufs: &mut [Vec<u8>],
    hdr: usize,
    routes: &Routes,
    warn_tun: &mut Every,
) {
    if let Err(e) = dev.send_multiple(gro, bufs, hdr) {
        routes.unattributed.dropped(DropReason::TunError, 1);
        if warn_tun.due() {
            warn!("writing to the TUN device failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::Lease;
    use crate::udp::packet::tests::{mutation, spec, Mutation};
    use crate::udp::sock::MAX_SEGMENTS;
    use proptest::prelude::*;

    /// Peer subnets of the test table; index 4 of a case means "no peer leases it".
    const PEERS: [(&str, &str, [u8; 3]); 4] = [
        ("10.244.2.0/24", "198.18.0.2", [10, 244, 2]),
        ("10.244.3.0/24", "198.18.0.3", [10, 244, 3]),
        ("10.244.4.0/24", "198.18.0.4", [10, 244, 4]),
        ("10.244.5.0/24", "198.18.0.5", [10, 244, 5]),
    ];

    fn routes() -> Routes {
        let r = Routes::new(8285);
        let leases: Vec<Lease> = PEERS
            .iter()
            .map(|(s, ip, _)| Lease::for_test(s, ip, ""))
            .collect();
        r.publish(&leases);
        r
    }

    /// One packet of a batch read from the TUN: its peer (4: none), a payload length (mostly
    /// one MSS, so that runs form), a TTL and a change.
    fn tun_packet() -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![4 => 0usize..2, 1 => 0usize..5],
            prop_oneof![6 => Just(1400usize), 1 => Just(600), 1 => 0usize..1400],
            prop_oneof![8 => Just(64u8), 1 => Just(1), 1 => any::<u8>()],
            prop_oneof![8 => Just(Mutation::None), 1 => mutation()],
            any::<u8>(),
        )
            .prop_flat_map(|(peer, len, ttl, m, host)| {
                let dst = match PEERS.get(peer) {
                    Some((_, _, n)) => [n[0], n[1], n[2], host],
                    None => [10, 244, 9, host],
                };
                (spec(Just([10, 244, 1, 7]), Just(dst)), Just((len, ttl, m)))
            })
            .prop_map(|(mut s, (len, ttl, m))| {
                s.ttl = ttl;
                s.ihl = 5;
                s.proto = 6;
                s.frag = 0x4000;
                s.payload = vec![0xab; len];
                let mut p = s.build();
                m.apply(&mut p);
                p
            })
    }

    #[test]
    fn kernel_counter_growth() {
        assert_eq!(growth(5, 5), 0);
        assert_eq!(growth(5, 12), 7);
        // Re-created device: the counter restarted.
        assert_eq!(growth(12, 3), 3);
    }

    proptest! {
        /// Between the TUN read and the UDP send nothing is lost or reordered: every packet of
        /// a batch is either sent (in read order, TTL one less), answered as unreachable or
        /// counted as a drop; the GSO runs cover the sent packets in order, one peer each, in
        /// the shape UDP GSO needs; and the counters add up to the batch.
        #[test]
        fn a_batch_is_sent_in_order_or_counted(
            pkts in proptest::collection::vec(tun_packet(), 1..150),
            max_seg in prop_oneof![Just(MAX_SEGMENTS), Just(1usize), 1usize..MAX_SEGMENTS],
        ) {
            let r = routes();
            let table = r.load();
            let before = pkts.clone();
            let mut pkts = pkts;
            let sizes: Vec<usize> = pkts.iter().map(Vec::len).collect();
            let mut bufs: Vec<&mut [u8]> = pkts.iter_mut().map(|p| p.as_mut_slice()).collect();
            let mut plan = Plan::default();
            plan.build(&table, &mut bufs, &sizes, max_seg);

            prop_assert!(plan.order.windows(2).all(|w| w[0] < w[1]), "send order {:?}", plan.order);
            prop_assert_eq!(plan.order.len() + plan.unreachable.len() + plan.drops.len(), sizes.len());
            for &i in &plan.order {
                prop_assert_eq!(bufs[i][8], before[i][8] - 1);
            }
            let mut next = 0;
            for g in &plan.groups {
                prop_assert_eq!(g.start, next);
                prop_assert!(g.end > g.start && g.end - g.start <= max_seg);
                let peer = plan.peers[g.start];
                prop_assert!(plan.peers[g.start..g.end].iter().all(|p| *p == peer));
                prop_assert_eq!(g.to, table.peer(peer).addr);
                let lens: Vec<usize> = plan.order[g.start..g.end].iter().map(|&i| sizes[i]).collect();
                if lens.len() > 1 {
                    let (last, rest) = lens.split_last().unwrap();
                    prop_assert!(rest.iter().all(|l| *l == lens[0]) && *last <= lens[0], "{:?}", lens);
                    prop_assert!(lens.iter().sum::<usize>() <= MAX_GSO_BYTES);
                }
                next = g.end;
            }
            prop_assert_eq!(next, plan.order.len());

            let drops = plan.drops.len() as u64;
            plan.count(&table, &sizes, &r);
            let traffic = r.traffic();
            let sent: u64 = traffic.values().map(|t| t.tx_packets).sum();
            let bytes: u64 = traffic.values().map(|t| t.tx_bytes).sum();
            let dropped: u64 = traffic.values().chain([&r.unattributed.snapshot()])
                .flat_map(|t| t.drops.values())
                .sum();
            prop_assert_eq!(sent, plan.order.len() as u64);
            prop_assert_eq!(bytes, plan.order.iter().map(|&i| sizes[i] as u64).sum::<u64>());
            prop_assert_eq!(dropped, drops);
        }
    }
}
