//! Database sync inside the daemon: the batch endpoint on `[sync] listen` and one shipping
//! loop per peer, for as long as the daemon runs.

use std::time::Duration;

use anyhow::Context;
use tokio::{sync::oneshot, task::JoinHandle};

use super::{ShippingHandle, SyncConfig, SyncNode};

/// How long an in-flight batch may take to finish at shutdown. A batch cut short is rolled
/// back whole (it is applied in one transaction with its acknowledgement) and sent again.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(100);

pub struct SyncService {
    node: SyncNode,
    shipping: ShippingHandle,
    server: JoinHandle<std::io::Result<()>>,
    shutdown: oneshot::Sender<()>,
}

impl SyncService {
    /// Opens the database (installing capture, refusing unusable tables), serves the endpoint
    /// on `listener` and starts shipping.
    pub async fn start(config: SyncConfig, listener: std::net::TcpListener) -> anyhow::Result<SyncService> {
        let database = config.db_path.display().to_string();
        let node = tokio::task::spawn_blocking(move || SyncNode::open(config))
            .await
            .context("opening the sync database")?
            .with_context(|| format!("sync database {database}"))?;
        let listener = tokio::net::TcpListener::from_std(listener).context("the sync endpoint's socket")?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let endpoint = node.clone();
        let server = tokio::spawn(async move {
            endpoint
                .serve_until(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        let shipping = node.start();
        Ok(SyncService { node, shipping, server, shutdown })
    }

    /// For status requests; cheap to clone.
    pub fn node(&self) -> SyncNode {
        self.node.clone()
    }

    /// Stops shipping, lets requests being applied finish, closes the endpoint.
    pub async fn stop(self) {
        drop(self.shipping);
        let _ = self.shutdown.send(());
        let mut server = self.server;
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut server).await.is_err() {
            server.abort();
        }
    }
}
