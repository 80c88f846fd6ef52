//! The profile fields shared by create and update: checking a patch against a stored profile,
//! and naming what changed for the audit log.

use crate::directory::validate;
use crate::error::ApiResult;
use crate::store::users::{Profile, User};

/// Profile fields of a create or update body (`Some("")` clears an optional field).
#[derive(Debug, Default)]
pub(super) struct ProfilePatch {
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) name: Option<String>,
    pub(super) given_name: Option<String>,
    pub(super) family_name: Option<String>,
    pub(super) realname: Option<String>,
    pub(super) nickname: Option<String>,
    pub(super) gender: Option<String>,
    pub(super) birthdate: Option<String>,
    pub(super) avatar: Option<String>,
    pub(super) locale: Option<String>,
    pub(super) zoneinfo: Option<String>,
    pub(super) title: Option<String>,
    pub(super) country: Option<String>,
    pub(super) address: Option<String>,
}

/// Applies a patch to a profile, checking each field.
pub(super) fn apply_profile(mut p: Profile, patch: ProfilePatch) -> ApiResult<Profile> {
    fn set(
        slot: &mut Option<String>,
        value: Option<String>,
        check: impl Fn(&str) -> ApiResult<()>,
    ) -> ApiResult<()> {
        if let Some(v) = value {
            if v.is_empty() {
                *slot = None;
            } else {
                check(&v)?;
                *slot = Some(v);
            }
        }
        Ok(())
    }
    let text = |field: &'static str, max: usize| move |v: &str| validate::text(field, v, max);
    let old_email = p.email.clone();
    let old_phone = p.phone.clone();
    set(&mut p.email, patch.email, validate::email)?;
    set(&mut p.phone, patch.phone, validate::phone)?;
    set(&mut p.name, patch.name, text("name", 64))?;
    set(&mut p.given_name, patch.given_name, text("given_name", 64))?;
    set(
        &mut p.family_name,
        patch.family_name,
        text("family_name", 64),
    )?;
    set(&mut p.realname, patch.realname, text("realname", 64))?;
    set(&mut p.nickname, patch.nickname, text("nickname", 64))?;
    set(&mut p.birthdate, patch.birthdate, validate::birthdate)?;
    set(&mut p.picture, patch.avatar, |v| validate::url("avatar", v))?;
    set(&mut p.locale, patch.locale, text("locale", 35))?;
    set(&mut p.zoneinfo, patch.zoneinfo, text("zoneinfo", 64))?;
    set(&mut p.title, patch.title, text("title", 64))?;
    set(&mut p.country, patch.country, text("country", 32))?;
    set(&mut p.address, patch.address, text("address", 200))?;
    if let Some(g) = patch.gender {
        validate::gender(&g)?;
        p.gender = g;
    }
    // A changed address or number is not verified any more.
    if p.email != old_email {
        p.email_verified = false;
    }
    if p.phone != old_phone {
        p.phone_verified = false;
    }
    Ok(p)
}

/// Names of the profile fields that differ (values stay out of the audit log).
pub(super) fn changed_fields(u: &User, p: &Profile) -> Vec<&'static str> {
    let old = Profile::of(u);
    let pairs: [(&'static str, bool); 17] = [
        ("email", old.email != p.email),
        ("email_verified", old.email_verified != p.email_verified),
        ("phone", old.phone != p.phone),
        ("phone_verified", old.phone_verified != p.phone_verified),
        ("name", old.name != p.name),
        ("given_name", old.given_name != p.given_name),
        ("family_name", old.family_name != p.family_name),
        ("nickname", old.nickname != p.nickname),
        ("avatar", old.picture != p.picture),
        ("locale", old.locale != p.locale),
        ("zoneinfo", old.zoneinfo != p.zoneinfo),
        ("address", old.address != p.address),
        ("realname", old.realname != p.realname),
        ("gender", old.gender != p.gender),
        ("birthdate", old.birthdate != p.birthdate),
        ("title", old.title != p.title),
        ("country", old.country != p.country),
    ];
    pairs.iter().filter(|(_, d)| *d).map(|(n, _)| *n).collect()
}
