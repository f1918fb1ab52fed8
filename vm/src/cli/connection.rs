//! The JSON-RPC client a command talks through, and how its failures read.

use kvvm_rpc::client::{ClientError, HttpClient};

use super::{CliError, Connection};

/// A client together with the URL it calls, so every error can name that URL.
pub struct Rpc {
    pub client: HttpClient,
    url: String,
}

impl Rpc {
    pub fn connect(conn: &Connection) -> Result<Self, CliError> {
        let client = kvvm_rpc::http_client(&conn.rpc).map_err(|e| CliError::Rpc {
            url: conn.rpc.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            client,
            url: conn.rpc.clone(),
        })
    }

    /// Turns a failed call into an error naming the URL, with a hint when nothing answered.
    pub fn fail(&self) -> impl Fn(ClientError) -> CliError + '_ {
        move |e| CliError::Rpc {
            url: self.url.clone(),
            reason: match &e {
                ClientError::Transport(t) => {
                    format!("{t} (is the node running and the URL right?)")
                }
                _ => e.to_string(),
            },
        }
    }
}
