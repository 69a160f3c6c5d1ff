//! TEMPORARY stand-ins for `ui::auth` and `ui::layout::page` until they land.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Html;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

#[allow(dead_code)]
pub struct Viewer {
    pub caller: Caller,
    pub user: String,
    pub is_admin: bool,
    pub csrf: String,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Stand-in for the session cookie: `slipway_token=<API token>`.
        if let Some(token) = parts
            .headers
            .get(axum::http::header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| {
                c.split("; ")
                    .find_map(|kv| kv.strip_prefix("slipway_token="))
            })
        {
            let bearer = format!("Bearer {token}");
            if let Ok(value) = axum::http::HeaderValue::from_str(&bearer) {
                parts
                    .headers
                    .insert(axum::http::header::AUTHORIZATION, value);
            }
        }
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Viewer {
            user: caller.0.user_name.clone(),
            is_admin: caller.0.user_is_admin,
            caller,
            csrf: "t".to_string(),
        })
    }
}

pub fn csrf_field(viewer: &Viewer) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        viewer.csrf
    )
}

pub fn check_csrf(viewer: &Viewer, token: &str) -> Result<(), ()> {
    if token == viewer.csrf {
        Ok(())
    } else {
        Err(())
    }
}

pub fn page(title: &str, _viewer: Option<&Viewer>, body: String) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body><main>{body}</main></body></html>",
        crate::ui::layout::escape(title)
    ))
}
