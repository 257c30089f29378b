// One DER certificate as PEM (what the SDK's trust store takes). Shared by
// the crate (`aws`) and its build script, which `include!`s this file to write
// Mozilla's roots as one PEM bundle at build time.

/// One DER certificate as PEM.
pub(crate) fn pem(der: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 64);
    out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    out
}
