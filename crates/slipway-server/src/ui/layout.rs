//! The page frame and HTML escaping.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::auth::{Viewer, csrf_field};
use crate::error::ApiError;

/// The one stylesheet, embedded in every page (no extra request, nothing to
/// cache-bust).
const STYLE: &str = include_str!("layout.css");

/// A whole page: the header (site name, navigation, the signed-in user and
/// a logout button), a skip link, and `body` inside `<main>`. `title` is
/// escaped here; `body` must already be safe HTML.
pub fn page(title: &str, viewer: Option<&Viewer>, body: String) -> Html<String> {
    let who = viewer.map_or(String::new(), |viewer| {
        format!(
            "<form class=\"who\" method=\"post\" action=\"/logout\">\
             <span>Signed in as <strong>{user}</strong>{admin}</span>{csrf}\
             <button type=\"submit\">Log out</button></form>",
            user = escape(&viewer.user),
            admin = if viewer.is_admin { " (admin)" } else { "" },
            csrf = csrf_field(viewer),
        )
    });
    let mut html = String::with_capacity(STYLE.len() + body.len() + 1024);
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    html.push_str("<title>");
    html.push_str(&escape(title));
    html.push_str(" · Slipway</title><style>");
    html.push_str(STYLE);
    html.push_str("</style></head><body>");
    html.push_str("<a class=\"skip\" href=\"#main\">Skip to content</a>");
    html.push_str("<header class=\"site\"><a class=\"brand\" href=\"/\">Slipway</a>");
    html.push_str("<nav aria-label=\"Main\"><ul><li><a href=\"/\">Projects</a></li></ul></nav>");
    html.push_str(&who);
    html.push_str("</header><main id=\"main\" tabindex=\"-1\">");
    html.push_str(&body);
    html.push_str("</main></body></html>");
    Html(html)
}

/// An error as a page: the API's status and message, and a way back.
pub fn error_page(viewer: Option<&Viewer>, error: ApiError) -> Response {
    let title = match error.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED => "Sign in needed",
        _ => "Something went wrong",
    };
    let body = format!(
        "<h1>{title}</h1><p class=\"error\" role=\"alert\">{}</p>\
         <p><a href=\"/\">Back to the projects</a></p>",
        escape(&error.message)
    );
    (error.status, page(title, viewer, body)).into_response()
}

/// `text` with `& < > " '` escaped, for element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_escapes_the_title_and_has_landmarks() {
        let Html(html) = page("<x>", None, "<p>body</p>".into());
        assert!(html.contains("<title>&lt;x&gt; · Slipway</title>"));
        assert!(html.contains("lang=\"en\""));
        assert!(html.contains("<main id=\"main\""));
        assert!(html.contains("href=\"#main\""));
        assert!(!html.contains("/logout"));
    }

    #[test]
    fn escape_covers_attribute_quotes() {
        assert_eq!(escape("a&<>\"'b"), "a&amp;&lt;&gt;&quot;&#39;b");
    }
}
