//! The browser app the server serves at `/`: from the binary itself (a `cargo xtask dist`
//! build carries it, see `build.rs`) or from a directory (`--static-dir`, or `dist/` when the
//! binary carries none: `trunk build` beside `cargo run` while developing).
//!
//! Either way `index.html` stands in for any other path (the app owns its URLs, so a reload
//! on `/echo` works), and `index.html` and the service worker ([`paths::SERVICE_WORKER`]) are
//! revalidated on every use (`Cache-Control: no-cache`): the page names the build's
//! content-hashed files, so a stale copy would keep an old build, and the worker must be seen
//! to change (docs/PWA.md). The other files carry validators (ETag, and Last-Modified from a
//! directory) and no `Cache-Control`, as before.
//!
//! # Layout
//! - [`App`]: where the app comes from, chosen once at start-up ([`App::choose`]), and its
//!   `index.html` for the Content-Security-Policy.
//! - [`configure`]: the routes, one function per source.
//! - the embedded table (`$OUT_DIR/app.rs`) and its files' types and tags.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use actix_files::{Files, NamedFile};
use actix_web::{
    HttpRequest, HttpResponse, ResponseError as _,
    dev::{ServiceRequest, ServiceResponse, fn_service},
    guard,
    http::{Method, StatusCode, header},
    web,
};
use sha2::{Digest as _, Sha256};
use shared::paths;

mod table {
    include!(concat!(env!("OUT_DIR"), "/app.rs"));
}

/// Where `--static-dir` points when it is not given and the binary carries no app.
pub const DEFAULT_DIR: &str = "dist";

/// The app's source.
#[derive(Clone)]
pub enum App {
    /// Files in a directory (`trunk build` output).
    Dir(PathBuf),
    /// Files in memory: each path below the root and its bytes.
    Embedded(Arc<Embedded>),
}

/// Files in memory, with what each is served with.
pub struct Embedded {
    files: HashMap<&'static str, EmbeddedFile>,
}

struct EmbeddedFile {
    bytes: &'static [u8],
    content_type: String,
    /// A strong validator: the content's hash, quoted.
    etag: String,
}

impl App {
    /// `--static-dir` if given; else the app in this binary; else [`DEFAULT_DIR`].
    pub fn choose(static_dir: Option<&Path>) -> Self {
        match static_dir {
            Some(dir) => Self::Dir(dir.to_owned()),
            None if !table::FILES.is_empty() => Self::embedded(table::FILES),
            None => Self::Dir(PathBuf::from(DEFAULT_DIR)),
        }
    }

    /// The app made of `files` (paths below the root, `/`-separated, and their bytes).
    pub fn embedded(files: &'static [(&'static str, &'static [u8])]) -> Self {
        let files = files
            .iter()
            .map(|&(name, bytes)| {
                let mime = mime_guess::from_path(name).first_or_octet_stream();
                // Text says its encoding, as actix-files does for a directory.
                let content_type = if mime.type_() == mime_guess::mime::TEXT
                    || mime.subtype() == mime_guess::mime::JAVASCRIPT
                    || mime.subtype() == mime_guess::mime::JSON
                {
                    format!("{mime}; charset=utf-8")
                } else {
                    mime.to_string()
                };
                let digest = Sha256::digest(bytes);
                let etag = format!("\"{}\"", hex(&digest[..12]));
                let file = EmbeddedFile {
                    bytes,
                    content_type,
                    etag,
                };
                (name, file)
            })
            .collect();
        Self::Embedded(Arc::new(Embedded { files }))
    }

    /// What the logs say the app is served from.
    pub fn describe(&self) -> String {
        match self {
            Self::Dir(dir) => dir.display().to_string(),
            Self::Embedded(app) => format!("this binary ({} files)", app.files.len()),
        }
    }

    /// The app's `index.html` (empty when there is none), for the Content-Security-Policy.
    pub fn index_html(&self) -> String {
        match self {
            Self::Dir(dir) => std::fs::read_to_string(dir.join("index.html")).unwrap_or_default(),
            Self::Embedded(app) => app
                .files
                .get("index.html")
                .map(|file| String::from_utf8_lossy(file.bytes).into_owned())
                .unwrap_or_default(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// GET and HEAD, as actix-files answers them.
fn read() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Registers the app's routes (after every other route: they take any path).
pub fn configure(cfg: &mut web::ServiceConfig, app: &App) {
    match app {
        App::Dir(dir) => configure_dir(cfg, dir),
        App::Embedded(app) => {
            let app = Arc::clone(app);
            cfg.default_service(read().to(move |req: HttpRequest| {
                let app = Arc::clone(&app);
                async move { app.serve(&req) }
            }));
        }
    }
}

impl Embedded {
    fn serve(&self, req: &HttpRequest) -> HttpResponse {
        // (A default service's route guards are not checked: the method is, here, as
        // actix-files does for a directory.)
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, "GET, HEAD"))
                .finish();
        }
        let name = req.path().trim_start_matches('/');
        let (name, file) = match self.files.get_key_value(name) {
            Some((&name, file)) => (name, file),
            None => match self.files.get_key_value("index.html") {
                Some((&name, file)) => (name, file),
                None => return HttpResponse::NotFound().finish(),
            },
        };
        let fresh = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|tags| {
                tags.split(',')
                    .any(|tag| tag.trim().trim_start_matches("W/") == file.etag)
            });
        let mut response = if fresh {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response.insert_header((header::ETAG, file.etag.as_str()));
        let worker = name == paths::SERVICE_WORKER.trim_start_matches('/');
        if name == "index.html" || worker {
            response.insert_header((header::CACHE_CONTROL, "no-cache"));
        }
        if worker {
            response.insert_header(("service-worker-allowed", "/"));
        }
        if fresh {
            return response.finish();
        }
        response
            .insert_header((header::CONTENT_TYPE, file.content_type.as_str()))
            .body(file.bytes)
    }
}

/// Serves `dir`, with `index.html` for any unknown path. Without a build, `/` explains how to
/// make one instead of a bare 404.
fn configure_dir(cfg: &mut web::ServiceConfig, dir: &Path) {
    let index = dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            dir = %dir.display(),
            "no built frontend (index.html missing); run `cargo xtask serve` or `trunk build`"
        );
        let message = format!(
            "The frontend is not built: {} has no index.html.\n\
             Run `cargo xtask serve`, or `trunk build` and restart with --static-dir.\n",
            dir.display()
        );
        cfg.default_service(web::to(move || {
            let message = message.clone();
            async move {
                HttpResponse::build(StatusCode::NOT_FOUND)
                    .content_type("text/plain; charset=utf-8")
                    .body(message)
            }
        }));
        return;
    }
    let worker = dir.join(paths::SERVICE_WORKER.trim_start_matches('/'));
    let app = index.clone();
    cfg.service(
        web::resource(["/", "/index.html"])
            .route(read().to(move |req: HttpRequest| revalidated(req, app.clone(), false))),
    )
    .service(
        web::resource(paths::SERVICE_WORKER)
            .route(read().to(move |req: HttpRequest| revalidated(req, worker.clone(), true))),
    )
    .service(
        Files::new("/", dir)
            .index_file("index.html")
            .default_handler(fn_service(move |req: ServiceRequest| {
                let index = index.clone();
                async move {
                    let (req, _) = req.into_parts();
                    let response = revalidated(req.clone(), index, false).await;
                    Ok::<_, actix_web::Error>(ServiceResponse::new(req, response))
                }
            })),
    );
}

