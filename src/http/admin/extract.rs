//! Extractors of the JSON API whose rejections are problem details, and the paging vocabulary
//! shared by every list endpoint.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body; malformed JSON, unknown fields or wrong types are 400, not JSON 415, too big 413.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::bad("malformed_json", e.body_text()))
            }
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::bad("invalid_body", e.body_text()))
            }
            Err(JsonRejection::BytesRejection(e)) if e.status().as_u16() == 413 => {
                Err(ApiError::TooLarge)
            }
            Err(e) => Err(ApiError::bad("invalid_body", e.body_text())),
        }
    }
}

/// Query parameters; a value of the wrong type is a 400 naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad("invalid_query", e.body_text()))
            }
            Err(e) => Err(ApiError::bad("invalid_query", e.body_text())),
        }
    }
}

/// Largest page a list endpoint returns.
pub const MAX_LIMIT: i64 = 1000;
/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 20;

/// `offset`/`limit`/`sort`/`order` of list endpoints. Each list's filter struct repeats these
/// four fields (serde's `flatten` cannot parse numbers from query strings) and builds a `Paging`.
#[derive(Debug, Clone, Default)]
pub struct Paging {
    /// Rows to skip (default 0).
    pub offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    pub limit: Option<i64>,
    /// Field to sort by (each list documents its fields).
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
}

impl Paging {
    /// From a filter's four paging fields.
    pub fn new(
        offset: Option<i64>,
        limit: Option<i64>,
        sort: Option<String>,
        order: Option<String>,
    ) -> Self {
        Self {
            offset,
            limit,
            sort,
            order,
        }
    }

    /// Checked offset and limit.
    pub fn window(&self) -> Result<(i64, i64), ApiError> {
        let offset = self.offset.unwrap_or(0);
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if offset < 0 {
            return Err(ApiError::invalid("offset", "must be ≥ 0"));
        }
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
        }
        Ok((offset, limit))
    }

    /// The sort column among `allowed` (`(parameter name, column)`), or the first one.
    pub fn sort_column(&self, allowed: &[(&str, &'static str)]) -> Result<&'static str, ApiError> {
        match &self.sort {
            None => Ok(allowed.first().map(|(_, c)| *c).unwrap_or("id")),
            Some(s) => allowed
                .iter()
                .find(|(name, _)| name == s)
                .map(|(_, c)| *c)
                .ok_or_else(|| {
                    let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                    ApiError::invalid("sort", &format!("one of {}", names.join(", ")))
                }),
        }
    }

    /// `ASC` or `DESC`; anything else is a 400.
    pub fn direction(&self, default_desc: bool) -> Result<&'static str, ApiError> {
        match self.order.as_deref() {
            None => Ok(if default_desc { "DESC" } else { "ASC" }),
            Some("asc") => Ok("ASC"),
            Some("desc") => Ok("DESC"),
            Some(_) => Err(ApiError::invalid("order", "asc or desc")),
        }
    }
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// Rows matching the filters, over all pages.
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
    pub items: Vec<T>,
}
