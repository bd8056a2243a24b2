//! flanneld's subnet file (`/run/flannel/subnet.env`) as the plugin uses it: the format (type,
//! parser, errors) is `flannel_net::subnet_env`, shared with flanneld, which writes the file;
//! here only the CNI error codes of its failures.

use crate::error::{CniError, DECODING_FAILURE, IO_FAILURE, TRY_AGAIN_LATER};

pub use flannel_net::subnet_env::{load, parse, SubnetEnv, SubnetEnvError};

impl From<SubnetEnvError> for CniError {
    fn from(e: SubnetEnvError) -> Self {
        let code = match &e {
            SubnetEnvError::NotFound { .. } => TRY_AGAIN_LATER,
            SubnetEnvError::Io { .. } => IO_FAILURE,
            SubnetEnvError::Missing { .. } | SubnetEnvError::Invalid { .. } => DECODING_FAILURE,
        };
        CniError::new(code, "cannot use the flannel subnet file", e.to_string())
    }
}

#[cfg(test)]
mod tests;
