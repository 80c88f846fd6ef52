//! The user's JSON attribute columns (`attrs`, `sys_attrs`): an optimistic read-modify-write so
//! concurrent merges (seed 000's rules, applied by the caller) never lose each other's keys.

use serde_json::{Map, Value};

use super::{Db, StoreError};

/// Which JSON attribute column to merge into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrColumn {
    /// `attrs`: the user may edit them.
    Attrs,
    /// `sys_attrs`: administrators only.
    SysAttrs,
}

impl AttrColumn {
    fn name(self) -> &'static str {
        match self {
            AttrColumn::Attrs => "attrs",
            AttrColumn::SysAttrs => "sys_attrs",
        }
    }
}

/// How often a merge is retried when another writer changed the column in between.
const MERGE_ATTEMPTS: usize = 8;

/// Read-modify-write of a JSON attribute column with optimistic concurrency: `apply` edits the
/// stored object, which is written back only if nobody changed it meanwhile (else retried).
/// Returns the new object, or `None` when the user does not exist.
pub async fn merge_attrs<E: From<StoreError>>(
    db: &Db,
    id: &str,
    column: AttrColumn,
    now: i64,
    mut apply: impl FnMut(&mut Map<String, Value>) -> Result<(), E>,
) -> Result<Option<Map<String, Value>>, E> {
    let col = column.name();
    let read = format!("SELECT {col} FROM users WHERE id = $1 AND deleted_at IS NULL");
    let write = format!(
        "UPDATE users SET {col} = $2, updated_at = $3 WHERE id = $1 AND {col} = $4 \
         AND deleted_at IS NULL"
    );
    for _ in 0..MERGE_ATTEMPTS {
        let row: Option<(String,)> = sqlx::query_as(&read)
            .bind(id)
            .fetch_optional(db.pool())
            .await
            .map_err(StoreError::from)?;
        let Some((old,)) = row else {
            return Ok(None);
        };
        let mut map = crate::directory::attrs::parse_object(&old);
        apply(&mut map)?;
        let new = serde_json::to_string(&map).map_err(StoreError::from)?;
        let done = sqlx::query(&write)
            .bind(id)
            .bind(&new)
            .bind(now)
            .bind(&old)
            .execute(db.pool())
            .await
            .map_err(StoreError::from)?;
        if done.rows_affected() == 1 {
            return Ok(Some(map));
        }
    }
    Err(StoreError::Conflict("the attributes kept changing; retry".into()).into())
}
