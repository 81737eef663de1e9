//! The admin console's HTTP API (`/api/admin/*`, answers in [`shared::admin`]): for server
//! admins (`--admin`) alone, named as on every other endpoint (the session cookie in accounts
//! mode, `Authorization: Bearer` in jwt mode). Nobody else learns more than 401 or 403.
//!
//! # Layout
//! - [`configure`]: the routes.
//! - `admin`: who asks, and the refusal unless it is a server admin.
//! - one handler per endpoint: `log` (the kept moderation log, a page at a time), `stats`
//!   (the live numbers the console draws), `ban` (a server-wide ban, or its end) and
//!   `export` (a room, a user's own data or the server as a ZIP, streamed:
//!   [`crate::transfer::export`]).

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
        .service(resource(paths::API_ADMIN_EXPORT).route(web::get().to(export)));
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

/// `?room=ROOM` or `?user=NAME` (neither: the server).
#[derive(Deserialize)]
struct ExportQuery {
    room: Option<String>,
    user: Option<String>,
}

/// `GET` an export: 200 and the ZIP, streamed as it is read (a blocking thread writes it
/// into a bounded channel the body reads: a slow client slows the export, never grows
/// memory); 400 (a bad or double scope), 403 (a group: its members' exports alone hold
/// it), 404 (no such room), 503. An export that fails midway cuts the body off, so that
/// the client sees an error rather than a short ZIP.
async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ExportQuery>,
) -> HttpResponse {
    use crate::transfer::export::{self as exporting, ExportError, Scope};
    let by = match admin(&req, &state).await {
        Ok(by) => by,
        Err(refused) => return refused,
    };
    let ExportQuery { room, user } = query.into_inner();
    let scope = match (room, user) {
        (Some(_), Some(_)) => {
            return refusal(StatusCode::BAD_REQUEST, "export a room or a user, not both");
        }
        (Some(room), None) => match shared::RoomName::try_from(room.as_str()) {
            Ok(room) => Scope::Room(room),
            Err(err) => {
                return refusal(StatusCode::BAD_REQUEST, format!("not a room name: {err}"));
            }
        },
        (None, Some(user)) => match exporting::user_key(state.config.auth, &user) {
            Ok(key) => Scope::User { key },
            Err(reason) => return refusal(StatusCode::BAD_REQUEST, reason),
        },
        (None, None) => Scope::Server,
    };
    let plan = match exporting::plan(&state.hub, &scope).await {
        Ok(plan) => plan,
        Err(err @ ExportError::NoRoom(_)) => {
            return refusal(StatusCode::NOT_FOUND, err.to_string());
        }
        Err(err @ ExportError::Group(_)) => return refusal(StatusCode::FORBIDDEN, err.to_string()),
        Err(err) => {
            tracing::error!(error = %err, "cannot start an export");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the export cannot be read right now; try again shortly",
            );
        }
    };
    let at_ms = crate::engine::now_ms();
    let name = exporting::file_name(&scope, at_ms);
    let runtime = tokio::runtime::Handle::current();
    let (mut writer, body) = crate::transfer::stream::channel(runtime.clone());
    let source = exporting::Source {
        hub: state.hub.clone(),
        runtime,
        uploads: state.config.uploads(),
    };
    let what = match &scope {
        Scope::Server => String::new(),
        Scope::Room(room) => room.to_string(),
        Scope::User { key } => key.clone(),
    };
    tracing::info!(%by, scope = scope.name(), %what, "export started");
    tokio::task::spawn_blocking(move || {
        match exporting::write(&source, &scope, &plan, at_ms, &mut writer) {
            Ok(()) => tracing::info!(scope = scope.name(), "export done"),
            Err(err) if err.abandoned() => {
                tracing::info!(scope = scope.name(), reason = %err, "export abandoned by its client");
            }
            Err(err) => {
                tracing::error!(error = %err, scope = scope.name(), "export failed");
                writer.fail(std::io::Error::other(err.to_string()));
            }
        }
    });
    HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("cache-control", "no-store"))
        .streaming(body)
}
