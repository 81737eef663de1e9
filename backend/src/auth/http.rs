//! The account API of accounts mode, JSON over HTTP (`shared::auth` has the bodies):
//!
//! | route | answers |
//! |---|---|
//! | `GET /api/session` | 200 `{mode, user}` (any mode) |
//! | `POST /api/register` `{name, password}` | 201 + cookie; 400 bad password or name; 409 name (or a look-alike) taken; 429 |
//! | `POST /api/login` `{name, password}` | 200 + cookie; 401 "wrong name or password"; 429 |
//! | `POST /api/logout` | 200, cookie cleared, session ended |
//! | `POST /api/password` `{old, new}` | 200; 401 not logged in or wrong `old`; 400; 429; other sessions end |
//!
//! Outside accounts mode the POST routes answer 404. Refusals carry `{error}`; a store that
//! cannot be reached answers 503. Cross-site requests cannot use the cookie (SameSite=Strict),
//! and a POST from a foreign `Origin` gets 403 as WebSocket handshakes do.

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use shared::{
    Nick,
    auth::{ApiError, AuthMode, Credentials, PasswordChange, SessionInfo, password_problem},
    paths,
};

use super::{
    ATTEMPTS_PER_ACCOUNT, ATTEMPTS_PER_ADDRESS, Auth, AuthError, Identity, accounts::Attempt,
    hash_password, new_session_token, session_hash, token_is_reserved,
};
use crate::{
    Config, names,
    request::{came_over_https, client_address, requested_host, session_cookie},
    state::AppState,
};

/// Cross-origin use of the API, for the origins that may also open the chat socket
/// (`--allowed-origin`: the development server, a test page): with credentials, so that the
/// session cookie is set and sent. Same-origin pages need none of it.
pub(crate) fn cors(config: &Arc<Config>) -> Cors {
    let config = Arc::clone(config);
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            let host = head
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            origin
                .to_str()
                .is_ok_and(|origin| config.origin_allowed(origin, host))
        })
        .allowed_methods(["GET", "POST", "DELETE"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static(paths::TOKEN_HEADER),
        ])
        .supports_credentials()
        .max_age(3600)
}

/// Registers the routes (and JSON bodies that fail to parse answer `{error}` too).
pub fn configure(cfg: &mut web::ServiceConfig, config: &Arc<Config>) {
    let json = web::JsonConfig::default()
        .limit(8 * 1024)
        .error_handler(|err, _| {
            let message = format!("the request body is not valid: {err}");
            actix_web::error::InternalError::from_response(
                err,
                refusal(StatusCode::BAD_REQUEST, message),
            )
            .into()
        });
    let resource = |path| web::resource(path).wrap(cors(config));
    cfg.app_data(json)
        .service(resource(paths::API_SESSION).route(web::get().to(session)))
        .service(resource(paths::API_REGISTER).route(web::post().to(register)))
        .service(resource(paths::API_LOGIN).route(web::post().to(login)))
        .service(resource(paths::API_LOGOUT).route(web::post().to(logout)))
        .service(resource(paths::API_PASSWORD).route(web::post().to(change_password)));
}

/// A refusal with its reason as `{"error": ...}` (the API's and the uploads').
pub(crate) fn refusal(status: StatusCode, error: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(ApiError {
        error: error.into(),
    })
}

/// A failure that is not the client's: logged here, once, and answered 503.
fn unavailable(err: &AuthError) -> HttpResponse {
    tracing::error!(error = %err, "account request failed");
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "accounts are unavailable right now; try again shortly",
    )
}

/// `Set-Cookie` for `value` lasting `max_age` seconds (0 clears it). `Secure` when the
/// request came over https (directly or, per `X-Forwarded-Proto`, through a trusted proxy).
fn cookie(
    req: &HttpRequest,
    trusted: &[std::net::IpAddr],
    value: &str,
    max_age: u64,
) -> (header::HeaderName, String) {
    let secure = if came_over_https(req, trusted) {
        "; Secure"
    } else {
        ""
    };
    (
        header::SET_COOKIE,
        format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
            paths::SESSION_COOKIE
        ),
    )
}

/// Refuses a POST from a foreign origin (the cookie is SameSite=Strict already; this also
/// covers browsers that ignore it).
pub(crate) fn foreign_origin(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let origin = req
        .headers()
        .get(header::ORIGIN)?
        .to_str()
        .unwrap_or("(not text)");
    let host = requested_host(req, &state.config.trusted_proxies);
    (!state.config.origin_allowed(origin, &host)).then(|| {
        refusal(
            StatusCode::FORBIDDEN,
            format!("origin {origin} may not use this server's accounts"),
        )
    })
}

/// The refusal of a request this server cannot take: the 404 that says it has no accounts,
/// or the Origin check's 403.
fn refuse_unless_accounts(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    if state.auth.mode != AuthMode::Accounts {
        return Some(refusal(
            StatusCode::NOT_FOUND,
            "this server has no accounts (it does not run with --auth accounts)",
        ));
    }
    foreign_origin(req, state)
}

