//! Building the lab's underlay: the fabric namespace (bridges `br0`/`br1`,
//! router, the link to the external host), the external host and the node
//! namespaces with their veth pairs onto the fabric bridges.

use super::Lab;
use anyhow::Result;

impl Lab {
    pub(super) fn build(&mut self) -> Result<()> {
        let fab = self.fabric_ns();
        self.add_ns(&fab)?;
        self.sysctl(&fab, "net.ipv4.ip_forward=1")?;
        self.ipn(&fab, &["link", "add", "br0", "type", "bridge"])?;
        self.ipn(&fab, &["addr", "add", "198.18.0.254/24", "dev", "br0"])?;
        self.ipn(&fab, &["link", "set", "br0", "up"])?;
        if self.second_underlay {
            self.ipn(&fab, &["link", "add", "br1", "type", "bridge"])?;
            self.ipn(&fab, &["addr", "add", "198.18.1.254/24", "dev", "br1"])?;
            self.ipn(&fab, &["link", "set", "br1", "up"])?;
        }

        let ext = self.ext_ns();
        self.add_ns(&ext)?;
        self.ipn(
            &ext,
            &[
                "link", "add", "eth0", "type", "veth", "peer", "name", "ext0", "netns", &fab,
            ],
        )?;
        self.ipn(&fab, &["addr", "add", "203.0.113.1/24", "dev", "ext0"])?;
        self.ipn(&fab, &["link", "set", "ext0", "up"])?;
        self.ipn(&ext, &["addr", "add", "203.0.113.10/24", "dev", "eth0"])?;
        self.ipn(&ext, &["link", "set", "eth0", "up"])?;
        self.ipn(&ext, &["route", "add", "default", "via", "203.0.113.1"])?;

        for i in 1..=self.nodes {
            self.build_node(i)?;
        }
        Ok(())
    }

    fn build_node(&mut self, i: usize) -> Result<()> {
        let fab = self.fabric_ns();
        let ns = self.node_ns(i);
        self.add_ns(&ns)?;
        self.sysctl(&ns, "net.ipv4.ip_forward=1")?;
        let mut links = vec![("eth0", format!("n{i}"), "br0", Lab::node_ip(i))];
        if self.second_underlay {
            links.push(("eth1", format!("n{i}-1"), "br1", Lab::node_ip2(i)));
        }
        for (dev, peer, bridge, ip) in links {
            self.ipn(
                &ns,
                &[
                    "link", "add", dev, "type", "veth", "peer", "name", &peer, "netns", &fab,
                ],
            )?;
            self.ipn(&fab, &["link", "set", &peer, "master", bridge, "up"])?;
            self.ipn(&ns, &["addr", "add", &format!("{ip}/24"), "dev", dev])?;
            self.ipn(&ns, &["link", "set", dev, "up"])?;
        }
        self.ipn(&ns, &["route", "add", "default", "via", "198.18.0.254"])?;
        Ok(())
    }
}
