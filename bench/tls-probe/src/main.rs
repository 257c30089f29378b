//! tls-probe: what the first call to a TLS endpoint costs a cold function.
//!
//! `make bench` runs it as a fresh process per sample, against a local TLS
//! stub on 127.0.0.1 whose self-signed certificate it trusts (the system's
//! roots are loaded too, as in a real function). Two modes:
//!
//! - `probe once <crypto>`: the one-time start-up costs alone: loading and
//!   parsing the system's root certificates (what the SDK does once per
//!   process), and building the first rustls client configuration with the
//!   crypto library (`aws-lc` or `ring`) against building a second one.
//! - `probe path <crypto> <connect> <endpoint> <ca.pem>`: the SDK's cold path.
//!   `connect` is `init` (one call during init opens the pooled connection)
//!   or `first-call` (nothing is opened until the first request).
//!
//! Each prints one JSON object of milliseconds on stdout.

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_sagemakerruntime::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use serde_json::json;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn crypto_mode(name: &str) -> Result<CryptoMode, Error> {
    match name {
        "aws-lc" => Ok(CryptoMode::AwsLc),
        "ring" => Ok(CryptoMode::Ring),
        other => Err(format!("unknown crypto library {other:?}; use aws-lc or ring").into()),
    }
}

fn provider(name: &str) -> Result<rustls::crypto::CryptoProvider, Error> {
    match name {
        "aws-lc" => Ok(rustls::crypto::aws_lc_rs::default_provider()),
        "ring" => Ok(rustls::crypto::ring::default_provider()),
        other => Err(format!("unknown crypto library {other:?}; use aws-lc or ring").into()),
    }
}

fn client_config(provider: rustls::crypto::CryptoProvider) -> Result<rustls::ClientConfig, Error> {
    Ok(
        rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    )
}

fn once(crypto: &str) -> Result<serde_json::Value, Error> {
    let start = Instant::now();
    let loaded = rustls_native_certs::load_native_certs();
    let load_roots = ms(start);
    let start = Instant::now();
    let mut roots = rustls::RootCertStore::empty();
    let (valid, _) = roots.add_parsable_certificates(loaded.certs);
    let parse_roots = ms(start);

    let start = Instant::now();
    let first = client_config(provider(crypto)?)?;
    let first_config = ms(start);
    let start = Instant::now();
    let second = client_config(provider(crypto)?)?;
    let second_config = ms(start);
    drop((first, second));

    // The first random bytes and the first key share are where a crypto
    // library seeds its generator and sets up its tables.
    let provider = provider(crypto)?;
    let mut bytes = [0u8; 32];
    let start = Instant::now();
    provider
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| "no random bytes")?;
    let first_random = ms(start);
    let start = Instant::now();
    provider
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| "no random bytes")?;
    let second_random = ms(start);
    let group = provider.kx_groups.first().ok_or("no key exchange group")?;
    let start = Instant::now();
    drop(group.start()?);
    let first_key_share = ms(start);
    let start = Instant::now();
    drop(group.start()?);
    let second_key_share = ms(start);
    Ok(json!({
        "firstRandomMs": first_random,
        "secondRandomMs": second_random,
        "keyExchangeGroup": format!("{:?}", group.name()),
        "firstKeyShareMs": first_key_share,
        "secondKeyShareMs": second_key_share,
        "crypto": crypto,
        "rootCertificates": valid,
        "loadRootsMs": load_roots,
        "parseRootsMs": parse_roots,
        "firstConfigMs": first_config,
        "secondConfigMs": second_config,
    }))
}

async fn path(
    crypto: &str,
    connect: &str,
    endpoint: &str,
    ca: &str,
) -> Result<serde_json::Value, Error> {
    let connect_in_init = match connect {
        "init" => true,
        "first-call" => false,
        other => {
            return Err(format!("unknown connect mode {other:?}; use init or first-call").into());
        }
    };
    let pem = std::fs::read(ca)?;

    let start = Instant::now();
    let trust = TrustStore::default().with_pem_certificate(pem);
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(crypto_mode(crypto)?))
        .tls_context(TlsContext::builder().with_trust_store(trust).build()?)
        .build_https();
    let config = aws_sdk_sagemakerruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
        .endpoint_url(endpoint)
        .http_client(http)
        .build();
    let client = aws_sdk_sagemakerruntime::Client::from_conf(config);
    let call = || {
        client
            .invoke_endpoint()
            .endpoint_name("bench")
            .content_type("text/csv")
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                "4.5,1.3,0.3,0.3",
            ))
            .send()
    };
    if connect_in_init {
        call().await?;
    }
    let init = ms(start);

    let start = Instant::now();
    let answer = call().await?;
    let first = ms(start);
    let start = Instant::now();
    call().await?;
    let second = ms(start);

    let body = answer
        .body
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned());
    Ok(json!({
        "crypto": crypto,
        "connect": connect,
        "initMs": init,
        "firstCallMs": first,
        "secondCallMs": second,
        "coldPathMs": init + first,
        "answer": body,
    }))
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let figures = match args.as_slice() {
        ["once", crypto] => once(crypto)?,
        ["path", crypto, connect, endpoint, ca] => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(path(crypto, connect, endpoint, ca))?,
        _ => {
            return Err("usage: tls-probe once <aws-lc|ring> | tls-probe path <aws-lc|ring> <init|first-call> <https-endpoint> <ca.pem>".into());
        }
    };
    println!("{figures}");
    Ok(())
}
