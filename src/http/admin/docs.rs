//! The OpenAPI 3.1 document of `/api/v1` (generated from the handlers' annotations) and a
//! server-rendered page listing its operations (no scripts, so the strict CSP holds).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Serialize;
use serde_json::Value;

use crate::http::errors::render;
use crate::state::AppState;

/// The serialized document, shared with the two handlers.
#[derive(Clone)]
pub struct OpenApiDoc(pub Arc<Vec<u8>>);

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json(Extension(doc): Extension<OpenApiDoc>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        doc.0.as_ref().clone(),
    )
        .into_response()
}

#[derive(Serialize)]
struct Operation {
    method: String,
    path: String,
    summary: String,
    description: String,
    tag: String,
    params: Vec<Param>,
    body: Option<String>,
    responses: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Param {
    name: String,
    location: String,
    required: bool,
    description: String,
}

/// `GET /api/v1/docs`: the operations of the document, grouped by tag.
pub async fn page(State(app): State<AppState>, Extension(doc): Extension<OpenApiDoc>) -> Response {
    let doc: Value = serde_json::from_slice(&doc.0).unwrap_or(Value::Null);
    let ops = operations(&doc);
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API")
        .to_owned();
    let version = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    render(
        &app,
        StatusCode::OK,
        "api_docs.html",
        context! { title, version, ops => minijinja::Value::from(minijinja::value::Serde(&ops)) },
    )
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            let params = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|p| Param {
                            name: text(p, "name"),
                            location: text(p, "in"),
                            required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                            description: text(p, "description"),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let body = op
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(Value::as_str)
                .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned());
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .map(|r| {
                    r.iter()
                        .map(|(status, resp)| (status.clone(), text(resp, "description")))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Operation {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                summary: text(op, "summary"),
                description: text(op, "description"),
                tag: op
                    .pointer("/tags/0")
                    .and_then(Value::as_str)
                    .unwrap_or("other")
                    .to_owned(),
                params,
                body,
                responses,
            });
        }
    }
    out.sort_by(|a, b| (&a.tag, &a.path, &a.method).cmp(&(&b.tag, &b.path, &b.method)));
    out
}
