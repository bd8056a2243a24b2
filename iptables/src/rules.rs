//! Service rules in kube-proxy's iptables layout (see
//! `shared/spec/service-rules.md`): the chains and dispatch rules of one
//! service port, the fixed chains, the jumps from built-in chains, and the
//! whole desired nat and filter state. Pure: no I/O.
//!
//! Arguments are written in kube-proxy's order (comment, `-m <proto> -p
//! <proto>`, `-d`, `--dport`, then the target), not in the order
//! `iptables-save` prints them back; owned chains are rewritten whole, never
//! compared rule by rule with the kernel.

use crate::model::{tokens, OwnedChain, Rule, Table, TableRules};
use crate::names::{
    endpoint_chain, external_chain, service_chain, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD,
    KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_CANARY, KUBE_SERVICES,
};
use crate::service::{ProxyConfig, ProxyState, ServicePort};

/// One rule's arguments after `-A <chain>`.
pub type Args = Vec<String>;

/// The chains that hold one rule per service port (at most).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dispatch {
    /// nat `KUBE-SERVICES`: cluster IP -> `KUBE-SVC-*`.
    NatServices,
    /// nat `KUBE-NODEPORTS`: node port -> `KUBE-EXT-*`.
    NatNodePorts,
    /// filter `KUBE-SERVICES`: REJECT the cluster IP of a service without endpoints.
    FilterServices,
    /// filter `KUBE-EXTERNAL-SERVICES`: REJECT its node port.
    FilterExternal,
}

impl Dispatch {
    /// All dispatch chains, in payload order.
    pub const ALL: [Dispatch; 4] = [
        Dispatch::NatServices,
        Dispatch::NatNodePorts,
        Dispatch::FilterServices,
        Dispatch::FilterExternal,
    ];

    /// The table of the chain.
    pub fn table(self) -> Table {
        match self {
            Dispatch::NatServices | Dispatch::NatNodePorts => Table::Nat,
            Dispatch::FilterServices | Dispatch::FilterExternal => Table::Filter,
        }
    }