/// `file` with `Cache-Control: no-cache` (a cache keeps it, but asks the server before each
/// use); for the service worker also `Service-Worker-Allowed: /`, its scope (the default for a
/// script at the root, said outright).
async fn revalidated(req: HttpRequest, file: PathBuf, worker: bool) -> HttpResponse {
    let mut response = match NamedFile::open_async(&file).await {
        Ok(file) => file.into_response(&req),
        Err(err) => return err.error_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    if worker {
        headers.insert(
            header::HeaderName::from_static("service-worker-allowed"),
            header::HeaderValue::from_static("/"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use actix_web::{App as Server, test as http};

    use super::*;

    static FILES: &[(&str, &[u8])] = &[
        ("index.html", b"<title>chat</title>"),
        ("app-1a2b.js", b"console.log(1)"),
        ("app-1a2b_bg.wasm", b"\0asm"),
        ("sw.js", b"self.x = 1"),
    ];

    async fn get(
        app: &App,
        path: &str,
        tag: Option<&str>,
    ) -> (StatusCode, HashMap<String, String>, Vec<u8>) {
        let app = app.clone();
        let service = http::init_service(Server::new().configure(|cfg| configure(cfg, &app))).await;
        let mut request = http::TestRequest::get().uri(path);
        if let Some(tag) = tag {
            request = request.insert_header((header::IF_NONE_MATCH, tag));
        }
        let response = http::call_service(&service, request.to_request()).await;
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        (status, headers, http::read_body(response).await.to_vec())
    }

    #[actix_web::test]
    async fn the_embedded_app_is_served_with_its_types_tags_and_the_index_for_other_paths() {
        let app = App::embedded(FILES);
        let (status, headers, body) = get(&app, "/", None).await;
        assert_eq!(
            (status, &body[..]),
            (StatusCode::OK, &b"<title>chat</title>"[..])
        );
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["cache-control"], "no-cache");
        let (_, wasm, body) = get(&app, "/app-1a2b_bg.wasm", None).await;
        assert_eq!(
            (wasm["content-type"].as_str(), &body[..]),
            ("application/wasm", &b"\0asm"[..])
        );
        assert!(!wasm.contains_key("cache-control"), "{wasm:?}");
        let (_, js, _) = get(&app, "/app-1a2b.js", None).await;
        assert!(js["content-type"].contains("javascript"), "{js:?}");
        // The app's own routes get the page.
        let (status, _, body) = get(&app, "/echo", None).await;
        assert_eq!(
            (status, &body[..]),
            (StatusCode::OK, &b"<title>chat</title>"[..])
        );
        // A copy with the file's tag is still good; another tag is not.
        let (status, _, body) = get(&app, "/app-1a2b_bg.wasm", Some(&wasm["etag"])).await;
        assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
        let (status, _, _) = get(&app, "/app-1a2b_bg.wasm", Some(&js["etag"])).await;
        assert_eq!(status, StatusCode::OK);
        // Other methods: 405, as for a directory (not the page).
        let service = http::init_service(Server::new().configure(|cfg| configure(cfg, &app))).await;
        let request = http::TestRequest::post().uri("/api/typo").to_request();
        let response = http::call_service(&service, request).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let (_, worker, _) = get(&app, paths::SERVICE_WORKER, None).await;
        assert_eq!(worker["service-worker-allowed"], "/");
        assert_eq!(worker["cache-control"], "no-cache");
        assert_eq!(app.index_html(), "<title>chat</title>");
    }

    #[test]
    fn the_binary_carries_no_app_unless_built_with_one_and_a_given_directory_wins() {
        // (Tests are built without CHAT_APP_DIR; `cargo xtask dist` sets it.)
        assert!(
            table::FILES.is_empty(),
            "tests are built without an app inside"
        );
        assert!(matches!(App::choose(None), App::Dir(dir) if dir == Path::new(DEFAULT_DIR)));
        assert!(
            matches!(App::choose(Some(Path::new("web"))), App::Dir(dir) if dir == Path::new("web"))
        );
    }
}
