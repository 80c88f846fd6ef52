//! Posted HTML forms: every one must parse and carry the session's CSRF token (S-05) before its
//! handler looks at anything else.

use axum::extract::Form;
use axum::extract::rejection::FormRejection;
use axum::response::Response;
use tower_sessions::Session;

use super::errors::{csrf_failed, error_page};
use super::session;
use crate::oauth::OAuthError;
use crate::state::AppState;

/// A form with a `csrf_token` field.
pub trait CsrfForm {
    /// The token the form carried.
    fn csrf_token(&self) -> &str;
}

/// The form when it parsed and its CSRF token is this session's; else the page to answer with
/// (`malformed` is shown when it did not parse).
pub async fn accept<T: CsrfForm>(
    app: &AppState,
    session: &Session,
    form: Result<Form<T>, FormRejection>,
    malformed: &'static str,
) -> Result<T, Response> {
    let Ok(Form(form)) = form else {
        return Err(error_page(app, &OAuthError::invalid_request(malformed)));
    };
    match session::csrf_ok(session, Some(form.csrf_token())).await {
        Ok(true) => Ok(form),
        Ok(false) => Err(csrf_failed(app)),
        Err(e) => Err(error_page(app, &e)),
    }
}

/// Implements [`CsrfForm`] for structs with a `csrf_token: String` field.
macro_rules! csrf_form {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::http::forms::CsrfForm for $t {
            fn csrf_token(&self) -> &str {
                &self.csrf_token
            }
        }
    )+};
}
pub(crate) use csrf_form;
