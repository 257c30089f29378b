//! Writes Mozilla's root certificates (webpki-root-certs, DER) as one PEM
//! bundle into OUT_DIR, once, at build time: the SDK's HTTPS client takes
//! roots only as PEM, and encoding ~150 of them at every cold start was about a
//! third of a function's own start (`make bench`, docs/explanation/performance.md).

#[allow(dead_code, unreachable_pub)]
mod pem {
    include!("src/pem.rs");
}

fn main() -> std::io::Result<()> {
    let out =
        std::env::var_os("OUT_DIR").ok_or_else(|| std::io::Error::other("cargo sets OUT_DIR"))?;
    let bundle: Vec<u8> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .flat_map(|cert| pem::pem(cert.as_ref()))
        .collect();
    std::fs::write(std::path::Path::new(&out).join("mozilla-roots.pem"), bundle)?;
    println!("cargo::rerun-if-changed=src/pem.rs");
    Ok(())
}
