//! Reading the server's HTML: forms, inputs, entities.

/// Name/value pairs a browser would submit for the form containing `csrf_token`: its hidden inputs
/// plus the first submit button that has a name.
pub fn form_submission(html: &str) -> Vec<(String, String)> {
    let at = html
        .find("name=\"csrf_token\"")
        .expect("a form with csrf_token");
    let start = html[..at].rfind("<form").expect("<form");
    let end = start + html[start..].find("</form>").expect("</form>");
    let form = &html[start..end];
    let mut out = Vec::new();
    let mut button_seen = false;
    for (i, _) in form.match_indices('<') {
        let tag_end = i + form[i..].find('>').unwrap_or(form.len() - i);
        let tag = &form[i..tag_end];
        let attr = |a: &str| {
            let k = format!("{a}=\"");
            tag.find(&k).map(|p| {
                let v = &tag[p + k.len()..];
                html_unescape(&v[..v.find('"').unwrap_or(v.len())])
            })
        };
        let is_input = tag.starts_with("<input") && attr("type").as_deref() == Some("hidden");
        let is_button = tag.starts_with("<button") && !button_seen;
        if let (true, Some(n)) = (is_input || is_button, attr("name")) {
            if is_button {
                button_seen = true;
            }
            out.push((n, attr("value").unwrap_or_default()));
        }
    }
    out
}

/// The value of `<input type="hidden" name="csrf_token" value="…">`, entity-decoded.
pub fn extract_csrf(html: &str) -> Option<String> {
    input_value(html, "csrf_token")
}

pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let len = tag[v..].find('"')?;
    Some(html_unescape(&tag[v..v + len]))
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub fn is_login_form(html: &str) -> bool {
    html.contains("name=\"csrf_token\"")
        && html.contains("name=\"password\"")
        && html.contains("name=\"username\"")
}

pub fn is_consent_form(html: &str) -> bool {
    html.contains("name=\"decision\"")
        && html.contains("value=\"allow\"")
        && html.contains("name=\"csrf_token\"")
}
