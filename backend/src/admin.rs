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
//!   room, or reopen it); in accounts mode `reset_password` and `revoke` (an account's
//!   sessions), through `account_named`; `import` (a ZIP spooled to a temporary file, then
//!   [`crate::transfer::import`]) and `export` (a room, a user's own data or the server as a
//!   ZIP, streamed: [`crate::transfer::export`]).

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;
use shared::{
    ModAction, Nick,
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
        .service(resource(paths::API_ADMIN_CLOSE).route(web::post().to(close)))
        .service(resource(paths::API_ADMIN_PASSWORD).route(web::post().to(reset_password)))
        .service(resource(paths::API_ADMIN_REVOKE).route(web::post().to(revoke)))
        .service(resource(paths::API_ADMIN_IMPORT).route(web::post().to(import)))
        .service(resource(paths::API_ADMIN_EXPORT).route(web::get().to(export)));
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

/// The account `user` names, for a password reset or a revocation: its name as registered;
/// or the refusal: 404 without accounts (jwt mode: the identity provider owns passwords and
/// sessions; a server-wide ban cuts a subject off) or without such an account, 400 for no
/// account name, 403 for a server admin (nobody acts on their own rank, as with bans), 503.
async fn account_named(state: &AppState, user: &str) -> Result<Nick, HttpResponse> {
    let Some(accounts) = state.auth.accounts() else {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            "this server has no accounts: passwords and sessions are the identity provider's \
             (a server-wide ban cuts a user off)",
        ));
    };
    let nick = Nick::try_from(user.trim()).map_err(|err| {
        refusal(
            StatusCode::BAD_REQUEST,
            format!("not an account name: {err}"),
        )
    })?;
    let account = match accounts.account(&nick).await {
        Ok(Some(account)) => account,
        Ok(None) => return Err(refusal(StatusCode::NOT_FOUND, format!("no account {nick}"))),
        Err(err) => {
            tracing::error!(error = %err, "cannot read an account for an admin");
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "accounts are unavailable right now; try again shortly",
            ));
        }
    };
    let admins = crate::auth::admin_keys(&state.config);
    let key = crate::auth::admin_key(state.config.auth, account.name.as_str());
    if key.is_some_and(|key| admins.contains(&key)) {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            format!("{} is a server admin", account.name),
        ));
    }
    Ok(account.name)
}

/// Logs a server-wide act on an account, then answers 204 (503 if the log cannot keep it:
/// the act is done, and the admin is told the log missed it).
async fn logged(state: &AppState, by: &Nick, action: ModAction, name: &Nick) -> HttpResponse {
    match state.hub.log_server_act(by, &action, name.as_str()).await {
        Ok(()) => {
            tracing::info!(%by, account = %name, ?action, "an admin acted on an account");
            HttpResponse::NoContent().finish()
        }
        Err(err) => {
            tracing::error!(error = %err, %by, account = %name, "done, but not logged");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "done, but the moderation log could not keep it",
            )
        }
    }
}

/// `POST` a [`shared::admin::PasswordReset`]: the account's new password (the sign-up
/// rules; 400 otherwise), and every session of it ended: 204.
async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<shared::admin::PasswordReset>,
) -> HttpResponse {
    let by = match admin(&req, &state).await {
        Ok(by) => by.nick,
        Err(refused) => return refused,
    };
    let shared::admin::PasswordReset { user, password } = body.into_inner();
    let name = match account_named(&state, &user).await {
        Ok(name) => name,
        Err(refused) => return refused,
    };
    if let Some(problem) = shared::auth::password_problem(&password) {
        return refusal(StatusCode::BAD_REQUEST, problem);
    }
    let Some(accounts) = state.auth.accounts() else {
        return refusal(StatusCode::NOT_FOUND, "this server has no accounts");
    };
    let stored = match crate::auth::hash_password(password).await {
        // (No session has the empty hash: every one ends.)
        Ok(phc) => accounts
            .set_password(&name, phc, String::new())
            .await
            .map_err(|err| err.to_string()),
        Err(err) => Err(err.to_string()),
    };
    if let Err(err) = stored {
        tracing::error!(error = %err, "cannot reset a password");
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "accounts are unavailable right now; try again shortly",
        );
    }
    let action = ModAction::PasswordReset { user: name.clone() };
    logged(&state, &by, action, &name).await
}

/// `POST` a [`shared::admin::Revoke`]: every session of the account ended (its sockets
/// closed with 4401 at their next session check, `--session-recheck`): 204.
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<shared::admin::Revoke>,
) -> HttpResponse {
    let by = match admin(&req, &state).await {
        Ok(by) => by.nick,
        Err(refused) => return refused,
    };
    let name = match account_named(&state, &body.user).await {
        Ok(name) => name,
        Err(refused) => return refused,
    };
    let Some(accounts) = state.auth.accounts() else {
        return refusal(StatusCode::NOT_FOUND, "this server has no accounts");
    };
    if let Err(err) = accounts.end_sessions(&name).await {
        tracing::error!(error = %err, "cannot end an account's sessions");
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "accounts are unavailable right now; try again shortly",
        );
    }
    let action = ModAction::SessionsRevoked { user: name.clone() };
    logged(&state, &by, action, &name).await
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
    // One import at a time, before anything is spooled: two at once would each write up to
    // --max-import-bytes to the data directory.
    let Some(busy) = state.imports.begin() else {
        let refused = refusal(
            StatusCode::CONFLICT,
            crate::transfer::import::ImportError::Busy.to_string(),
        );
        return crate::body::closing(refused, payload);
    };
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
    let done =
        crate::transfer::import::import(&to, spooled.path(), query.source.as_deref(), busy).await;
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

/// Exports running on this node at most at once: each holds a blocking thread and reads
/// the engine page by page beside the chat.
const MAX_EXPORTS: usize = 2;

/// Exports running now (see [`ExportSlot`]).
static EXPORTS: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_EXPORTS`] places, held until the export ends.
struct ExportSlot;

impl ExportSlot {
    fn take() -> Option<Self> {
        EXPORTS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                (running < MAX_EXPORTS).then_some(running + 1)
            })
            .ok()
            .map(|_| Self)
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        EXPORTS.fetch_sub(1, Ordering::AcqRel);
    }
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
    let Some(slot) = ExportSlot::take() else {
        return refusal(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{MAX_EXPORTS} exports are running on this node; try again when one ends"),
        );
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
    tracing::info!(by = %by.nick, scope = scope.name(), %what, "export started");
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
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
