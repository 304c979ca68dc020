//! The reference for the load test: the smallest actix-web server, answering every `POST /` and
//! `GET /` with a fixed body, so stsd's requests per CPU-second can be set against what the
//! framework alone costs. By default the body is the five bytes `hello`; a second argument sets
//! its size, so the reference can also send as many bytes as an stsd response.
//!
//! `cargo run --release --example hello -- 127.0.0.1:18092 [BODY_BYTES]`

use actix_web::web::Bytes;
use actix_web::{web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18092".to_owned());
    let body = match args.next() {
        Some(size) => {
            let size: usize = size.parse().map_err(std::io::Error::other)?;
            Bytes::from(vec![b'x'; size])
        }
        None => Bytes::from_static(b"hello"),
    };
    HttpServer::new(move || {
        let body = body.clone();
        // Reads the body like stsd must, so both servers do the same socket work.
        App::new().route(
            "/",
            web::to(move |_request: Bytes| {
                let body = body.clone();
                async move { HttpResponse::Ok().content_type("text/plain").body(body) }
            }),
        )
    })
    .bind(listen)?
    .run()
    .await
}
