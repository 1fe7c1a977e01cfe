// tests/hooks/hooks_openssl_test.cpp — OpenSSL's blocking SSL_read/SSL_write over hooked sockets.
//
// A TLS server task and a TLS client task on the same thread, both using
// OpenSSL's blocking API on plain blocking sockets (SSL_set_fd): the
// handshake needs both sides to take turns, which only works if each
// blocking read inside OpenSSL suspends its task alone.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ringlet/hooks.hpp>
#include <ringlet/ringlet.hpp>

namespace {

// A self-signed P-256 certificate for "localhost", made in memory.
struct SelfSigned {
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    SelfSigned() {
        key = EVP_EC_gen("P-256");
        cert = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
        X509_set_pubkey(cert, key);
        X509_NAME* name = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(cert, name);
        X509_sign(cert, key, EVP_sha256());
    }
    ~SelfSigned() {
        X509_free(cert);
        EVP_PKEY_free(key);
    }
};

std::string ssl_error() {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    return buf;
}

}  // namespace

TEST(HooksOpensslTest, BlockingSslReadWriteBetweenTwoTasksOfOneThread) {
    SelfSigned id;
    ASSERT_NE(id.key, nullptr);
    std::string server_got, client_got, server_error, client_error;
    ringlet::run([&] {
        ASSERT_TRUE(ringlet::hooks_installed());
        const int l = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        ASSERT_EQ(::listen(l, 4), 0);
        socklen_t len = sizeof sa;
        ::getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len);

        auto server = ringlet::spawn([&] {
            SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
            SSL_CTX_use_certificate(ctx, id.cert);
            SSL_CTX_use_PrivateKey(ctx, id.key);
            const int c = ::accept(l, nullptr, nullptr);
            SSL* ssl = SSL_new(ctx);
            SSL_set_fd(ssl, c);
            if (SSL_accept(ssl) != 1) {
                server_error = "SSL_accept: " + ssl_error();
            } else {
                char buf[64];
                const int n = SSL_read(ssl, buf, sizeof buf);  // blocks this task only
                if (n > 0) server_got.assign(buf, static_cast<std::size_t>(n));
                const std::string big(1 << 20, 's');  // larger than the socket buffers
                if (SSL_write(ssl, big.data(), static_cast<int>(big.size())) != int(big.size())) {
                    server_error = "SSL_write: " + ssl_error();
                }
                SSL_shutdown(ssl);
            }
            SSL_free(ssl);
            ::close(c);
            SSL_CTX_free(ctx);
        });
        auto client = ringlet::spawn([&] {
            SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
            X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), id.cert);
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
            const int s = ::socket(AF_INET, SOCK_STREAM, 0);
            if (::connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
                client_error = "connect failed";
                return;
            }
            SSL* ssl = SSL_new(ctx);
            SSL_set_fd(ssl, s);
            SSL_set_tlsext_host_name(ssl, "localhost");
            SSL_set1_host(ssl, "localhost");
            if (SSL_connect(ssl) != 1) {
                client_error = "SSL_connect: " + ssl_error();
            } else {
                SSL_write(ssl, "ping over tls", 13);
                char buf[16384];
                for (;;) {
                    const int n = SSL_read(ssl, buf, sizeof buf);
                    if (n <= 0) break;
                    client_got.append(buf, static_cast<std::size_t>(n));
                }
            }
            SSL_free(ssl);
            ::close(s);
            SSL_CTX_free(ctx);
        });
        server.join();
        client.join();
        ::close(l);
    });
    EXPECT_EQ(server_error, "");
    EXPECT_EQ(client_error, "");
    EXPECT_EQ(server_got, "ping over tls");
    EXPECT_EQ(client_got, std::string(1 << 20, 's'));
}
