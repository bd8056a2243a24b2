//! Printers of coordination.k8s.io leases, discovery.k8s.io endpointslices,
//! scheduling.k8s.io priorityclasses and rbac role bindings (roles and
//! cluster roles have no printer upstream: Name, Created At).

use super::{
    age, arr_at, bool_at, int0, int_at, list_with_more, str_at, CellsFn, Col, Ctx, Printer,
    AGE_DESC, NAME_DESC,
};
use crate::ResourceInfo;
use serde_json::{json, Value};

pub(super) fn printer(res: &ResourceInfo) -> Option<Printer> {
    let (columns, cells): (&'static [Col], CellsFn) = match (res.group, res.plural) {
        ("coordination.k8s.io", "leases") => (LEASE_COLUMNS, lease_cells),
        ("discovery.k8s.io", "endpointslices") => (SLICE_COLUMNS, slice_cells),
        ("scheduling.k8s.io", "priorityclasses") => (PRIORITY_COLUMNS, priority_cells),
        ("rbac.authorization.k8s.io", "rolebindings") => (RB_COLUMNS, binding_cells),
        ("rbac.authorization.k8s.io", "clusterrolebindings") => (CRB_COLUMNS, binding_cells),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

const LEASE_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
        0,
    ),
    Col("Age", "string", AGE_DESC, 0),
];

fn lease_cells(l: &Value, ctx: &Ctx) -> Vec<Value> {
    vec![
        json!(crate::meta::name(l)),
        json!(str_at(l, "/spec/holderIdentity")),
        json!(age(l, ctx.now)),
    ]
}

const SLICE_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice.",
        0,
    ),
    Col(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
        0,
    ),
    Col(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice.",
        0,
    ),
    Col("Age", "string", AGE_DESC, 0),
];

const MAX_LISTED: usize = 3;

fn slice_cells(s: &Value, ctx: &Ctx) -> Vec<Value> {
    let ports = arr_at(s, "/ports");
    let port_list: Vec<String> = ports
        .iter()
        .take(MAX_LISTED)
        .map(|p| match int_at(p, "/port") {
            Some(n) => n.to_string(),
            None => match p.get("name").and_then(Value::as_str) {
                Some(name) => name.to_string(),
                None => "*".into(),
            },
        })
        .collect();
    let ports = list_with_more(
        &port_list,
        ports.len() > MAX_LISTED,
        ports.len(),
        MAX_LISTED,
    );
    let addresses: Vec<&Value> = arr_at(s, "/endpoints")
        .iter()
        .flat_map(|e| arr_at(e, "/addresses"))
        .collect();
    let addr_list: Vec<String> = addresses
        .iter()
        .take(MAX_LISTED)
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    let endpoints = list_with_more(
        &addr_list,
        addresses.len() > MAX_LISTED,
        addresses.len(),
        MAX_LISTED,
    );
    vec![
        json!(crate::meta::name(s)),
        json!(str_at(s, "/addressType")),
        json!(ports),
        json!(endpoints),
        json!(age(s, ctx.now)),
    ]
}

const PRIORITY_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Value", "integer", "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.", 0),
    Col("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with lower priority.", 1),
];

fn priority_cells(pc: &Value, ctx: &Ctx) -> Vec<Value> {
    vec![
        json!(crate::meta::name(pc)),
        json!(int0(pc, "/value")),
        json!(bool_at(pc, "/globalDefault").unwrap_or(false)),
        json!(age(pc, ctx.now)),
        json!(str_at(pc, "/preemptionPolicy")),
    ]
}

const RB_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("Users", "string", "Users in the roleBinding", 1),
    Col("Groups", "string", "Groups in the roleBinding", 1),
    Col("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", 1),
];

const CRB_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col(
        "Role",
        "string",
        "RoleRef can only reference a ClusterRole in the global namespace.",
        0,
    ),
    Col("Age", "string", AGE_DESC, 0),
    Col("Users", "string", "Users in the clusterRoleBinding", 1),
    Col("Groups", "string", "Groups in the clusterRoleBinding", 1),
    Col(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
        1,
    ),
];

fn binding_cells(b: &Value, ctx: &Ctx) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in arr_at(b, "/subjects") {
        let name = str_at(s, "/name");
        match str_at(s, "/kind") {
            "ServiceAccount" => sas.push(format!("{}/{name}", str_at(s, "/namespace"))),
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            _ => {}
        }
    }
    vec![
        json!(crate::meta::name(b)),
        json!(format!(
            "{}/{}",
            str_at(b, "/roleRef/kind"),
            str_at(b, "/roleRef/name")
        )),
        json!(age(b, ctx.now)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}
