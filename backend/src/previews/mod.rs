//! Link previews (`--link-previews`, off by default): the node that accepted a room message
//! (or an edit of one) fetches the text's first `http(s)` link, reads what the page says of
//! itself, copies its image into the room's uploads, and hands the [`LinkPreview`] back to
//! the hub, which appends it to the room's log as [`shared::Change::Previewed`] through the
//! engine, like an edit: live readers get `changed`, catch-up and history carry it.
//!
//! Off the request path and bounded: the hub queues a [`Job`] with `try_send` (never waits;
//! a full queue drops the job, counted), and at most [`CONCURRENT`] fetches run at a time.
//! One job per stored message or edit. Failures are counted and logged at debug level,
//! never told to anyone: a preview is a courtesy.
//!
//! # Layout
//! - `guard.rs`: which addresses and ports may be fetched (the request-forgery defence).
//! - `fetch.rs`: one guarded GET (resolve, check, connect to the checked addresses, manual
//!   redirects, caps).
//! - `html.rs`: the head scan (OpenGraph, title, description) and the text clean-up.
//! - this file: the queue, the workers, and what a job makes.

pub mod fetch;
pub mod guard;
pub mod html;

use std::{sync::Arc, time::Duration};

use shared::{ClientMsgId, LinkPreview, MessageId, Nick, RoomName};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use self::fetch::{FetchError, Rules};
use crate::{
    Config,
    uploads::store::{Kind, Upload, Uploads},
};

/// Jobs waiting for a worker; more are dropped (a flood of links costs nothing more).
const QUEUE: usize = 64;
/// Fetches at a time.
const CONCURRENT: usize = 4;
/// HTML read from a page: the head is at its start.
const MAX_HTML_BYTES: usize = 512 * 1024;
/// Time for a page, redirects included; the image gets as long again.
const PAGE_TIME: Duration = Duration::from_secs(5);

/// A preview to make: of `url`, for message `target` of `room`, written by `author` (a user
/// key, `from` their nickname): the preview is theirs, charged to their upload quota.
#[derive(Debug, Clone)]
pub struct Job {
    /// The room.
    pub room: RoomName,
    /// The message.
    pub target: MessageId,
    /// Its text's first link.
    pub url: String,
    /// Its author's user key.
    pub author: String,
    /// Its author's nickname.
    pub from: Nick,
    /// The change's `client_id` (`_preview-` and the id of the entry that asked for it): a
    /// repeat is stored once.
    pub client_id: ClientMsgId,
}

/// A preview made.
#[derive(Debug)]
pub struct Done {
    /// What it was for.
    pub job: Job,
    /// The preview.
    pub preview: LinkPreview,
}

/// The hub's end: where jobs go (previews come back on the receiver [`Previewer::start`]
/// returns with it).
pub struct Previewer {
    jobs: mpsc::Sender<Job>,
    outcomes: prometheus::IntCounterVec,
}

impl Previewer {
    /// Starts the workers, if `--link-previews` is on.
    pub fn start(
        config: &Config,
        uploads: Arc<Uploads>,
        metrics: &crate::metrics::Metrics,
        shutdown: CancellationToken,
    ) -> Option<(Self, mpsc::Receiver<Done>)> {
        if !config.link_previews {
            return None;
        }
        if let Some(port) = config.link_previews_allow_loopback {
            tracing::warn!(
                port,
                "--link-previews-allow-loopback is on: previews may fetch this server's own \
                 loopback services on that port. Tests only; never in production."
            );
        }
        let (jobs, queue) = mpsc::channel(QUEUE);
        let (done_tx, done) = mpsc::channel(QUEUE + CONCURRENT);
        let worker = Worker {
            config: Arc::new(config.clone()),
            uploads,
            done: done_tx,
            outcomes: metrics.link_previews.clone(),
        };
        tokio::spawn(worker.run(queue, shutdown));
        let previewer = Self {
            jobs,
            outcomes: metrics.link_previews.clone(),
        };
        Some((previewer, done))
    }

    /// Queues `job` without waiting; a full queue drops it.
    pub fn ask(&self, job: Job) {
        if self.jobs.try_send(job).is_err() {
            self.outcomes.with_label_values(&["dropped"]).inc();
        }
    }
}

/// The workers' shared part.
#[derive(Clone)]
struct Worker {
    config: Arc<Config>,
    uploads: Arc<Uploads>,
    done: mpsc::Sender<Done>,
    outcomes: prometheus::IntCounterVec,
}

