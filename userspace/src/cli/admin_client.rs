//! The CLI's end of the admin socket: one request to a running daemon, one answer.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::UnixStream,
};

use crate::daemon::admin::{Request, Response};

/// Longest wait for an answer: a reload may wait for the new health checks' first results.
const ANSWER_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot reach the daemon at {}: {source} (is `switchyard run` up with this instance?)", path.display())]
    Unreachable { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the daemon closed the admin socket")]
    Closed,
    #[error("unreadable answer from the daemon: {0}")]
    Unreadable(serde_json::Error),
    #[error("the daemon did not answer in {} s; see its log", ANSWER_WAIT.as_secs())]
    Timeout,
}

/// Sends one request to a running daemon.
pub async fn request(path: &Path, request: &Request) -> Result<Response, AdminError> {
    let talk = async {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| AdminError::Unreachable { path: path.to_path_buf(), source })?;
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_vec(request).expect("serialisable");
        line.push(b'\n');
        write.write_all(&line).await?;
        let answer = BufReader::new(read).lines().next_line().await?.ok_or(AdminError::Closed)?;
        serde_json::from_str(&answer).map_err(AdminError::Unreadable)
    };
    tokio::time::timeout(ANSWER_WAIT, talk).await.map_err(|_| AdminError::Timeout)?
}
