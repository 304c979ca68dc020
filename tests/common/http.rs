//! JSON over HTTP for the operator endpoints and the JSON twin: one request, its status and the
//! answer parsed (JSON `null` when the body is not JSON, so a test can assert on the status).

use serde_json::Value;

pub async fn post_json(url: String, body: &Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .expect("the server answers");
    answer(res).await
}

pub async fn get_json(url: String) -> (u16, Value) {
    answer(reqwest::get(url).await.expect("the server answers")).await
}

async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
