//! The sweep of the uploads directory, every `--retention-interval`: it measures the bytes the
//! objects take, which the ledger counts from ([`super::quota`]).

use std::{path::Path, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{Uploads, quota::LedgerError};

/// Why a sweep stopped early (the next one tries again).
#[derive(Debug, thiserror::Error)]
pub(super) enum SweepError {
    #[error("the uploads directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Sweeps every `interval` (the first at once, which measures the total for the ledger)
/// until `shutdown`; a failed sweep is logged and the next one tries again.
pub(super) async fn run(uploads: Arc<Uploads>, interval: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(err) = sweep(&uploads).await {
            tracing::error!(error = %err, "sweeping the uploads failed; retrying later");
        }
    }
}

/// The bytes of the files of `dir` (none if it does not exist), temporary ones left out.
async fn bytes(dir: &Path) -> std::io::Result<u64> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    let mut total = 0;
    while let Some(entry) = entries.next_entry().await? {
        let Ok(metadata) = entry.metadata().await else {
            continue; // Removed meanwhile.
        };
        if metadata.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
            total += metadata.len();
        }
    }
    Ok(total)
}

/// One sweep of `uploads`' directory: tells the ledger the bytes the objects take.
async fn sweep(uploads: &Uploads) -> Result<(), SweepError> {
    let added_at_start = uploads.ledger.added().await?;
    let total = bytes(&uploads.dir.join("objects")).await?;
    uploads.ledger.measured(total, added_at_start).await?;
    Ok(())
}
