//! Rules of permission catalogues (seed 001 `/system/permissions`, seed 002 `permList`): item
//! fields, API patterns (compiled by the permission engine, so a stored pattern always works)
//! and the nested view.

use std::collections::HashMap;

use crate::authz::ApiPattern;
use crate::error::{ApiError, ApiResult};
use crate::store::permissions::{ItemFields, Permission};

use super::validate;

/// Kinds of catalogue items.
pub const KINDS: [&str; 4] = ["menu", "action", "api", "data"];
/// Most items in one application's catalogue.
pub const MAX_ITEMS: i64 = 5000;
/// Most API patterns of one item.
pub const MAX_APIS: usize = 50;
/// Most locales in `titles`.
pub const MAX_TITLES: usize = 32;
/// Largest `data_scope` object, serialized.
pub const MAX_DATA_SCOPE_BYTES: usize = 8 * 1024;
/// Deepest catalogue tree walked when looking for cycles.
pub const MAX_DEPTH: usize = 64;

/// Item codes: 1–128 of letters, digits and `-_.:/*` (`account.user`, `/role/user-edit`).
pub fn code(v: &str) -> ApiResult<()> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/*".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "code",
            "1 to 128 letters, digits, '-', '_', '.', ':', '/' or '*'",
        ))
    }
}

/// Checks an item's fields; a pattern that does not compile is 400 `invalid_api_pattern`.
pub fn check(f: &ItemFields) -> ApiResult<()> {
    code(&f.code)?;
    validate::text("name", &f.name, 64)?;
    let Some(titles) = f.titles.as_object() else {
        return Err(ApiError::invalid(
            "titles",
            "a JSON object of titles by locale",
        ));
    };
    if titles.len() > MAX_TITLES {
        return Err(ApiError::invalid(
            "titles",
            &format!("at most {MAX_TITLES} locales"),
        ));
    }
    for (locale, title) in titles {
        let locale_ok = !locale.is_empty()
            && locale.len() <= 16
            && locale
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !locale_ok {
            return Err(ApiError::invalid(
                "titles",
                &format!("{locale:?} is not a locale tag"),
            ));
        }
        match title.as_str() {
            Some(t) => validate::text("titles", t, 64)?,
            None => return Err(ApiError::invalid("titles", "titles are strings")),
        }
    }
    if !KINDS.contains(&f.kind.as_str()) {
        return Err(ApiError::invalid("kind", "menu, action, api or data"));
    }
    if f.apis.len() > MAX_APIS {
        return Err(ApiError::invalid(
            "apis",
            &format!("at most {MAX_APIS} patterns"),
        ));
    }
    for spec in &f.apis {
        ApiPattern::compile(spec).map_err(|e| {
            ApiError::bad("invalid_api_pattern", format!("apis: {}: {e}", spec.path))
        })?;
    }
    match &f.data_scope {
        None => {}
        Some(_) if f.kind != "data" => {
            return Err(ApiError::invalid(
                "data_scope",
                "only items of kind data have a data scope",
            ));
        }
        Some(v) if !v.is_object() => {
            return Err(ApiError::invalid("data_scope", "a JSON object"));
        }
        Some(v) if v.to_string().len() > MAX_DATA_SCOPE_BYTES => {
            return Err(ApiError::invalid(
                "data_scope",
                &format!("at most {MAX_DATA_SCOPE_BYTES} bytes"),
            ));
        }
        Some(_) => {}
    }
    if !f.order.is_finite() {
        return Err(ApiError::invalid("order", "a finite number"));
    }
    Ok(())
}

/// Nests a flat catalogue: top-level items (and items whose parent is missing) with their
/// `children`, siblings by order then code.
pub fn tree(items: Vec<Permission>) -> Vec<Permission> {
    let ids: std::collections::HashSet<String> = items.iter().map(|i| i.id.clone()).collect();
    let mut by_parent: HashMap<String, Vec<Permission>> = HashMap::new();
    for item in items {
        let parent = if ids.contains(&item.parent_id) && item.parent_id != item.id {
            item.parent_id.clone()
        } else {
            String::new()
        };
        by_parent.entry(parent).or_default().push(item);
    }
    fn attach(
        parent: &str,
        by_parent: &mut HashMap<String, Vec<Permission>>,
        depth: usize,
    ) -> Vec<Permission> {
        let mut level = by_parent.remove(parent).unwrap_or_default();
        level.sort_by(|a, b| {
            a.order
                .total_cmp(&b.order)
                .then_with(|| a.code.cmp(&b.code))
        });
        for item in &mut level {
            item.children = Some(if depth < MAX_DEPTH {
                attach(&item.id.clone(), by_parent, depth + 1)
            } else {
                Vec::new()
            });
        }
        level
    }
    attach("", &mut by_parent, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::ApiSpec;

    fn fields() -> ItemFields {
        ItemFields {
            code: "/role/user-edit".into(),
            name: "Edit".into(),
            titles: serde_json::json!({"zh-CN": "编辑"}),
            kind: "action".into(),
            parent_id: String::new(),
            apis: vec![ApiSpec {
                method: Some("GET".into()),
                path: "/api/user/:id".into(),
            }],
            data_scope: None,
            order: 1.0,
        }
    }

    #[test]
    fn item_rules() {
        assert!(check(&fields()).is_ok());
        let mut f = fields();
        f.apis[0].path = "no-slash".into();
        let e = check(&f).err().map(|e| e.code());
        assert_eq!(e, Some("invalid_api_pattern"));
        let mut f = fields();
        f.apis[0].method = Some("FETCH".into());
        assert!(check(&f).is_err());
        let mut f = fields();
        f.kind = "page".into();
        assert!(check(&f).is_err());
        let mut f = fields();
        f.data_scope = Some(serde_json::json!({"org": "own"}));
        assert!(check(&f).is_err());
        f.kind = "data".into();
        assert!(check(&f).is_ok());
        let mut f = fields();
        f.titles = serde_json::json!({"zh CN": "x"});
        assert!(check(&f).is_err());
    }
}
