//! The HTML pages, rendered with minijinja from `templates/` (compiled into the binary so a
//! deployed server needs no files beside it).

use minijinja::{Environment, Value};

/// Every template, by name.
const TEMPLATES: [(&str, &str); 11] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "logged_out.html",
        include_str!("../templates/logged_out.html"),
    ),
    ("home.html", include_str!("../templates/home.html")),
    ("api_docs.html", include_str!("../templates/api_docs.html")),
    (
        "account_password.html",
        include_str!("../templates/account_password.html"),
    ),
    (
        "change_password.html",
        include_str!("../templates/change_password.html"),
    ),
    (
        "password_reset.html",
        include_str!("../templates/password_reset.html"),
    ),
];

/// The one stylesheet, served at `/static/gatehouse.css`.
pub const STYLESHEET: &str = include_str!("../static/gatehouse.css");

/// Compiled templates; autoescaping is on for `.html`.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Templates {
    /// Parses every template once at start, so a syntax error stops the server early.
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Renders a page.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}
