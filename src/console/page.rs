//! The page frame every page shares: layout and navigation, the stylesheet, the
//! security headers, the not-found page, and tables of rows.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::data::{Row, text};

/// No script, no plugin, nothing from elsewhere: styles and images from the console
/// only (inline SVG charts are markup, not images), forms back to it.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// Adds the security headers to every answer.
pub(super) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A page: `title`, the navigation, and `body`.
pub(super) fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · grantwatch" }
                link rel="stylesheet" href="/console.css";
            }
            body {
                nav {
                    strong { "grantwatch" }
                    a href="/" { "Overview" }
                    a href="/alerts" { "Alerts" }
                    a href="/reports" { "Reports" }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page that only says something (errors, not found).
pub(super) fn message(title: &str, message: &str) -> Markup {
    layout(title, html! { p.message { (message) } })
}

/// The answer for a path no page has.
pub(super) async fn no_such_page(uri: axum::http::Uri) -> Response {
    let path = uri.path().to_owned();
    (
        StatusCode::NOT_FOUND,
        message("Not found", &format!("No page at {path}.")),
    )
        .into_response()
}

/// The stylesheet.
pub(super) async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console.css"),
    )
}

/// A table of `rows`, one column per key of `columns`; `link` may make a cell a link.
pub(super) fn table(
    columns: &[&str],
    rows: &[Row],
    link: impl Fn(&str, &Row) -> Option<String>,
) -> Markup {
    html! {
        @if rows.is_empty() {
            p.empty { "Nothing in this window." }
        } @else {
            table {
                thead { tr { @for c in columns { th { (c) } } } }
                tbody {
                    @for row in rows {
                        tr {
                            @for c in columns {
                                td {
                                    @let value = text(row, c);
                                    @match link(c, row) {
                                        Some(href) => a href=(href) { (value) },
                                        None => (value),
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `path` with `pairs` as its query string (empty values left out).
pub(super) fn href<'a>(path: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if !value.is_empty() {
            query.append_pair(key, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// A path segment, percent-encoded (ids and owners may hold anything).
pub(super) fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Links for the cells of alert rows: the alert, its grant, its owner.
pub(super) fn alert_links(column: &str, row: &Row) -> Option<String> {
    let value = text(row, column);
    if value.is_empty() {
        return None;
    }
    match column {
        "alert_id" => Some(format!("/alerts/{}", segment(&value))),
        "grant_id" => Some(format!("/grants/{}", segment(&value))),
        "owner" => Some(format!("/owners/{}", segment(&value))),
        _ => None,
    }
}

/// A CSV download.
pub(super) fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}
