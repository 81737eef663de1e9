//! `/api/push`: the server's VAPID key (`GET`), a browser's subscription registered
//! (`POST`) or forgotten (`DELETE`). The user is named as on uploads
//! ([`crate::auth::Auth::http_user`]); registering needs one.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use shared::push::{ServerKey, Subscription, Unsubscribe};

use crate::push::{keys::browser_keys, store::Stored};
use crate::{auth::http::refusal, state::AppState};

/// Registers the routes (with the account API's cross-origin rules; JSON bodies as
/// configured there).
pub fn configure(cfg: &mut web::ServiceConfig, config: &std::sync::Arc<crate::Config>) {
    cfg.service(
        web::resource(shared::paths::API_PUSH)
            .wrap(crate::auth::http::cors(config))
            .route(web::get().to(key))
            .route(web::post().to(subscribe))
            .route(web::delete().to(unsubscribe)),
    );
}

/// Who asks (a user key), or the answer for a request that cannot be placed.
async fn asker(req: &HttpRequest, state: &AppState) -> Result<Option<String>, HttpResponse> {
    state.auth.http_user(req).await.map_err(|err| {
        tracing::error!(error = %err, "cannot tell who asks about push");
        unavailable()
    })
}

fn unavailable() -> HttpResponse {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "notifications are unavailable right now; try again shortly",
    )
}

fn nobody() -> HttpResponse {
    refusal(StatusCode::UNAUTHORIZED, "say who you are to be notified")
}

async fn key(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let user = match asker(&req, &state).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let key = match state.push.keys.get().await {
        Ok(vapid) => vapid.public().to_owned(),
        Err(err) => {
            tracing::error!(error = %err, "no VAPID key");
            return unavailable();
        }
    };
    let endpoints = match &user {
        Some(user) => match state.push.store.of(user).await {
            Ok(subscriptions) => subscriptions.into_iter().map(|s| s.endpoint).collect(),
            Err(err) => {
                tracing::error!(error = %err, "cannot read push subscriptions");
                return unavailable();
            }
        },
        None => Vec::new(),
    };
    HttpResponse::Ok().json(ServerKey { key, endpoints })
}

async fn subscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Subscription>,
) -> HttpResponse {
    let user = match asker(&req, &state).await {
        Ok(Some(user)) => user,
        Ok(None) => return nobody(),
        Err(response) => return response,
    };
    let Subscription {
        endpoint,
        keys,
        private,
    } = body.into_inner();
    if let Err(reason) = state.push.check_endpoint(&endpoint) {
        return refusal(StatusCode::BAD_REQUEST, reason);
    }
    if let Err(reason) = browser_keys(&keys.p256dh, &keys.auth) {
        return refusal(StatusCode::BAD_REQUEST, reason);
    }
    let stored = Stored {
        endpoint,
        p256dh: keys.p256dh,
        auth: keys.auth,
        private,
        at: 0,
    };
    match state.push.store.add(&user, stored).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(err) => {
            tracing::error!(error = %err, "cannot keep a push subscription");
            unavailable()
        }
    }
}

async fn unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Unsubscribe>,
) -> HttpResponse {
    let user = match asker(&req, &state).await {
        Ok(Some(user)) => user,
        Ok(None) => return nobody(),
        Err(response) => return response,
    };
    match state.push.store.remove(&user, &body.endpoint).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(err) => {
            tracing::error!(error = %err, "cannot forget a push subscription");
            unavailable()
        }
    }
}
