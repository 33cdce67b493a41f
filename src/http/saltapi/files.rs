//! A hosted web UI, as rest_cherrypy's `app`/`app_path` and
//! `static`/`static_path` host one (SaltGUI's README tells salt-api users
//! to set them): one file served at the app path (and to any browser
//! asking HTML elsewhere), and a directory under the static path. Files
//! only: no listing, no path outside the directory, no symlink followed
//! out of it.

use std::path::{Component, Path, PathBuf};

use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;

use super::format::Output;
use crate::config::SaltApiSettings;
use crate::http::body::{self, Reply};
use crate::http::ApiError;

/// Largest file served (a UI's scripts are far smaller).
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Whether a browser asks for HTML (CherryPy's `accept("text/html")`),
/// `*/*` alone not counting (curl's default).
pub(super) fn wants_html(accept: &str) -> bool {
    if accept.trim() == "*/*" {
        return false;
    }
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f64>().ok())
            .unwrap_or(1.0);
        q > 0.0 && matches!(media.as_str(), "text/html" | "text/*" | "*/*")
    })
}

/// The app file (`GET <app_path>`, and HTML asked for elsewhere).
pub(super) async fn app(settings: &SaltApiSettings) -> Reply {
    match &settings.app {
        Some(file) => serve(file.clone()).await,
        None => not_found(),
    }
}

/// A file under the static directory; `rest` is the path below
/// `static_path`.
pub(super) async fn serve_static(settings: &SaltApiSettings, rest: &str) -> Reply {
    let Some(dir) = &settings.static_dir else {
        return not_found();
    };
    match inside(dir, rest) {
        Some(path) => {
            // A symlink may not lead out of the directory.
            let (real, root) = (
                tokio::fs::canonicalize(&path).await,
                tokio::fs::canonicalize(dir).await,
            );
            match (real, root) {
                (Ok(real), Ok(root)) if real.starts_with(&root) => serve(real).await,
                _ => not_found(),
            }
        }
        None => not_found(),
    }
}

/// `rest` (percent-decoded segments) joined under `dir`, or `None` for
/// anything that could step out of it.
fn inside(dir: &Path, rest: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        let segment = crate::http::route::decode_segment(segment)?;
        let one = Path::new(&segment);
        let mut components = one.components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) if !segment.contains('\0') => path.push(name),
            _ => return None,
        }
    }
    (path != dir).then_some(path)
}

async fn serve(path: PathBuf) -> Reply {
    match tokio::fs::metadata(&path).await {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_FILE => {}
        _ => return not_found(),
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut reply = Response::new(body::full(bytes));
            reply
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
            reply
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            reply
        }
        Err(err) => {
            log::warn!("cannot read {}: {err}", path.display());
            not_found()
        }
    }
}

fn not_found() -> Reply {
    super::error_reply(Output::Json, ApiError::NotFound("The path was not found.".into()))
}

/// The media type by extension; module scripts must be `text/javascript`
/// or browsers refuse them.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "map" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    #[test]
    fn only_browsers_asking_html_get_the_app() {
        assert!(wants_html(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!wants_html("*/*"));
        assert!(!wants_html("application/json"));
        assert!(!wants_html("text/html;q=0"));
        assert!(wants_html("application/json, */*"), "CherryPy's answer too");
    }

    #[test]
    fn static_paths_stay_inside_their_directory() {
        let dir = Path::new("/srv/ui");
        assert_eq!(
            inside(dir, "scripts/app.js"),
            Some(PathBuf::from("/srv/ui/scripts/app.js"))
        );
        assert_eq!(inside(dir, "a//b"), Some(PathBuf::from("/srv/ui/a/b")));
        for bad in [
            "..",
            "../etc/passwd",
            "a/../../x",
            "%2e%2e/x",
            "a/%2F..%2Fb",
            "",
            "/",
        ] {
            assert_eq!(inside(dir, bad), None, "{bad:?}");
        }
        assert_eq!(content_type(Path::new("x.JS")), "text/javascript; charset=utf-8");
    }

    #[tokio::test]
    async fn symlinks_out_of_the_directory_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let ui = root.path().join("ui");
        std::fs::create_dir(&ui).unwrap();
        std::fs::write(ui.join("app.js"), "ok").unwrap();
        std::fs::write(root.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret"), ui.join("leak")).unwrap();
        let settings = SaltApiSettings {
            static_dir: Some(ui),
            ..SaltApiSettings::new()
        };
        let good = serve_static(&settings, "app.js").await;
        assert_eq!(good.status(), StatusCode::OK);
        assert_eq!(good.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(
            serve_static(&settings, "leak").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            serve_static(&settings, "nope").await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