/// The 429 of an attempt over its limits, with the time until they let one through again.
fn too_many(retry_after: std::time::Duration) -> HttpResponse {
    // Whole seconds, rounded up: a client that waits that long is let in.
    let seconds = retry_after.as_millis().div_ceil(1000).max(1);
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, seconds.to_string()))
        .json(ApiError {
            error: format!("too many attempts; try again in {seconds} s"),
        })
}

/// Counts an attempt against the client's address, and against `account` if given; `None`
/// when both are within their limits, else how long until the refusing ones end. Both are
/// counted even when one is over, so that a flood keeps its counters high (but never makes
/// them last longer: each window ends a fixed time after its first attempt).
async fn over_limits(
    req: &HttpRequest,
    state: &AppState,
    auth: &Auth,
    account: Option<&Nick>,
) -> Result<Option<std::time::Duration>, AuthError> {
    let Some(accounts) = auth.accounts() else {
        return Ok(None);
    };
    let window = auth.attempt_window;
    let address = client_address(req, &state.config.trusted_proxies);
    let by_address = accounts
        .attempt(&format!("addr:{address}"), ATTEMPTS_PER_ADDRESS, window)
        .await?;
    let by_account = match account {
        Some(name) => {
            accounts
                .attempt(
                    &format!("acct:{}", name.key()),
                    ATTEMPTS_PER_ACCOUNT,
                    window,
                )
                .await?
        }
        None => Attempt::Allowed,
    };
    Ok([by_address, by_account]
        .into_iter()
        .filter_map(|attempt| match attempt {
            Attempt::Allowed => None,
            Attempt::Refused { retry_after } => Some(retry_after),
        })
        .max())
}

/// Starts a session for `name` and answers `status` with the cookie.
async fn logged_in(
    req: &HttpRequest,
    state: &AppState,
    name: Nick,
    status: StatusCode,
) -> Result<HttpResponse, AuthError> {
    let auth = &state.auth;
    let token = new_session_token()?;
    if let Some(accounts) = auth.accounts() {
        accounts
            .start_session(&name, session_hash(&token), auth.session_ttl)
            .await?;
    }
    tracing::info!(account = %name, "logged in");
    Ok(HttpResponse::build(status)
        .insert_header(cookie(
            req,
            &state.config.trusted_proxies,
            &token,
            auth.session_ttl.as_secs(),
        ))
        .json(SessionInfo {
            mode: auth.mode,
            user: Some(name),
        }))
}

async fn session(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let cookie = session_cookie(&req);
    match state.auth.session_user(cookie.as_deref()).await {
        Ok(user) => HttpResponse::Ok().json(SessionInfo {
            mode: state.auth.mode,
            user,
        }),
        Err(err) => unavailable(&err),
    }
}

async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> HttpResponse {
    if let Some(refused) = refuse_unless_accounts(&req, &state) {
        return refused;
    }
    let auth = &state.auth;
    let Credentials { name, password } = body.into_inner();
    let name = match names::chosen("name", &name) {
        Ok(name) => name,
        Err(refused) => return refusal(StatusCode::BAD_REQUEST, refused.to_string()),
    };
    if let Some(problem) = password_problem(&password) {
        return refusal(StatusCode::BAD_REQUEST, problem);
    }
    let result = async {
        if let Some(retry_after) = over_limits(&req, &state, auth, None).await? {
            return Ok(too_many(retry_after));
        }
        let phc = hash_password(password).await?;
        let Some(accounts) = auth.accounts() else {
            return Ok(refusal(StatusCode::NOT_FOUND, "no accounts"));
        };
        if !accounts.register(&name, phc).await? {
            return Ok(refusal(
                StatusCode::CONFLICT,
                format!("the name {name} is taken; choose another"),
            ));
        }
        tracing::info!(account = %name, "account registered");
        let key = crate::ids::user_key(&Identity::account(&name).token);
        if state.hub.known(name.clone(), key).await.is_err() {
            // Shutting down: the account becomes reachable when it first connects.
            tracing::debug!("the hub has stopped; a new account was not noted");
        }
        logged_in(&req, &state, name, StatusCode::CREATED).await
    }
    .await;
    result.unwrap_or_else(|err| unavailable(&err))
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> HttpResponse {
    if let Some(refused) = refuse_unless_accounts(&req, &state) {
        return refused;
    }
    let auth = &state.auth;
    let Credentials {
        name: typed,
        password,
    } = body.into_inner();
    // Names are registered in NFC: the same name from a keyboard that composes otherwise
    // finds its account, and counts against the same limit.
    let name = names::normalized(&typed);
    let result = async {
        // The same limits, words and work whether or not the account exists: nothing here
        // tells an attacker which names are registered.
        if let Some(retry_after) = over_limits(&req, &state, auth, Some(&name)).await? {
            return Ok(too_many(retry_after));
        }
        let account = match auth.accounts() {
            Some(accounts) => match accounts.account(&name).await? {
                // Registered before names were normalized, in the form typed now.
                None if name != typed => accounts.account(&typed).await?,
                found => found,
            },
            None => None,
        };
        let phc = account.as_ref().map(|a| a.phc.clone());
        if !auth.check_password(password, phc).await? {
            return Ok(refusal(StatusCode::UNAUTHORIZED, "wrong name or password"));
        }
        let Some(account) = account else {
            return Ok(refusal(StatusCode::UNAUTHORIZED, "wrong name or password"));
        };
        // (Told only with the right password: a ban says nothing to a guesser.)
        // (An admin is never banned: one named admin after a ban gets in.)
        let key = super::admin_key(AuthMode::Accounts, account.name.as_str())
            .filter(|key| !super::admin_keys(&state.config).contains(key));
        if let Some(key) = key {
            match state.hub.banned_from_server(&key).await {
                Ok(false) => {}
                Ok(true) => {
                    return Ok(refusal(
                        StatusCode::FORBIDDEN,
                        "this account is banned from this server",
                    ));
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot read the server's bans at a login");
                    return Ok(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "logging in is unavailable right now; try again shortly",
                    ));
                }
            }
        }
        logged_in(&req, &state, account.name, StatusCode::OK).await
    }
    .await;
    result.unwrap_or_else(|err| unavailable(&err))
}

