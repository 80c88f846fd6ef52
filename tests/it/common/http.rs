//! HTTP responses: `Resp` (what every helper returns) and raw TCP exchanges for requests an
//! HTTP client library refuses to build or cannot read the answer to.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use url::Url;

use super::{HTTP_TIMEOUT, extract_csrf};

/// A response read off a raw TCP exchange.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    /// Status line and headers of the final response (interim 1xx responses skipped).
    pub head: String,
    pub body: String,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A raw HTTP/1.1 exchange over TCP, for requests an HTTP client library refuses to build (a 100 KiB
/// request target) or cannot read the answer to: a server that refuses an oversize body early and closes
/// makes hyper's client fail with EPIPE/IncompleteMessage although the 4xx was sent. The body is written
/// while the response is read, write errors are ignored, and the response is taken as far as it arrived.
pub async fn raw_http(
    base: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResp {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base.trim_start_matches("http://").to_string();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let fut = async move {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&request).await;
            let _ = wr.flush().await;
            wr
        });
        let mut buf = Vec::new();
        let _ = rd.read_to_end(&mut buf).await;
        drop(writer.await);
        buf
    };
    let buf = tokio::time::timeout(HTTP_TIMEOUT, fut)
        .await
        .expect("raw HTTP exchange timed out");
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    // Skip interim responses (100 Continue).
    while text.starts_with("HTTP/1.1 1") {
        match text.find("\r\n\r\n") {
            Some(end) => text = text[end + 4..].to_string(),
            None => break,
        }
    }
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| {
            panic!("no HTTP response (connection closed without a status line): {head:?}")
        });
    RawResp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

impl RawResp {
    /// As a `Resp` (headers parsed), for the usual assertions.
    pub fn into_resp(self, url: Url) -> Resp {
        let mut headers = HeaderMap::new();
        for line in self.head.split("\r\n").skip(1) {
            if let Some((k, v)) = line.split_once(':')
                && let (Ok(name), Ok(value)) = (
                    reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                    HeaderValue::from_str(v.trim()),
                )
            {
                headers.append(name, value);
            }
        }
        Resp {
            status: self.status,
            headers,
            body: self.body,
            url,
        }
    }
}

/// POSTs a form. Bodies over 16 KiB go over a raw socket (see `raw_http`): a server that refuses them
/// early and closes the connection must still be heard, not turned into a client-side EPIPE.
pub async fn post_form_to(
    http: &reqwest::Client,
    url: Url,
    headers: &[(String, String)],
    body: String,
) -> Resp {
    if body.len() <= 16 * 1024 {
        let mut req = http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        return Resp::send(req.body(body)).await;
    }
    let base = url.origin().ascii_serialization();
    let target = url[url::Position::BeforePath..].to_string();
    let mut hs: Vec<(&str, &str)> = vec![("Content-Type", "application/x-www-form-urlencoded")];
    hs.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    raw_http(&base, "POST", &target, &hs, body.as_bytes())
        .await
        .into_resp(url)
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub url: Url,
}

impl Resp {
    pub async fn send(req: reqwest::RequestBuilder) -> Resp {
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("HTTP request failed: {e:?}"));
        Resp::read(r).await
    }

    pub async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let url = r.url().clone();
        let bytes = r
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("reading body of {url}: {e:?}"));
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            url,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<non-ascii header>"))
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<non-ascii header>").to_string())
            .collect()
    }

    /// The Location header resolved against the request URL.
    pub fn location(&self) -> Option<Url> {
        self.header("location").map(|l| {
            self.url
                .join(l)
                .unwrap_or_else(|e| panic!("unparsable Location {l:?}: {e}"))
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("expected a JSON body ({e})\n{}", self.describe()))
    }

    pub fn describe(&self) -> String {
        let mut body = self.body.clone();
        if body.len() > 3000 {
            let mut cut = 3000;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            body.push_str("…[truncated]");
        }
        format!(
            "{} {}\nheaders: {:?}\nbody: {}",
            self.status, self.url, self.headers, body
        )
    }

    pub fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
    }

    pub fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/html"))
    }

    pub fn csrf(&self) -> String {
        extract_csrf(&self.body)
            .unwrap_or_else(|| panic!("no csrf_token input on the page\n{}", self.describe()))
    }
}
