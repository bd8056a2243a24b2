use netlink_packet_route::route::{RouteNextHop, RouteVia};

use super::*;

fn route(dst: &str, attrs: Vec<RouteAttribute>) -> RouteMessage {
    let dst: Ipv4Net = dst.parse().expect("valid net");
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.kind = RouteType::Unicast;
    m.header.destination_prefix_length = dst.prefix_len();
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet(dst.addr())));
    m.attributes.extend(attrs);
    m
}

fn gw(a: [u8; 4]) -> RouteAttribute {
    RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::from(a)))
}

#[test]
fn single_oif_route() {
    let mut m = route(
        "10.244.2.0/24",
        vec![gw([10, 0, 0, 2]), RouteAttribute::Oif(4)],
    );
    m.header.flags |= RouteFlags::Onlink;
    assert_eq!(
        ipv4_route(&m),
        Some(Route {
            dst: "10.244.2.0/24".parse().expect("valid net"),
            gateway: Some(Ipv4Addr::new(10, 0, 0, 2)),
            oif: 4,
            onlink: true,
        })
    );
    let m = route("0.0.0.0/0", vec![RouteAttribute::Oif(2)]);
    let r = ipv4_route(&m).expect("default route");
    assert_eq!((r.dst.prefix_len(), r.gateway, r.onlink), (0, None, false));
}

#[test]
fn multipath_route_is_not_a_route() {
    let hop = |i| {
        let mut h = RouteNextHop::default();
        h.interface_index = i;
        h
    };
    let m = route(
        "10.9.0.0/16",
        vec![RouteAttribute::MultiPath(vec![hop(3), hop(4)])],
    );
    assert_eq!(ipv4_route(&m), None);
    // Even with an RTA_OIF next to it.
    let m = route(
        "10.9.0.0/16",
        vec![
            RouteAttribute::Oif(3),
            RouteAttribute::MultiPath(vec![hop(4)]),
        ],
    );
    assert_eq!(ipv4_route(&m), None);
}

#[test]
fn oif_zero_and_via_are_not_routes() {
    assert_eq!(
        ipv4_route(&route("10.1.0.0/16", vec![gw([10, 0, 0, 1])])),
        None
    );
    assert_eq!(
        ipv4_route(&route("10.1.0.0/16", vec![RouteAttribute::Oif(0)])),
        None
    );
    let via = RouteAttribute::Via(RouteVia::Inet6("fe80::1".parse().expect("valid ip")));
    assert_eq!(
        ipv4_route(&route("10.1.0.0/16", vec![via, RouteAttribute::Oif(2)])),
        None
    );
}

#[test]
fn other_tables_kinds_and_families_are_skipped() {
    let mut m = route("10.1.0.0/16", vec![RouteAttribute::Oif(2)]);
    m.header.table = 255;
    assert_eq!(ipv4_route(&m), None);
    // RTA_TABLE wins over the header (tables above 255 only fit there).
    m.attributes.push(RouteAttribute::Table(254));
    assert!(ipv4_route(&m).is_some());
    let mut m = route(
        "10.1.0.0/16",
        vec![RouteAttribute::Oif(2), RouteAttribute::Table(1000)],
    );
    assert_eq!(route_table(&m), 1000);
    assert_eq!(ipv4_route(&m), None);
    m.attributes.pop();
    m.header.kind = RouteType::BlackHole;
    assert_eq!(ipv4_route(&m), None);
    m.header.kind = RouteType::Unicast;
    m.header.flags |= RouteFlags::Cloned;
    assert_eq!(ipv4_route(&m), None);
    m.header.flags = RouteFlags::empty();
    m.header.address_family = AddressFamily::Inet6;
    assert_eq!(ipv4_route(&m), None);
}

#[test]
fn address_prefers_local() {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = 24;
    m.header.index = 3;
    m.attributes
        .push(AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(
            10, 0, 0, 9,
        ))));
    assert_eq!(
        ipv4_addr(&m),
        Some("10.0.0.9/24".parse().expect("valid net"))
    );
    m.attributes
        .push(AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(
            10, 0, 0, 1,
        ))));
    assert_eq!(
        ipv4_addr(&m),
        Some("10.0.0.1/24".parse().expect("valid net"))
    );
    m.header.prefix_len = 33;
    assert_eq!(ipv4_addr(&m), None);
    m.header.prefix_len = 24;
    m.header.family = AddressFamily::Inet6;
    assert_eq!(ipv4_addr(&m), None);
}

#[test]
fn link_attributes() {
    let mut m = LinkMessage::default();
    assert_eq!(
        (
            link_name(&m),
            link_address(&m),
            link_kind(&m),
            link_peer(&m),
            link_master(&m)
        ),
        (None, None, None, None, None)
    );
    m.attributes.push(LinkAttribute::IfName("cni0".into()));
    m.attributes
        .push(LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]));
    m.attributes.push(LinkAttribute::Link(7));
    m.attributes.push(LinkAttribute::Controller(5));
    m.attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Veth,
        )]));
    assert_eq!(link_name(&m), Some("cni0"));
    assert_eq!(link_address(&m), Some(&[2u8, 0, 0, 0, 0, 1][..]));
    assert_eq!(link_kind(&m), Some(&InfoKind::Veth));
    assert_eq!((link_peer(&m), link_master(&m)), (Some(7), Some(5)));
}
