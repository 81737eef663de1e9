//! HTTP routes: the WebSocket endpoints, health check and the built frontend.

use std::{path::Path, sync::Arc};

use actix_files::{Files, NamedFile};
use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    dev::{ServiceRequest, ServiceResponse, fn_service},
    http::{StatusCode, header::ContentType},
    web,
};
use shared::paths;
use tokio_util::sync::CancellationToken;

use crate::{Config, echo};

/// What every handler may read; immutable, shared by all workers.
#[derive(Clone)]
pub struct AppState {
    /// The server's configuration.
    pub config: Arc<Config>,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
}

/// Registers every route on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    let static_dir = state.config.static_dir.clone();
    cfg.app_data(web::Data::new(state))
        .route(paths::HEALTHZ, web::get().to(healthz))
        .route(paths::WS_ECHO, web::get().to(ws_echo));
    configure_static(cfg, &static_dir);
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body("ok\n")
}

async fn ws_echo(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    if state.shutdown.is_cancelled() {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "server is shutting down\n".into(),
        );
    }
    match actix_ws::handle(&req, body) {
        Ok((response, session, stream)) => {
            // Sessions run on the worker's local runtime: actix-ws's stream is not `Send`.
            actix_web::rt::spawn(echo::run(
                session,
                stream,
                Arc::clone(&state.config),
                state.shutdown.clone(),
            ));
            response
        }
        // actix answers a bad handshake with a bare status; say what was wrong.
        Err(err) => plain(
            err.error_response().status(),
            format!("{} expects a WebSocket upgrade: {err}\n", paths::WS_ECHO),
        ),
    }
}

fn plain(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::plaintext())
        .body(body)
}

/// Serves `trunk build` output at `/`, with `index.html` for any unknown path so the browser
/// app can own its URLs. Without a build, `/` explains how to make one instead of a bare 404.
fn configure_static(cfg: &mut web::ServiceConfig, static_dir: &Path) {
    let index = static_dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            dir = %static_dir.display(),
            "no built frontend (index.html missing); run `cargo xtask serve` or `trunk build`"
        );
        let message = format!(
            "The frontend is not built: {} has no index.html.\n\
             Run `cargo xtask serve`, or `trunk build` and restart with --static-dir.\n",
            static_dir.display()
        );
        cfg.default_service(web::to(move || {
            let message = message.clone();
            async move { plain(StatusCode::NOT_FOUND, message) }
        }));
        return;
    }
    cfg.service(
        Files::new("/", static_dir)
            .index_file("index.html")
            .default_handler(fn_service(move |req: ServiceRequest| {
                let index = index.clone();
                async move {
                    let (req, _) = req.into_parts();
                    let response = match NamedFile::open_async(&index).await {
                        Ok(file) => file.into_response(&req),
                        Err(err) => err.error_response(),
                    };
                    Ok::<_, actix_web::Error>(ServiceResponse::new(req, response))
                }
            })),
    );
}