    /// The chain name.
    pub fn chain(self) -> &'static str {
        match self {
            Dispatch::NatServices | Dispatch::FilterServices => KUBE_SERVICES,
            Dispatch::NatNodePorts => KUBE_NODEPORTS,
            Dispatch::FilterExternal => KUBE_EXTERNAL_SERVICES,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Everything one service port contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRules {
    /// Its rule in each dispatch chain, indexed by [`Dispatch`] order.
    pub dispatch: [Option<Args>; 4],
    /// Its own nat chains: `KUBE-SVC-*`, `KUBE-EXT-*`, then one `KUBE-SEP-*`
    /// per endpoint. Empty when it has no endpoints.
    pub chains: Vec<OwnedChain>,
}

impl ServiceRules {
    /// Its rule in `chain`, if any.
    pub fn dispatch_rule(&self, chain: Dispatch) -> Option<&Args> {
        self.dispatch[chain.index()].as_ref()
    }

    /// Number of rules in all its chains and dispatch rules.
    pub fn rule_count(&self) -> usize {
        self.dispatch.iter().flatten().count()
            + self.chains.iter().map(|c| c.rules.len()).sum::<usize>()
    }
}

/// `%0.10f` of `1/n`, kube-proxy's probability of the first of `n` remaining endpoints.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// Builds the rules of one service port.
pub fn service_rules(sp: &ServicePort, cfg: &ProxyConfig) -> ServiceRules {
    let spn = sp.name.to_string();
    let proto = sp.name.protocol.as_str();
    let vip = sp.cluster_ip.to_string();
    let port = sp.port.to_string();
    let mut dispatch: [Option<Args>; 4] = Default::default();
    let mut chains = Vec::new();

    if sp.endpoints.is_empty() {
        let comment = format!("{spn} has no endpoints");
        dispatch[Dispatch::FilterServices.index()] = Some(concat([
            comment_match(&comment),
            port_match(proto, Some(&vip), &port),
            tokens(&["-j", "REJECT"]),
        ]));
        if let Some(np) = sp.node_port {
            dispatch[Dispatch::FilterExternal.index()] = Some(concat([
                comment_match(&comment),
                tokens(&["-m", "addrtype", "--dst-type", "LOCAL"]),
                port_match(proto, None, &np.to_string()),
                tokens(&["-j", "REJECT"]),
            ]));
        }
        return ServiceRules { dispatch, chains };
    }

    let svc_chain = service_chain(&spn, proto);
    let cluster_comment = format!("{spn} cluster IP");
    dispatch[Dispatch::NatServices.index()] = Some(concat([
        comment_match(&cluster_comment),
        port_match(proto, Some(&vip), &port),
        tokens(&["-j", &svc_chain]),
    ]));

    // KUBE-SVC: masquerade off-cluster sources, then the endpoints.
    let mut svc_rules = Vec::new();
    if let Some(cidr) = cfg.cluster_cidr {
        svc_rules.push(concat([
            comment_match(&cluster_comment),
            port_match(proto, Some(&vip), &port),
            tokens(&["!", "-s", &cidr.to_string(), "-j", KUBE_MARK_MASQ]),
        ]));
    }
    let endpoints: Vec<(String, String)> = sp
        .endpoints
        .iter()
        .map(|ep| {
            let text = ep.to_string();
            let chain = endpoint_chain(&spn, proto, &text);
            (text, chain)
        })
        .collect();
    if let Some(timeout) = sp.affinity_timeout {
        let seconds = timeout.to_string();
        for (text, sep) in &endpoints {
            svc_rules.push(tokens(&[
                "-m",
                "comment",
                "--comment",
                &format!("{spn} -> {text}"),
                "-m",
                "recent",
                "--name",
                sep,
                "--rcheck",
                "--seconds",
                &seconds,
                "--reap",
                "-j",
                sep,
            ]));
        }
    }
    let n = endpoints.len();
    for (i, (text, sep)) in endpoints.iter().enumerate() {
        let mut args = tokens(&["-m", "comment", "--comment", &format!("{spn} -> {text}")]);
        if i + 1 < n {
            args.extend(tokens(&[
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
            ]));
            args.push(probability(n - i));
        }
        args.extend(tokens(&["-j", sep]));
        svc_rules.push(args);
    }

    chains.push(OwnedChain {
        name: svc_chain.clone(),
        rules: svc_rules,
    });

    // KUBE-EXT and the node port.
    if let Some(np) = sp.node_port {
        let ext_chain = external_chain(&spn, proto);
        dispatch[Dispatch::NatNodePorts.index()] = Some(concat([
            comment_match(&spn),
            port_match(proto, None, &np.to_string()),
            tokens(&["-j", &ext_chain]),
        ]));
        chains.push(OwnedChain {
            name: ext_chain,
            rules: vec![
                tokens(&[
                    "-m",
                    "comment",
                    "--comment",
                    &format!("masquerade traffic for {spn} external destinations"),
                    "-j",
                    KUBE_MARK_MASQ,
                ]),
                tokens(&["-j", &svc_chain]),
            ],
        });
    }

    // KUBE-SEP: hairpin masquerade, then DNAT (recording affinity).
    for (ep, (text, sep)) in sp.endpoints.iter().zip(&endpoints) {
        let mut dnat = tokens(&["-m", "comment", "--comment", &spn]);
        if sp.affinity_timeout.is_some() {
            dnat.extend(tokens(&["-m", "recent", "--name", sep, "--set"]));
        }
        dnat.extend(tokens(&[
            "-m",
            proto,
            "-p",
            proto,
            "-j",
            "DNAT",
            "--to-destination",
            text,
        ]));
        chains.push(OwnedChain {
            name: sep.clone(),
            rules: vec![
                tokens(&[
                    "-m",
                    "comment",
                    "--comment",
                    &spn,
                    "-s",
                    &ep.ip.to_string(),
                    "-j",
                    KUBE_MARK_MASQ,
                ]),
                dnat,
            ],
        });
    }
    ServiceRules { dispatch, chains }
}

/// The last rule of nat `KUBE-SERVICES`: locally addressed traffic goes to the node ports.
pub fn nodeports_rule() -> Args {
    tokens(&[
        "-m",
        "comment",
        "--comment",
        "kubernetes service nodeports; NOTE: this must be the last rule in this chain",
        "-m",
        "addrtype",
        "--dst-type",
        "LOCAL",
        "-j",
        KUBE_NODEPORTS,
    ])
}

/// Builds one dispatch chain from every service port's rule in it, in the
/// order given (the desired state's order, by service port name).
pub fn dispatch_chain<'a>(
    chain: Dispatch,
    services: impl IntoIterator<Item = &'a ServiceRules>,
) -> OwnedChain {
    let mut rules: Vec<Args> = services
        .into_iter()
        .filter_map(|s| s.dispatch_rule(chain).cloned())
        .collect();
    if chain == Dispatch::NatServices {
        rules.push(nodeports_rule());
    }
    OwnedChain {
        name: chain.chain().to_string(),
        rules,
    }
}

/// The fixed nat chains: `KUBE-POSTROUTING`, `KUBE-MARK-MASQ`, `KUBE-PROXY-CANARY`.
pub fn static_nat_chains(cfg: &ProxyConfig) -> Vec<OwnedChain> {
    let mark = cfg.mark();
    let masked = format!("{mark}/{mark}");
    let mut masq = tokens(&[
        "-m",
        "comment",
        "--comment",
        "kubernetes service traffic requiring SNAT",
        "-j",
        "MASQUERADE",
    ]);
    if cfg.random_fully {
        masq.push("--random-fully".to_string());
    }
    vec![
        OwnedChain {
            name: KUBE_POSTROUTING.to_string(),
            rules: vec![
                tokens(&["-m", "mark", "!", "--mark", &masked, "-j", "RETURN"]),
                tokens(&["-j", "MARK", "--xor-mark", &mark]),
                masq,
            ],
        },
        OwnedChain {
            name: KUBE_MARK_MASQ.to_string(),
            rules: vec![tokens(&["-j", "MARK", "--or-mark", &mark])],
        },
        OwnedChain {
            name: KUBE_PROXY_CANARY.to_string(),
            rules: vec![],
        },
    ]
}

/// The fixed filter chains: `KUBE-FORWARD`, `KUBE-PROXY-CANARY`.
pub fn static_filter_chains(cfg: &ProxyConfig) -> Vec<OwnedChain> {
    let mark = cfg.mark();
    let masked = format!("{mark}/{mark}");
    vec![
        OwnedChain {
            name: KUBE_FORWARD.to_string(),
            rules: vec![
                tokens(&[
                    "-m",
                    "comment",
                    "--comment",
                    "kubernetes forwarding rules",
                    "-m",
                    "mark",
                    "--mark",
                    &masked,
                    "-j",
                    "ACCEPT",
                ]),
                tokens(&[
                    "-m",
                    "comment",
                    "--comment",
                    "kubernetes forwarding conntrack rule",
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                    "-j",
                    "ACCEPT",
                ]),
            ],
        },
        OwnedChain {
            name: KUBE_PROXY_CANARY.to_string(),
            rules: vec![],
        },
    ]
}

/// `-m comment --comment <text>`: every rule of ours starts with it.
fn comment_match(text: &str) -> Args {
    tokens(&["-m", "comment", "--comment", text])
}

/// `-m <proto> -p <proto> [-d <dst>] --dport <port>`, in kube-proxy's argument order.
fn port_match(proto: &str, dst: Option<&str>, port: &str) -> Args {
    let mut args = tokens(&["-m", proto, "-p", proto]);
    if let Some(dst) = dst {
        args.extend(tokens(&["-d", dst]));
    }
    args.extend(tokens(&["--dport", port]));
    args
}

fn concat<const N: usize>(parts: [Args; N]) -> Args {
    parts.concat()
}

fn jump(chain: &str, new_only: bool, comment: &str, target: &str) -> Rule {
    let mut args = Vec::new();
    if new_only {
        args.extend(tokens(&["-m", "conntrack", "--ctstate", "NEW"]));
    }
    args.extend(tokens(&[
        "-m",
        "comment",
        "--comment",
        comment,
        "-j",
        target,
    ]));
    Rule {
        chain: chain.to_string(),
        args,
    }
}

/// Jumps from nat built-in chains, in the order they end up in each chain.
pub fn nat_jumps() -> Vec<Rule> {
    vec![
        jump(
            "PREROUTING",
            false,
            "kubernetes service portals",
            KUBE_SERVICES,
        ),
        jump("OUTPUT", false, "kubernetes service portals", KUBE_SERVICES),
        jump(
            "POSTROUTING",
            false,
            "kubernetes postrouting rules",
            KUBE_POSTROUTING,
        ),
    ]
}

/// Jumps from filter built-in chains, in the order they end up in each chain.
pub fn filter_jumps() -> Vec<Rule> {
    let external = "kubernetes externally-visible service portals";
    vec![
        jump("INPUT", true, external, KUBE_EXTERNAL_SERVICES),
        jump(
            "FORWARD",
            false,
            "kubernetes forwarding rules",
            KUBE_FORWARD,
        ),
        jump("FORWARD", true, "kubernetes service portals", KUBE_SERVICES),
        jump("FORWARD", true, external, KUBE_EXTERNAL_SERVICES),
        jump("OUTPUT", true, "kubernetes service portals", KUBE_SERVICES),
    ]
}

/// The desired nat and filter tables for `services` (already built rules,
/// in service port name order).
pub fn assemble<'a>(
    services: impl IntoIterator<Item = &'a ServiceRules> + Clone,
    cfg: &ProxyConfig,
) -> (TableRules, TableRules) {
    let mut nat_chains = vec![
        dispatch_chain(Dispatch::NatServices, services.clone()),
        dispatch_chain(Dispatch::NatNodePorts, services.clone()),
    ];
    nat_chains.extend(static_nat_chains(cfg));
    let mut filter_chains = vec![
        dispatch_chain(Dispatch::FilterServices, services.clone()),
        dispatch_chain(Dispatch::FilterExternal, services.clone()),
    ];
    filter_chains.extend(static_filter_chains(cfg));
    for s in services {
        nat_chains.extend(s.chains.iter().cloned());
    }
    (
        TableRules {
            table: Table::Nat,
            chains: nat_chains,
            jumps: nat_jumps(),
        },
        TableRules {
            table: Table::Filter,
            chains: filter_chains,
            jumps: filter_jumps(),
        },
    )
}

/// The desired nat and filter tables for a whole state.
pub fn desired_tables(state: &ProxyState, cfg: &ProxyConfig) -> (TableRules, TableRules) {
    let rules: Vec<ServiceRules> = state
        .services
        .values()
        .map(|sp| service_rules(sp, cfg))
        .collect();
    assemble(&rules, cfg)
}

#[cfg(test)]
mod tests;
