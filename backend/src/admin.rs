//! The admin console's HTTP API (`/api/admin/*`, answers in [`shared::admin`]): for server
//! admins (`--admin`) alone, named as on every other endpoint (the session cookie in accounts
//! mode, `Authorization: Bearer` in jwt mode). Nobody else learns more than 401 or 403.
//!
//! # Layout
//! - [`configure`]: the routes.
//! - `admin`: who asks, and the refusal unless it is a server admin.
//! - one handler per endpoint: `log` (the kept moderation log, a page at a time), `stats`
//!   (the live numbers the console draws), `ban` (a server-wide ban, or its end), `rooms`
//!   (every room, its rules and how many are in it) and `room` (one room opened: who is in
//!   it, who its rules name), `remove` (a message, as a moderator would) and `close` (a
//!   room, or reopen it).

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
    hub::AdminRefusal,
    policy::{LogError, Person, Refusal},
    state::AppState,
};

/// Registers the admin API (cross-origin for the origins `--allowed-origin` names, as the
/// account API).
pub fn configure(cfg: &mut web::ServiceConfig, config: &Arc<Config>) {
    let resource = |path| web::resource(path).wrap(crate::auth::http::cors(config));
    cfg.service(resource(paths::API_ADMIN_LOG).route(web::get().to(log)))
        .service(resource(paths::API_ADMIN_STATS).route(web::get().to(stats)))
        .service(resource(paths::API_ADMIN_BAN).route(web::post().to(ban)))
        .service(resource(paths::API_ADMIN_ROOMS).route(web::get().to(rooms)))
        .service(resource(paths::API_ADMIN_ROOM).route(web::get().to(room)))
        .service(resource(paths::API_ADMIN_REMOVE).route(web::post().to(remove)))
        .service(resource(paths::API_ADMIN_CLOSE).route(web::post().to(close)));
}

/// The asker if they are a server admin (named as `--admin` names them, keyed as the hub
/// keys users); else the refusal: 401 unnamed (open mode's pages name nobody here), 403 not
/// an admin, 503 when the accounts cannot be read.
async fn admin(req: &HttpRequest, state: &AppState) -> Result<Person, HttpResponse> {
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
        Some(name) => Ok(Person {
            nick: Nick::try_from(name.as_str())
                .unwrap_or_else(|_| Nick::try_from("admin").expect("a valid nickname")),
            key: user.to_string(),
            admin: true,
        }),
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
        Ok(by) => by.nick,
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

async fn rooms(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = admin(&req, &state).await {
        return refused;
    }
    match state.hub.admin_rooms().await {
        Ok(rooms) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(rooms),
        Err(err) => refused_by_hub(&err),
    }
}

/// `?room=NAME`.
#[derive(Deserialize)]
struct RoomQuery {
    room: String,
}

/// One room: 200, or 400 (no room name), 403 (a group), 404 (no rules, nobody in it), 503.
async fn room(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<RoomQuery>,
) -> HttpResponse {
    if let Err(refused) = admin(&req, &state).await {
        return refused;
    }
    let room = match shared::RoomName::try_from(query.into_inner().room) {
        Ok(room) => room,
        Err(err) => return refusal(StatusCode::BAD_REQUEST, format!("not a room name: {err}")),
    };
    match state.hub.admin_room(room).await {
        Ok(detail) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(detail),
        Err(err) => refused_by_hub(&err),
    }
}

/// `POST` a [`shared::admin::Remove`]: 204, or 403 (a group), 404 (no such message, or
/// deleted already), 503.
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<shared::admin::Remove>,
) -> HttpResponse {
    let by = match admin(&req, &state).await {
        Ok(by) => by,
        Err(refused) => return refused,
    };
    let shared::admin::Remove { room, id } = body.into_inner();
    match state.hub.admin_remove(by.clone(), room.clone(), id).await {
        Ok(()) => {
            tracing::info!(by = %by.nick, %room, id = id.0, "an admin removed a message");
            HttpResponse::NoContent().finish()
        }
        Err(err) => refused_by_hub(&err),
    }
}

/// `POST` a [`shared::admin::Close`]: 204, or 403 (a group, the lobby, closed or open
/// already), 503.
async fn close(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<shared::admin::Close>,
) -> HttpResponse {
    let by = match admin(&req, &state).await {
        Ok(by) => by,
        Err(refused) => return refused,
    };
    let shared::admin::Close { room, closed } = body.into_inner();
    match state.hub.admin_close(&by, &room, closed).await {
        Ok(()) => {
            tracing::info!(by = %by.nick, %room, closed, "an admin closed or reopened a room");
            HttpResponse::NoContent().finish()
        }
        Err(err) => refused_by_hub(&err),
    }
}

/// The hub's refusal of an admin's question, as HTTP.
fn refused_by_hub(err: &AdminRefusal) -> HttpResponse {
    match err {
        AdminRefusal::Group => refusal(StatusCode::FORBIDDEN, err.to_string()),
        AdminRefusal::NoSuchRoom | AdminRefusal::Refused(shared::ErrorCode::NoSuchMessage, _) => {
            refusal(StatusCode::NOT_FOUND, err.to_string())
        }
        AdminRefusal::Refused(..) => refusal(StatusCode::FORBIDDEN, err.to_string()),
        AdminRefusal::Unavailable(_) | AdminRefusal::Closed(_) => {
            tracing::error!(error = %err, "the admin console's question went unanswered");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server cannot do that right now; try again shortly",
            )
        }
    }
}
