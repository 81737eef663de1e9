//! The admin console's HTTP API (`/api/admin/*`, answers in [`shared::admin`]): for server
//! admins (`--admin`) alone, named as on every other endpoint (the session cookie in accounts
//! mode, `Authorization: Bearer` in jwt mode). Nobody else learns more than 401 or 403.
//!
//! # Layout
//! - [`configure`]: the routes.
//! - `admin`: who asks, and the refusal unless it is a server admin.
//! - one handler per endpoint: `log` (the kept moderation log, a page at a time), `stats`
//!   (the live numbers the console draws), `ban` (a server-wide ban, or its end) and
//!   `import` (a ZIP spooled to a temporary file, then [`crate::transfer::import`]).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;
use shared::{
    Nick,
    admin::{Ban, LOG_PAGE},
    paths,
};

use crate::{
    Config,
    auth::http::refusal,
    policy::{LogError, Refusal},
    state::AppState,
};

/// Registers the admin API (cross-origin for the origins `--allowed-origin` names, as the
/// account API).
pub fn configure(cfg: &mut web::ServiceConfig, config: &Arc<Config>) {
    let resource = |path| web::resource(path).wrap(crate::auth::http::cors(config));
    cfg.service(resource(paths::API_ADMIN_LOG).route(web::get().to(log)))
        .service(resource(paths::API_ADMIN_STATS).route(web::get().to(stats)))
        .service(resource(paths::API_ADMIN_BAN).route(web::post().to(ban)))
        .service(resource(paths::API_ADMIN_IMPORT).route(web::post().to(import)));
}

/// The asker's name if they are a server admin (as `--admin` names them); else the refusal:
/// 401 unnamed (open mode's pages name nobody here), 403 not an admin, 503 when the
/// accounts cannot be read.
async fn admin(req: &HttpRequest, state: &AppState) -> Result<Nick, HttpResponse> {
    if let Some(refused) = crate::auth::http::foreign_origin(req, state) {
        return Err(refused);
    }
    let user = match state.auth.http_user(req).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                "log in as a server admin first",
            ));
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot tell who asks for the admin console");
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot check who you are right now; try again shortly",
            ));
        }
    };
    let config = &state.config;
    let name = config
        .admins
        .iter()
        .find(|name| crate::auth::admin_key(config.auth, name).as_deref() == Some(user.as_str()));
    match name {
        // (A JWT `sub` that is no nickname is still an admin; its acts are logged as such.)
        Some(name) => Ok(Nick::try_from(name.as_str())
            .unwrap_or_else(|_| Nick::try_from("admin").expect("a valid nickname"))),
        None => Err(refusal(
            StatusCode::FORBIDDEN,
            "only server admins (--admin) may use the admin console",
        )),
    }
}

/// The longest JWT `sub` a ban takes (subjects are ids: UUIDs, `provider|digits`).
const MAX_SUB: usize = 255;

/// `POST` a [`Ban`]: bans the user from the whole server (or lifts it), through the policy
/// store and every node's hub; 204, or 400 (not a name: no account need exist, a ban may
/// come first), 403 (an admin), 503.
async fn ban(req: HttpRequest, state: web::Data<AppState>, body: web::Json<Ban>) -> HttpResponse {
    let by = match admin(&req, &state).await {
        Ok(by) => by,
        Err(refused) => return refused,
    };
    let Ban { user, banned } = body.into_inner();
    // Named as an account (in NFC, as accounts are) or a JWT `sub` (as it is: any string);
    // keyed as the hub keys them.
    let name = match state.config.auth {
        shared::auth::AuthMode::Jwt if !user.is_empty() && user.len() <= MAX_SUB => user,
        shared::auth::AuthMode::Jwt => {
            return refusal(StatusCode::BAD_REQUEST, "not a JWT subject");
        }
        _ => match Nick::try_from(user.as_str()) {
            Ok(nick) => crate::names::normalized(&nick).to_string(),
            Err(err) => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    format!("not an account name: {err}"),
                );
            }
        },
    };
    let Some(key) = crate::auth::admin_key(state.config.auth, &name) else {
        return refusal(StatusCode::FORBIDDEN, "open mode has no server-wide bans");
    };
    let admins = crate::auth::admin_keys(&state.config);
    match state
        .hub
        .ban_from_server(&by, &key, &name, banned, &admins)
        .await
    {
        Ok(()) => {
            tracing::info!(%by, user = %name, banned, "server-wide ban changed");
            HttpResponse::NoContent().finish()
        }
        Err(Refusal::Forbidden(message)) => refusal(StatusCode::FORBIDDEN, message),
        Err(err) => {
            tracing::error!(error = %err, "cannot change a server-wide ban");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the ban cannot be stored right now; try again shortly",
            )
        }
    }
}