async fn logout(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = refuse_unless_accounts(&req, &state) {
        return refused;
    }
    let auth = &state.auth;
    if let (Some(token), Some(accounts)) = (session_cookie(&req), auth.accounts())
        && let Err(err) = accounts.end_session(session_hash(&token)).await
    {
        return unavailable(&err.into());
    }
    HttpResponse::Ok()
        .insert_header(cookie(&req, &state.config.trusted_proxies, "", 0))
        .json(SessionInfo {
            mode: auth.mode,
            user: None,
        })
}

async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PasswordChange>,
) -> HttpResponse {
    if let Some(refused) = refuse_unless_accounts(&req, &state) {
        return refused;
    }
    let auth = &state.auth;
    let PasswordChange { old, new } = body.into_inner();
    if let Some(problem) = password_problem(&new) {
        return refusal(StatusCode::BAD_REQUEST, problem);
    }
    let result = async {
        let Some(token) = session_cookie(&req) else {
            return Ok(refusal(StatusCode::UNAUTHORIZED, "log in first"));
        };
        let Some(name) = auth.session_user(Some(&token)).await? else {
            return Ok(refusal(StatusCode::UNAUTHORIZED, "log in first"));
        };
        if let Some(retry_after) = over_limits(&req, &state, auth, Some(&name)).await? {
            return Ok(too_many(retry_after));
        }
        let Some(accounts) = auth.accounts() else {
            return Ok(refusal(StatusCode::NOT_FOUND, "no accounts"));
        };
        let phc = accounts.account(&name).await?.map(|a| a.phc);
        if !auth.check_password(old, phc).await? {
            return Ok(refusal(
                StatusCode::UNAUTHORIZED,
                "the current password is wrong",
            ));
        }
        let phc = hash_password(new).await?;
        accounts
            .set_password(&name, phc, session_hash(&token))
            .await?;
        tracing::info!(account = %name, "password changed; other sessions ended");
        Ok(HttpResponse::Ok().json(SessionInfo {
            mode: auth.mode,
            user: Some(name),
        }))
    }
    .await;
    result.unwrap_or_else(|err: AuthError| unavailable(&err))
}

impl Auth {
    /// Who an HTTP request comes from (a user key), named as on the chat socket: the session
    /// cookie (accounts), `Authorization: Bearer` with a valid token (jwt), or the browser
    /// token in [`shared::paths::TOKEN_HEADER`] (open). `None`: nobody said, or it is not valid.
    pub async fn http_user(
        &self,
        req: &actix_web::HttpRequest,
    ) -> Result<Option<String>, AuthError> {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        };
        let token = match self.mode {
            AuthMode::Open => header(shared::paths::TOKEN_HEADER)
                .and_then(|token| shared::UserToken::try_from(token).ok())
                .filter(|token| !token_is_reserved(token)),
            AuthMode::Accounts => self
                .session_user(crate::request::session_cookie(req).as_deref())
                .await?
                .map(|name| Identity::account(&name).token),
            AuthMode::Jwt => header("authorization")
                .and_then(|value| value.strip_prefix("Bearer "))
                .zip(self.jwt.as_ref())
                .and_then(|(token, verifier)| verifier.verify(token.trim()).ok())
                .map(|verified| verified.identity.token),
        };
        Ok(token.as_ref().map(crate::ids::user_key))
    }
}
