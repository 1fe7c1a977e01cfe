// tests/net/tls_test_certs.hpp — a throwaway PKI for the TLS suites, made
// with OpenSSL's API in a temporary directory: a CA, a server certificate it
// signs (SAN DNS:localhost and IP:127.0.0.1), a client certificate, and an
// unrelated CA that trusts none of them. EC P-256 keys, valid for a day.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace tlstest {

struct Pki {
    std::string dir;
    std::string ca_cert;  // trusts server_cert and client_cert
    std::string server_cert, server_key;
    std::string client_cert, client_key;
    std::string other_ca_cert;  // trusts nothing we present

    Pki(const Pki&) = delete;
    Pki& operator=(const Pki&) = delete;
    Pki();
    ~Pki() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

namespace detail {

inline void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

inline EVP_PKEY* new_key() {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    check(k != nullptr, "EVP_EC_gen");
    return k;
}

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by issuer/issuer_key (itself if null).
inline X509* make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
                       bool is_ca, const char* san, long serial) {
    X509* c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), -60);
    X509_gmtime_adj(X509_getm_notAfter(c), 24 * 3600);
    X509_set_pubkey(c, key);
    X509_NAME* name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509* iss = issuer ? issuer : c;
    if (is_ca) {
        add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(c, iss, NID_basic_constraints, "CA:FALSE");
        add_ext(c, iss, NID_ext_key_usage, "serverAuth,clientAuth");
    }
    add_ext(c, iss, NID_subject_key_identifier, "hash");
    if (san != nullptr) add_ext(c, iss, NID_subject_alt_name, san);
    check(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
    return c;
}

inline void write_cert(const std::string& path, X509* c) {
    FILE* f = std::fopen(path.c_str(), "w");
    check(f != nullptr, "fopen");
    PEM_write_X509(f, c);
    std::fclose(f);
}

inline void write_key(const std::string& path, EVP_PKEY* k) {
    FILE* f = std::fopen(path.c_str(), "w");
    check(f != nullptr, "fopen");
    PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
}

}  // namespace detail

inline Pki::Pki() {
    using namespace detail;
    char tmpl[] = "/tmp/ringlet-tls-XXXXXX";
    check(::mkdtemp(tmpl) != nullptr, "mkdtemp");
    dir = tmpl;
    ca_cert = dir + "/ca.pem";
    server_cert = dir + "/server.pem";
    server_key = dir + "/server.key";
    client_cert = dir + "/client.pem";
    client_key = dir + "/client.key";
    other_ca_cert = dir + "/other-ca.pem";

    EVP_PKEY* ca_key = new_key();
    X509* ca = make_cert(ca_key, "ringlet test CA", nullptr, nullptr, true, nullptr, 1);
    EVP_PKEY* srv_key = new_key();
    X509* srv = make_cert(srv_key, "localhost", ca, ca_key, false, "DNS:localhost,IP:127.0.0.1", 2);
    EVP_PKEY* cli_key = new_key();
    X509* cli = make_cert(cli_key, "ringlet test client", ca, ca_key, false, nullptr, 3);
    EVP_PKEY* other_key = new_key();
    X509* other = make_cert(other_key, "unrelated CA", nullptr, nullptr, true, nullptr, 4);

    write_cert(ca_cert, ca);
    write_cert(server_cert, srv);
    write_key(server_key, srv_key);
    write_cert(client_cert, cli);
    write_key(client_key, cli_key);
    write_cert(other_ca_cert, other);

    for (X509* c : {ca, srv, cli, other}) X509_free(c);
    for (EVP_PKEY* k : {ca_key, srv_key, cli_key, other_key}) EVP_PKEY_free(k);
}

}  // namespace tlstest