/// `?before=NEXT`.
#[derive(Deserialize)]
struct LogQuery {
    before: Option<String>,
}

async fn log(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LogQuery>,
) -> HttpResponse {
    if let Err(refused) = admin(&req, &state).await {
        return refused;
    }
    match state
        .hub
        .moderation_log(query.before.as_deref(), LOG_PAGE)
        .await
    {
        Ok(page) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(page),
        Err(err @ LogError::Position(_)) => refusal(StatusCode::BAD_REQUEST, err.to_string()),
        Err(LogError::Store(err)) => {
            tracing::error!(error = %err, "cannot read the moderation log");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the moderation log cannot be read right now; try again shortly",
            )
        }
    }
}

async fn stats(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = admin(&req, &state).await {
        return refused;
    }
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(state.metrics.admin_stats())
}

/// `?source=LABEL`: keeps the ledgers of sources of the same kind apart.
#[derive(Deserialize)]
struct ImportQuery {
    source: Option<String>,
}

/// `POST` a ZIP: imports it (see [`crate::transfer::import`]); 200 with the summary, 400
/// (not a ZIP we read, a newer format), 408 (the body stalled), 409 (an import runs), 413
/// (over `--max-import-bytes`), 503.
async fn import(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ImportQuery>,
    mut payload: web::Payload,
) -> HttpResponse {
    if let Err(refused) = admin(&req, &state).await {
        return crate::body::closing(refused, payload);
    }
    let spooled = match spool(&mut payload, &state.config).await {
        Ok(spooled) => spooled,
        Err(refused) => return crate::body::closing(refused, payload),
    };
    let to = crate::transfer::import::Destination {
        hub: &state.hub,
        uploads: &state.uploads,
        config: &state.config,
        imports: &state.imports,
    };
    let done = crate::transfer::import::import(&to, spooled.path(), query.source.as_deref()).await;
    use crate::transfer::{ReadError, import::ImportError};
    match done {
        Ok(summary) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(summary),
        Err(ImportError::Read(ReadError::Io(err))) => {
            tracing::error!(error = %err, "cannot read a spooled import");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the import cannot be read right now; try again",
            )
        }
        Err(err @ (ImportError::Read(_) | ImportError::Label)) => {
            refusal(StatusCode::BAD_REQUEST, err.to_string())
        }
        Err(err @ ImportError::Busy) => refusal(StatusCode::CONFLICT, err.to_string()),
        Err(ImportError::Unavailable(reason)) => {
            tracing::error!(%reason, "an import stopped");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the import stopped ({reason}); what was stored stays, and importing the same file again goes on"
                ),
            )
        }
    }
}

/// The request body, written to a temporary file in `--data-dir` (removed when dropped):
/// at most `--max-import-bytes`, each piece within `--body-timeout` of the last.
async fn spool(
    payload: &mut web::Payload,
    config: &Config,
) -> Result<tempfile::NamedTempFile, HttpResponse> {
    use futures_util::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    let unavailable = |err: std::io::Error| {
        tracing::error!(error = %err, "cannot spool an import");
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the import cannot be stored for reading (is --data-dir full?)",
        )
    };
    std::fs::create_dir_all(&config.data_dir).map_err(unavailable)?;
    let spooled = tempfile::Builder::new()
        .prefix(".import-")
        .tempfile_in(&config.data_dir)
        .map_err(unavailable)?;
    let mut file = tokio::fs::File::from_std(spooled.reopen().map_err(unavailable)?);
    let mut length = 0u64;
    loop {
        let chunk = match tokio::time::timeout(config.body_timeout, payload.next()).await {
            Err(_) => {
                return Err(refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "the import stalled (longer than --body-timeout)",
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(refusal(StatusCode::BAD_REQUEST, "the import was cut off"));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        length += chunk.len() as u64;
        if length > config.max_import_bytes {
            return Err(refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the import is larger than --max-import-bytes ({})",
                    config.max_import_bytes
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(unavailable)?;
    }
    file.flush().await.map_err(unavailable)?;
    file.sync_all().await.map_err(unavailable)?;
    Ok(spooled)
}
