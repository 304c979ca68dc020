//! Every protocol and validation error that happens before the service call, driven over HTTP:
//! exact code, status, type, and a RequestId equal to the `x-amzn-RequestId` header.
#![allow(clippy::unwrap_used)]

mod common;

use common::server::TestServer;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";
const ARN: &str = "arn:aws:iam::role/DevRole";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    #[serde(rename = "@xmlns")]
    xmlns: String,
    error: ErrorBody,
    request_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(rename = "Type")]
    kind: String,
    code: String,
    message: String,
}

struct Expect {
    status: u16,
    code: &'static str,
    kind: &'static str,
}

const fn sender(status: u16, code: &'static str) -> Expect {
    Expect {
        status,
        code,
        kind: "Sender",
    }
}

struct Harness {
    server: TestServer,
    client: reqwest::Client,
}

impl Harness {
    fn new() -> Self {
        Self {
            server: TestServer::start(),
            client: reqwest::Client::new(),
        }
    }

    async fn post_form(&self, query: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.server.url(&format!("/?{query}")))
            .header(CONTENT_TYPE, FORM)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Checks the XML error and returns its message; then checks the server still answers.
    async fn assert_xml_error(&self, response: reqwest::Response, expect: Expect) -> String {
        let status = response.status().as_u16();
        let header_id = request_id_header(&response);
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let text = response.text().await.unwrap();
        assert_eq!(status, expect.status, "{text}");
        assert_eq!(content_type, "text/xml", "{text}");
        assert!(text.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><ErrorResponse"#));
        let parsed: ErrorResponse = quick_xml::de::from_str(&text).unwrap();
        assert_eq!(parsed.xmlns, "https://sts.amazonaws.com/doc/2011-06-15/");
        assert_eq!(parsed.error.code, expect.code, "{text}");
        assert_eq!(parsed.error.kind, expect.kind, "{text}");
        assert_eq!(parsed.request_id, header_id);
        assert!(!parsed.error.message.is_empty());
        assert!(!text.contains(TOKEN), "token echoed: {text}");
        self.assert_healthy().await;
        parsed.error.message
    }

    async fn assert_healthy(&self) {
        let health = self
            .client
            .get(self.server.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status().as_u16(), 200);
        assert_eq!(request_id_header(&health).len(), 36);
    }
}

fn request_id_header(response: &reqwest::Response) -> String {
    let id = response
        .headers()
        .get("x-amzn-RequestId")
        .expect("x-amzn-RequestId header")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    id
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A valid AssumeRoleWithWebIdentity body with one parameter replaced (`None` removes it).
fn assume_body(replace: &str, value: Option<&str>) -> String {
    let mut params: Vec<(String, String)> = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", ARN),
        ("RoleSessionName", "session-1"),
        ("WebIdentityToken", TOKEN),
    ]
    .into_iter()
    .filter(|(name, _)| *name != replace)
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(value) = value {
        params.push((replace.to_owned(), value.to_owned()));
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn missing_and_invalid_action() {
    let h = Harness::new();
    let r = h.post_form("", "Version=2011-06-15").await;
    h.assert_xml_error(r, sender(400, "MissingAction")).await;

    let r = h
        .post_form("", "Action=AssumeRole&Version=2011-06-15")
        .await;
    let m = h.assert_xml_error(r, sender(400, "InvalidAction")).await;
    assert!(m.contains("AssumeRole"), "{m}");

    let r = h.post_form("", "Action=DoSomething").await;
    h.assert_xml_error(r, sender(400, "InvalidAction")).await;
}

#[tokio::test]
async fn wrong_version() {
    let h = Harness::new();
    let r = h
        .post_form("", "Action=AssumeRoleWithWebIdentity&Version=2010-01-01")
        .await;
    h.assert_xml_error(r, sender(400, "InvalidParameterValue"))
        .await;
}

#[tokio::test]
async fn missing_required_parameters() {
    let h = Harness::new();
    for name in ["WebIdentityToken", "RoleSessionName"] {
        let r = h.post_form("", assume_body(name, None)).await;
        let m = h.assert_xml_error(r, sender(400, "MissingParameter")).await;
        assert!(m.contains(name), "{m}");
    }
}

#[tokio::test]
async fn validation_errors() {
    let h = Harness::new();
    let long_token = "a".repeat(20_001);
    let long_arn = format!("arn:aws:iam::role/{}", "x".repeat(2048));
    let long_policy = "x".repeat(2049);
    let long_name = "a".repeat(65);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("WebIdentityToken", "abc", "'webIdentityToken'"),
        ("WebIdentityToken", &long_token, "'webIdentityToken'"),
        ("RoleSessionName", "a", "'roleSessionName'"),
        ("RoleSessionName", &long_name, "'roleSessionName'"),
        ("RoleSessionName", "bad name", "regular expression pattern"),
        ("RoleArn", "arn:aws:iam::role/x", "'roleArn'"),
        ("RoleArn", &long_arn, "'roleArn'"),
        ("DurationSeconds", "899", "greater than or equal to 900"),
        ("DurationSeconds", "43201", "less than or equal to 43200"),
        ("DurationSeconds", "one hour", "'durationSeconds'"),
        ("Policy", "", "'policy'"),
        ("Policy", &long_policy, "'policy'"),
        ("Policy", "{\"\u{263A}\":1}", "'policy'"),
    ];
    for (name, value, needle) in cases {
        let r = h.post_form("", assume_body(name, Some(value))).await;
        let m = h.assert_xml_error(r, sender(400, "ValidationError")).await;
        assert!(m.starts_with("1 validation error detected: "), "{m}");
        assert!(m.contains(needle), "{name}={value:.20}: {m}");
        assert!(!m.contains(&long_token) && !m.contains("bad name"), "{m}");
    }
}

#[tokio::test]
async fn invalid_parameter_values() {
    let h = Harness::new();
    let r = h
        .post_form(
            "",
            assume_body("RoleArn", Some("arn:aws:iam::123456789012:user/alice")),
        )
        .await;
    let m = h
        .assert_xml_error(r, sender(400, "InvalidParameterValue"))
        .await;
    assert!(m.contains("RoleArn"), "{m}");

    // Twice in the body.
    let body = format!("{}&RoleSessionName=other", assume_body("", None));
    let r = h.post_form("", body).await;
    let m = h
        .assert_xml_error(r, sender(400, "InvalidParameterValue"))
        .await;
    assert!(m.contains("RoleSessionName"), "{m}");

    // Once in the query, once in the body.
    let r = h
        .post_form("Action=AssumeRoleWithWebIdentity", assume_body("", None))
        .await;
    let m = h
        .assert_xml_error(r, sender(400, "InvalidParameterValue"))
        .await;
    assert!(m.contains("Action"), "{m}");

    let body = format!(
        "{}&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FX",
        assume_body("", None)
    );
    let r = h.post_form("", body).await;
    h.assert_xml_error(r, sender(400, "InvalidParameterValue"))
        .await;
}

#[tokio::test]
async fn malformed_query_strings() {
    let h = Harness::new();
    let r = h
        .post_form("", "Action=AssumeRoleWithWebIdentity&RoleArn=%zz")
        .await;
    h.assert_xml_error(r, sender(404, "MalformedQueryString"))
        .await;
    let r = h.post_form("Action=%4", "").await;
    h.assert_xml_error(r, sender(404, "MalformedQueryString"))
        .await;
    let r = h.post_form("", "Action=%ff%fe").await;
    h.assert_xml_error(r, sender(404, "MalformedQueryString"))
        .await;
    let r = h.post_form("", b"Action=\xff".to_vec()).await;
    h.assert_xml_error(r, sender(404, "MalformedQueryString"))
        .await;
}

#[tokio::test]
async fn oversize_body() {
    let h = Harness::new();
    let body = format!("{}&Policy={}", assume_body("", None), "x".repeat(64 * 1024));
    let r = h.post_form("", body).await;
    h.assert_xml_error(r, sender(413, "RequestEntityTooLarge"))
        .await;
}

#[tokio::test]
async fn get_carries_parameters_in_the_query() {
    let h = Harness::new();
    let query = assume_body("RoleSessionName", None);
    let r = h
        .client
        .get(h.server.url(&format!("/?{query}")))
        .send()
        .await
        .unwrap();
    h.assert_xml_error(r, sender(400, "MissingParameter")).await;
}

#[tokio::test]
async fn non_form_bodies_are_not_parsed() {
    let h = Harness::new();
    let r = h
        .client
        .post(h.server.url("/"))
        .header(CONTENT_TYPE, "application/json")
        .body("Action=AssumeRoleWithWebIdentity")
        .send()
        .await
        .unwrap();
    h.assert_xml_error(r, sender(400, "MissingAction")).await;
}

#[tokio::test]
async fn get_caller_identity_needs_stsd_credentials() {
    let h = Harness::new();
    let r = h
        .post_form("", "Action=GetCallerIdentity&Version=2011-06-15")
        .await;
    let m = h
        .assert_xml_error(r, sender(403, "MissingAuthenticationToken"))
        .await;
    assert_eq!(m, "Request is missing Authentication Token");
}

#[tokio::test]
async fn valid_request_reaches_the_service_and_an_unknown_token_is_refused() {
    let h = Harness::new();
    let r = h.post_form("", assume_body("", None)).await;
    h.assert_xml_error(r, sender(400, "InvalidIdentityToken"))
        .await;
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let h = Harness::new();
    let r = h.client.get(h.server.url("/nope")).send().await.unwrap();
    h.assert_xml_error(r, sender(404, "NotFound")).await;
    let r = h.client.delete(h.server.url("/")).send().await.unwrap();
    h.assert_xml_error(r, sender(405, "MethodNotAllowed")).await;
    let r = h
        .client
        .get(h.server.url("/sts/assume-role-with-web-identity"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let id = request_id_header(&r);
    let parsed: JsonErrorResponse = r.json().await.unwrap();
    assert_eq!(parsed.error.code, "MethodNotAllowed");
    assert_eq!(parsed.request_id, id);
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonErrorResponse {
    error: JsonErrorBody,
    request_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonErrorBody {
    code: String,
    message: String,
}

async fn post_json(h: &Harness, body: &str) -> (u16, String, JsonErrorResponse) {
    let r = h
        .client
        .post(h.server.url("/sts/assume-role-with-web-identity"))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let id = request_id_header(&r);
    let parsed: JsonErrorResponse = r.json().await.unwrap();
    (status, id, parsed)
}

#[tokio::test]
async fn json_twin_errors() {
    let h = Harness::new();
    for body in [
        "{not json",
        "[]",
        r#"{"roleArn":"x"}"#,
        r#"{"WebIdentityToken":5}"#,
    ] {
        let (status, id, parsed) = post_json(&h, body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(parsed.error.code, "ValidationError", "{body}");
        assert_eq!(parsed.request_id, id);
        assert!(!parsed.error.message.is_empty());
        h.assert_healthy().await;
    }

    // The same validation as the query API, rendered as JSON.
    let body = format!(
        r#"{{"RoleArn":"{ARN}","WebIdentityToken":"{TOKEN}","RoleSessionName":"s","DurationSeconds":"900"}}"#
    );
    let (status, _, parsed) = post_json(&h, &body).await;
    assert_eq!(
        (status, parsed.error.code.as_str()),
        (400, "ValidationError")
    );
    assert!(parsed.error.message.contains("'roleSessionName'"));

    let body = format!(r#"{{"RoleArn":"{ARN}","RoleSessionName":"s1"}}"#);
    let (status, _, parsed) = post_json(&h, &body).await;
    assert_eq!(
        (status, parsed.error.code.as_str()),
        (400, "MissingParameter")
    );

    let body = format!(
        r#"{{"RoleArn":"{ARN}","WebIdentityToken":"{TOKEN}","RoleSessionName":"s1","DurationSeconds":60}}"#
    );
    let (status, _, parsed) = post_json(&h, &body).await;
    assert_eq!(
        (status, parsed.error.code.as_str()),
        (400, "ValidationError")
    );

    let big = format!(r#"{{"Policy":"{}"}}"#, "x".repeat(70_000));
    let (status, _, parsed) = post_json(&h, &big).await;
    assert_eq!(
        (status, parsed.error.code.as_str()),
        (413, "RequestEntityTooLarge")
    );
    h.assert_healthy().await;
}

#[tokio::test]
async fn readiness() {
    let h = Harness::new();
    let r = h.client.get(h.server.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn stalled_body_is_abandoned_with_an_xml_error() {
    use std::time::Duration;

    let settings = stsd::app::HttpSettings {
        body_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let server = TestServer::start_with(common::server::dev_service(), settings);
    // Promise 100 bytes, send 6, then wait for the server's answer.
    let text = raw_exchange(
        &server,
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nAction",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
    assert!(text.to_ascii_lowercase().contains("x-amzn-requestid: "));
}

#[tokio::test]
async fn refusals_are_counted_by_action_and_code() {
    let h = Harness::new();
    h.post_form("", "Version=2011-06-15").await;
    h.post_form("", assume_body("RoleSessionName", None)).await;
    h.post_form("", assume_body("RoleSessionName", None)).await;
    let text = h
        .client
        .get(h.server.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"stsd_requests_total{action="none",code="MissingAction"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"stsd_requests_total{action="AssumeRoleWithWebIdentity",code="MissingParameter"} 2"#
        ),
        "{text}"
    );
    assert!(!text.contains(TOKEN));
}

/// Sends a raw HTTP/1.1 request and returns the response text up to the end of the XML error.
async fn raw_exchange(server: &TestServer, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&response).contains("</ErrorResponse>") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn oversize_chunked_body_without_a_length() {
    let h = Harness::new();
    let mut request = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'x'; 16 * 1024];
    for _ in 0..5 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let text = raw_exchange(&h.server, &request).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.contains("<Code>RequestEntityTooLarge</Code>"),
        "{text}"
    );
    h.assert_healthy().await;
}
