//! A transport that runs commands with the local `sh`: module logic tests without a network,
//! and `ansible_connection: local` hosts.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::{BoxFuture, Output, Transport, TransportError};

/// Runs commands on the controller, the machine lvslab runs on.
pub(crate) struct Local;

impl Transport for Local {
    fn exec<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let mut child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(if stdin.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| TransportError(format!("cannot run sh: {e}")))?;
            if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
                // An early exit is reported by the status, not as a transport failure.
                let _ = w.write_all(data).await;
                drop(w);
            }
            let out = child
                .wait_with_output()
                .await
                .map_err(|e| TransportError(format!("waiting for sh: {e}")))?;
            Ok(Output {
                status: out.status.code(),
                stdout: out.stdout,
                stderr: out.stderr,
            })
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
