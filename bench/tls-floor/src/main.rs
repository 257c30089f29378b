//! The TLS floor for `make bench`: the [floor](../../floor) plus the least a
//! function that talks to AWS must do, one HTTPS call per invocation with the
//! functions' TLS stack (hyper's pooled client, rustls with ring, Mozilla's
//! roots compiled in, the connection opened at the first call).
//!
//! Every function's cold request (spawn → first answer, TLS handshake and
//! first call included) is read as a ratio to this one's, built and measured
//! in the same run. It calls `MLOPS_BENCH_TLS_URL` (the bench's model stub
//! over TLS) and trusts `MLOPS_BENCH_CA` as well as the deployed roots, as the
//! functions do in the bench build (`shared`'s `bench-trust` feature).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url: hyper::Uri = std::env::var("MLOPS_BENCH_TLS_URL")?.parse()?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    if let Some(path) = std::env::var_os("MLOPS_BENCH_CA") {
        for cert in CertificateDer::pem_file_iter(path)? {
            roots.add(cert?)?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);

    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| {
        let (client, url) = (&client, &url);
        async move {
            let request = hyper::Request::post(url.clone())
                .header("content-type", "text/csv")
                .body(Full::new(Bytes::from_static(b"4.5,1.3,0.3,0.3")))?;
            let response = client.request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Error>(json!({"status": status, "answer": String::from_utf8_lossy(&body)}))
        }
    }))
    .await
}
