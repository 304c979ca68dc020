//! The reference for the load test: the smallest actix-web server, answering every `POST /` and
//! `GET /` with a fixed text body, so stsd's requests per CPU-second can be set against
//! what the framework alone costs.
//!
//! `cargo run --release --example hello -- 127.0.0.1:18092`

use actix_web::{web, App, HttpResponse, HttpServer};

/// Reads the body like stsd must, so both servers do the same socket work.
async fn hello(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("hello")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18092".to_owned());
    HttpServer::new(|| App::new().route("/", web::to(hello)))
        .bind(listen)?
        .run()
        .await
}
