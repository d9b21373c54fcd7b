//! Why an HTTP(S) probe failed, as a sentence an operator can act on: reqwest's errors wrap
//! hyper's, std's and rustls's, whose own texts are often type names.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use rustls::{AlertDescription, CertificateError};

use crate::health::outcome::timeout_cause;

/// A short cause such as "connect failed: nothing listens there (connection refused)".
pub fn describe_error(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return timeout_cause(timeout);
    }
    if error.is_redirect() {
        return "too many redirects".to_string();
    }
    if let Some(tls) = find::<rustls::Error>(error) {
        return format!("TLS handshake failed: {}", describe_tls(tls));
    }
    if let Some(io) = find::<io::Error>(error)
        && let Some(sentence) = describe_io(io)
    {
        return if error.is_connect() { format!("connect failed: {sentence}") } else { sentence };
    }
    let root = root_cause(error);
    if error.is_connect() {
        if root.contains("failed to lookup address") || root.contains("dns error") {
            return format!(
                "connect failed: the name does not resolve ({root}); names are resolved by the system resolver"
            );
        }
        format!("connect failed: {root}")
    } else if error.is_body() || error.is_decode() {
        format!("body read failed: {root}")
    } else {
        describe_http(&root)
    }
}

/// The innermost error's text.
pub fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut cause: &dyn StdError = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The first error of type `T` in the chain. An `io::Error` or a `Box` that wraps another
/// error hands out that error's source, not the error itself, so they are looked into.
fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(found) = unwrap(current).downcast_ref::<T>() {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

/// What an `io::Error` or a boxed error wraps (once more for a box in an `io::Error`).
fn unwrap<'a>(error: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    let mut error = error;
    for _ in 0..3 {
        if let Some(inner) = error.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            error = inner;
        } else {
            break;
        }
    }
    error
}

fn describe_io(error: &io::Error) -> Option<String> {
    let sentence = match error.kind() {
        io::ErrorKind::ConnectionRefused => "nothing listens there (connection refused)",
        io::ErrorKind::ConnectionReset => "the server reset the connection",
        io::ErrorKind::ConnectionAborted => "the connection was aborted",
        io::ErrorKind::HostUnreachable => "no route to the host",
        io::ErrorKind::NetworkUnreachable => "the network is unreachable from here",
        io::ErrorKind::UnexpectedEof => "the server closed the connection before answering",
        _ => return None,
    };
    Some(sentence.to_string())
}

/// hyper's texts for answers that are not HTTP or connections closed early.
fn describe_http(root: &str) -> String {
    if root.contains("connection closed before message completed") {
        "the server closed the connection before answering".to_string()
    } else if root.contains("invalid HTTP") || root.contains("invalid status") || root.contains("parse") {
        format!("the answer is not HTTP ({root})")
    } else {
        format!("request failed: {root}")
    }
}

fn describe_tls(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(certificate) => describe_certificate(certificate),
        rustls::Error::AlertReceived(alert) => describe_alert(*alert),
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".to_string(),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server does not speak TLS on this port (is it plain http?)".to_string()
        }
        rustls::Error::PeerIncompatible(_) => {
            "the server offers no TLS version or cipher this client accepts (TLS 1.2 or 1.3)".to_string()
        }
        other => other.to_string(),
    }
}

fn describe_certificate(error: &CertificateError) -> String {
    match error {
        CertificateError::UnknownIssuer => {
            "the server's certificate is not signed by a trusted CA (set ca_file to the CA that signed it)".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let presented = match error {
                CertificateError::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
                    let names: Vec<&str> = presented.iter().map(|name| presented_name(name)).collect();
                    format!(" (it holds {})", names.join(", "))
                }
                _ => String::new(),
            };
            format!(
                "the server's certificate is not valid for the name asked for{presented}; set host to a name it holds"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (check both clocks)".into()
        }
        CertificateError::Revoked => "the server's certificate is revoked".into(),
        CertificateError::BadSignature => "the server's certificate has a bad signature".into(),
        CertificateError::BadEncoding => "the server's certificate cannot be decoded".into(),
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => "the server presented a CA certificate as its own; it needs a \
                 server certificate signed by that CA"
                .into(),
            Some(webpki::Error::EndEntityUsedAsCa) => {
                "the server's certificate chain uses a server certificate as a CA".into()
            }
            Some(webpki::Error::CertNotValidForName(_)) => {
                "the server's certificate is not valid for the name asked for; set host to a name it holds".into()
            }
            _ => format!("the server's certificate was refused: {other}"),
        },
        other => format!("the server's certificate was refused: {other}"),
    }
}

/// rustls lists the names a certificate holds as `DnsName("www.example.com")` or
/// `IpAddress(198.18.1.11)`: the name alone reads better.
fn presented_name(presented: &str) -> &str {
    let inner = presented.split_once('(').and_then(|(_, rest)| rest.strip_suffix(')')).unwrap_or(presented);
    inner.trim_matches('"')
}

fn describe_alert(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::CertificateRequired => {
            "the server wants a client certificate (set client_cert and client_key)".into()
        }
        AlertDescription::UnknownCA | AlertDescription::BadCertificate => {
            "the server refused our client certificate (is it signed by a CA the server trusts?)".into()
        }
        AlertDescription::CertificateExpired => "the server refused our client certificate as expired".into(),
        AlertDescription::HandshakeFailure => {
            "the server refused the handshake (no common cipher, or it wants a client certificate)".into()
        }
        AlertDescription::UnrecognisedName => "the server does not know the name asked for (SNI)".into(),
        AlertDescription::ProtocolVersion => "the server wants a TLS version this client does not offer".into(),
        other => format!("the server ended the handshake with the alert \"{}\"", words(&format!("{other:?}"))),
    }
}

/// "InternalError" → "internal error".
fn words(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}
