//! Certificates checked before anything is sent, and TLS failures told apart from temporary
//! faults: an expired certificate, one whose key is another's, one the server does not know,
//! and a CA that does not vouch for the server are exit 2, never 75, and name what failed.

use std::path::Path;

use wxpay_ops::emulator::merchant::DEFAULT_MCH_ID;
use wxpay_ops::emulator::pki::MerchantPki;

use crate::order::Shop;

fn refund(shop: &Shop, out_refund_no: &str) -> crate::common::Output {
    shop.run(&[
        "refund",
        "create",
        "--out-trade-no",
        "T1",
        "--total",
        "100",
        "--refund",
        "1",
        "--out-refund-no",
        out_refund_no,
        "--yes",
    ])
}

fn pem_pair(cert: &Path, key: &Path) -> String {
    format!(
        "cert_pem = \"{}\"\ncert_key_pem = \"{}\"\n",
        cert.display(),
        key.display()
    )
}

/// A certificate set of our own making, outside the emulator's CA.
fn own_pki(dir: &Path, pki: MerchantPki) -> wxpay_ops::emulator::pki::PkiPaths {
    std::fs::create_dir_all(dir).unwrap();
    pki.write_to(dir).unwrap()
}

#[test]
fn unusable_certificates_are_refused_before_sending() {
    let mut shop = Shop::new();
    shop.place("T1", "100");
    shop.pay("T1");
    let valid = shop
        .emulator
        .client_cert(DEFAULT_MCH_ID)
        .unwrap()
        .cert
        .clone();

    let expired = own_pki(
        &shop.env.path("expired"),
        MerchantPki::generate_valid(
            DEFAULT_MCH_ID,
            rcgen::date_time_ymd(2019, 1, 1),
            rcgen::date_time_ymd(2020, 1, 1),
        )
        .unwrap(),
    );
    shop.own_config(&pem_pair(&expired.client_cert, &expired.client_key));
    refund(&shop, "E1")
        .expect(2)
        .error_mentions("expired on 2020-01-01 (UTC); the request was not sent")
        .hint_mentions("config check");

    let other = own_pki(
        &shop.env.path("other"),
        MerchantPki::generate(DEFAULT_MCH_ID).unwrap(),
    );
    shop.own_config(&pem_pair(&valid, &other.client_key));
    refund(&shop, "E2")
        .expect(2)
        .error_mentions("is not the private key of the certificate");

    let foreign_merchant = own_pki(
        &shop.env.path("foreign-merchant"),
        MerchantPki::generate("1900000999").unwrap(),
    );
    shop.own_config(&pem_pair(
        &foreign_merchant.client_cert,
        &foreign_merchant.client_key,
    ));
    refund(&shop, "E3")
        .expect(2)
        .error_mentions("is issued for \"1900000999\", not for mch_id");

    assert_eq!(shop.requests("/secapi/pay/refund"), 0, "nothing was sent");
}

#[test]
fn tls_handshake_failures_are_exit_2_and_say_what_failed() {
    let mut shop = Shop::new();
    shop.place("T1", "100");
    shop.pay("T1");
    // Valid, for this merchant, but issued by a CA the server does not know.
    let foreign = own_pki(
        &shop.env.path("foreign"),
        MerchantPki::generate(DEFAULT_MCH_ID).unwrap(),
    );
    shop.own_config(&pem_pair(&foreign.client_cert, &foreign.client_key));
    let out = refund(&shop, "F1")
        .expect(2)
        .error_mentions("the TLS handshake failed: the server")
        .hint_mentions("config check");
    assert!(
        out.stderr.contains("client certificate")
            && out.stderr.contains("the request was not sent"),
        "{}",
        out.stderr
    );

    // A CA file that does not vouch for the server: every call fails the same way.
    let dir = shop.emulator.cert_dir().to_str().unwrap().to_owned();
    let stale = shop.emulator.tls_base_url();
    let text = format!(
        "[profiles.own]\nmch_id = \"{DEFAULT_MCH_ID}\"\nappid = \"{}\"\napi_key_env = \"EMULATOR_KEY\"\n\
         api_base = \"{stale}\"\nca_cert = \"{}\"\ncert_p12 = \"{dir}/{DEFAULT_MCH_ID}/apiclient_cert.p12\"\n",
        wxpay_ops::emulator::merchant::DEFAULT_APPIDS[0],
        foreign.ca_cert.display(),
    );
    shop.config = shop.env.write_config(&text);
    for args in [
        vec!["order", "query", "--out-trade-no", "T1"],
        vec![
            "refund",
            "create",
            "--out-trade-no",
            "T1",
            "--total",
            "100",
            "--refund",
            "1",
            "--out-refund-no",
            "F2",
            "--yes",
        ],
    ] {
        shop.run(&args)
            .expect(2)
            .error_mentions("the TLS handshake failed: the server's certificate is not trusted");
    }
    assert!(shop.emulator.core().refunds().is_empty());
}