impl Worker {
    /// Takes jobs until shutdown (or the hub is gone), [`CONCURRENT`] at a time.
    async fn run(self, mut queue: mpsc::Receiver<Job>, shutdown: CancellationToken) {
        let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
        loop {
            let job = tokio::select! {
                () = shutdown.cancelled() => break,
                job = queue.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let worker = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = worker.work(job) => {}
                }
                drop(slot);
            });
        }
    }

    async fn work(&self, job: Job) {
        let outcome = match self.make(&job).await {
            Ok(preview) => {
                // The hub may be gone (shutdown); nothing to do then.
                let _ = self.done.send(Done { job, preview }).await;
                "made"
            }
            Err(Unmade::Fetch(err)) => {
                tracing::debug!(url = %job.url, error = %err, "no link preview");
                err.outcome()
            }
            Err(Unmade::Nothing) => "nothing_found",
        };
        self.outcomes.with_label_values(&[outcome]).inc();
    }

    /// The preview of `job.url`, its image stored for the room.
    async fn make(&self, job: &Job) -> Result<LinkPreview, Unmade> {
        let allow_loopback_port = self.config.link_previews_allow_loopback;
        let page = fetch::get(
            &job.url,
            "text/html,application/xhtml+xml",
            Rules {
                cap: MAX_HTML_BYTES,
                cut: true,
                allow_loopback_port,
            },
            Instant::now() + PAGE_TIME,
        )
        .await?;
        let mime = page
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if !matches!(mime, "text/html" | "application/xhtml+xml") {
            return Err(Unmade::Nothing);
        }
        // UTF-8 only: a page in another encoding (EUC-KR, Shift_JIS…) gets no preview rather
        // than a garbled one. (A body cut at the cap may end inside a character: up to it.)
        let text = match std::str::from_utf8(&page.body) {
            Ok(text) => text,
            Err(cut) if cut.error_len().is_none() => {
                std::str::from_utf8(&page.body[..cut.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => return Err(Unmade::Nothing),
        };
        let head = html::read_head(text);
        let title = html::clean(
            head.title.as_deref().unwrap_or_default(),
            LinkPreview::MAX_TITLE_CHARS,
        );
        let description = html::clean(
            head.description.as_deref().unwrap_or_default(),
            LinkPreview::MAX_DESCRIPTION_CHARS,
        );
        // The title is the card's link text: without one there is no card.
        if title.is_empty() {
            return Err(Unmade::Nothing);
        }
        let image = match head.image.and_then(|src| page.url.join(src.trim()).ok()) {
            Some(src) => self.image(job, src.as_str(), allow_loopback_port).await,
            None => None,
        };
        Ok(LinkPreview {
            url: job.url.clone(),
            title,
            description,
            image,
        })
    }

    /// The page's image, fetched with the same defences, checked to be one of the four image
    /// types and stored in the room's uploads (charged to the author); `None` if any of that
    /// fails (the preview goes without).
    async fn image(
        &self,
        job: &Job,
        src: &str,
        allow_loopback_port: Option<u16>,
    ) -> Option<shared::Image> {
        let rules = Rules {
            cap: self.config.max_upload_bytes,
            cut: false,
            allow_loopback_port,
        };
        let fetched = fetch::get(src, "image/*", rules, Instant::now() + PAGE_TIME).await;
        let bytes = match fetched {
            Ok(fetched) => fetched.body,
            Err(err) => {
                tracing::debug!(src, error = %err, "no image for a link preview");
                let outcome = format!("image_{}", err.outcome());
                self.outcomes.with_label_values(&[outcome.as_str()]).inc();
                return None;
            }
        };
        // The type comes from the bytes; what the site declared proves nothing.
        // Only one of the four image types is shown: anything else (a file) is dropped.
        let kind = match crate::uploads::store::sniff(&bytes, None) {
            Ok(kind @ Kind::Image(..)) => kind,
            Ok(Kind::File(_)) | Err(_) => {
                tracing::debug!(src, "a link preview's image is not one");
                self.outcomes
                    .with_label_values(&["image_not_an_image"])
                    .inc();
                return None;
            }
        };
        let upload = (bytes.as_slice(), kind, String::new());
        match self
            .uploads
            .store(&job.author, &job.room, upload, &self.config)
            .await
        {
            Ok(Ok(Upload::Image(image))) => Some(image),
            // (Stored as what it was sniffed as: an image.)
            Ok(Ok(Upload::File(_))) => None,
            Ok(Err(refused)) => {
                tracing::debug!(error = %refused, "a link preview's image was not stored");
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "storing a link preview's image failed");
                None
            }
        }
    }
}

/// Why a job made no preview.
enum Unmade {
    Fetch(FetchError),
    /// Not HTML, or no title.
    Nothing,
}

impl From<FetchError> for Unmade {
    fn from(err: FetchError) -> Self {
        Self::Fetch(err)
    }
}
