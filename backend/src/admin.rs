//! The admin console's HTTP API (`/api/admin/*`, answers in [`shared::admin`]): for server
//! admins (`--admin`) alone, named as on every other endpoint (the session cookie in accounts
//! mode, `Authorization: Bearer` in jwt mode). Nobody else learns more than 401 or 403.
//!
//! # Layout
//! - [`configure`]: the routes.
//! - `admin`: who asks, and the refusal unless it is a server admin.
//! - one handler per endpoint: `log` (the kept moderation log, a page at a time) and
//!   `stats` (the live numbers the console draws).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;
use shared::{admin::LOG_PAGE, paths};

use crate::{Config, auth::http::refusal, state::AppState};

/// Registers the admin API (cross-origin for the origins `--allowed-origin` names, as the
/// account API).
pub fn configure(cfg: &mut web::ServiceConfig, config: &Arc<Config>) {
    let resource = |path| web::resource(path).wrap(crate::auth::http::cors(config));
    cfg.service(resource(paths::API_ADMIN_LOG).route(web::get().to(log)))
        .service(resource(paths::API_ADMIN_STATS).route(web::get().to(stats)));
}

/// The asker's user key if they are a server admin; else the refusal: 401 unnamed, 403 not
/// an admin (or open mode, which has none), 503 when the accounts cannot be read.
async fn admin(req: &HttpRequest, state: &AppState) -> Result<String, HttpResponse> {
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
    if crate::auth::admin_keys(&state.config).contains(&user) {
        Ok(user)
    } else {
        Err(refusal(
            StatusCode::FORBIDDEN,
            "only server admins (--admin) may use the admin console",
        ))
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
        Ok(page) => HttpResponse::Ok().json(page),
        Err(err) if query.before.is_some() => refusal(StatusCode::BAD_REQUEST, err.to_string()),
        Err(err) => {
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
