// tests/net/net_tls_test.cpp — TlsContext and TlsStream: round trips (under
// serve()), large transfers with a reader and a writer task at once, ALPN,
// SNI, client certificates, and every failure mode: an untrusted CA, a host
// name mismatch, a peer that closes mid-handshake, plaintext sent to the TLS
// port, a handshake that never completes (timeout argument and Timeout
// scope), renegotiation attempted by a TLS 1.2 peer, close_notify and a close
// without it, cancellation mid-read and mid-write leaving the stream usable,
// a plain thread as client, and configuration errors.
#include <atomic>
#include <csignal>
#include <chrono>
#include <cstring>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <sys/socket.h>

#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

#include "net_helpers.hpp"
#include "ringlet_test.hpp"
#include "tls_test_certs.hpp"

using namespace std::chrono_literals;
using namespace nettest;
using ringlet::net::TcpListener;
using ringlet::net::TcpStream;
using ringlet::net::TlsContext;
using ringlet::net::TlsError;
using ringlet::net::TlsStream;

namespace {

const tlstest::Pki& pki() {
    static tlstest::Pki p;
    return p;
}

TlsContext server_ctx() { return TlsContext::server(pki().server_cert, pki().server_key); }
TlsContext client_ctx() { return TlsContext::client(pki().ca_cert); }

std::string read_some(TlsStream& s, std::size_t max = 4096) {
    std::string buf(max, '\0');
    const std::size_t n = s.read(wbytes(buf));
    buf.resize(n);
    return buf;
}

std::string read_n(TlsStream& s, std::size_t n) {
    std::string out(n, '\0');
    s.read_exact(wbytes(out));
    return out;
}

bool contains(const std::string& hay, std::string_view needle) {
    return hay.find(needle) != std::string::npos;
}

// One accepted connection's server side, run by a task: the handshake and
// then whatever `body` does; the outcome (an error message or "") is kept.
struct ServerResult {
    std::string error;
    std::string sni, alpn, protocol, peer;
};

template <class Body>
ringlet::Task<ServerResult> serve_one(TcpListener& l, const TlsContext& ctx, Body body,
                                      ringlet::Duration timeout = 10s) {
    return ringlet::spawn([&l, ctx, body, timeout]() mutable {
        ServerResult r;
        TcpStream tcp = l.accept();
        try {
            TlsStream s = TlsStream::accept(std::move(tcp), ctx, timeout);
            r.sni = s.server_name();
            r.alpn = s.alpn();
            r.protocol = s.protocol();
            r.peer = s.peer_subject();
            body(s);
        } catch (const TlsError& e) {
            r.error = e.what();
        } catch (const ringlet::TimeoutError& e) {
            r.error = std::string("timeout: ") + e.what();
        } catch (const ringlet::IoError& e) {
            r.error = std::string("io: ") + e.what();
        }
        return r;
    });
}

// A raw TCP client that sends `bytes` and then closes (or keeps the socket).
TcpStream raw_client(std::uint16_t port, std::string_view bytes = {}) {
    TcpStream c = TcpStream::connect("127.0.0.1", port);
    if (!bytes.empty()) c.write_all(bytes);
    return c;
}

}  // namespace

// ---------------------------------------------------------------- round trips

RINGLET_TEST(TlsStreamTest, RoundTripUnderServe) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    const TlsContext sctx = server_ctx();
    std::atomic<int> handled{0};
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(l, [&](TcpStream tcp) {
            TlsStream s = TlsStream::accept(std::move(tcp), sctx, 5s);
            for (;;) {
                std::string msg = read_some(s);
                if (msg.empty()) break;
                s.write_all("echo:" + msg);
            }
            s.close();
            ++handled;
        });
    });
    for (int i = 0; i < 3; ++i) {
        TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
        EXPECT_EQ(c.protocol(), "TLSv1.3");
        EXPECT_EQ(c.peer_subject(), "CN=localhost");
        c.write_all("hello " + std::to_string(i));
        EXPECT_EQ(read_n(c, 12), "echo:hello " + std::to_string(i));
        c.shutdown();
        EXPECT_EQ(read_some(c), "");  // the server's close_notify: clean EOF
        c.close();
        EXPECT_FALSE(c.is_open());
    }
    ASSERT_TRUE(yield_until([&] { return handled == 3; }));
    server.cancel();
    server.join();
}

RINGLET_TEST(TlsStreamTest, ConnectByIpChecksTheAddressAndSendsNoSni) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream& s) { s.write_all("x"); });
    TlsStream c = TlsStream::connect("127.0.0.1", l.port(), client_ctx());
    EXPECT_EQ(read_n(c, 1), "x");
    ServerResult r = srv.get();
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.sni, "");  // RFC 6066: no SNI for an address
}

RINGLET_TEST(TlsStreamTest, LargeTransferBothWaysWithReaderAndWriterTasks) {
    constexpr std::size_t size = 8 * 1024 * 1024;
    const std::string up = pattern(size, 1), down = pattern(size, 2);
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    std::string server_got;
    auto srv = serve_one(l, server_ctx(), [&](TlsStream& s) {
        // The server writes its 8 MiB while the client writes its own: both
        // sides need a reader and a writer task, or both would block.
        auto writer = ringlet::spawn([&] { s.write_all(down); });
        server_got = read_n(s, size);
        writer.get();
        s.shutdown();
    });
    TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
    auto writer = ringlet::spawn([&] { c.write_all(up); });
    std::string got;
    std::string buf(100000, '\0');  // odd-sized reads across record boundaries
    for (;;) {
        const std::size_t n = c.read(wbytes(buf));
        if (n == 0) break;
        got.append(buf.data(), n);
    }
    writer.get();
    ServerResult r = srv.get();
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(got.size(), size);
    EXPECT_EQ(fnv1a(got), fnv1a(down));
    EXPECT_EQ(fnv1a(server_got), fnv1a(up));
}

RINGLET_TEST(TlsStreamTest, ManyConcurrentConnections) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    const TlsContext sctx = server_ctx();
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(l, [&](TcpStream tcp) {
            TlsStream s = TlsStream::accept(std::move(tcp), sctx, 5s);
            std::string m = read_some(s);
            s.write_all(m);
            s.close();
        });
    });
    const TlsContext cctx = client_ctx();
    ringlet::Group g;
    std::atomic<int> ok{0};
    for (int i = 0; i < 50; ++i) {
        g.spawn([&, i] {
            TlsStream c = TlsStream::connect("localhost", l.port(), cctx);
            const std::string m = "client " + std::to_string(i);
            c.write_all(m);
            if (read_n(c, m.size()) == m) ++ok;
            c.close();
        });
    }
    g.join();
    EXPECT_EQ(ok, 50);
    server.cancel();
    server.join();
}

// ---------------------------------------------------------------- ALPN, SNI, client certs

RINGLET_TEST(TlsStreamTest, AlpnPicksTheServersPreferenceAmongTheOffered) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    TlsContext sctx = server_ctx();
    sctx.set_alpn({"http/1.1", "h2"});
    auto srv = serve_one(l, sctx, [](TlsStream&) {});
    TlsContext cctx = client_ctx();
    cctx.set_alpn({"h2", "http/1.1"});
    TlsStream c = TlsStream::connect("localhost", l.port(), cctx);
    EXPECT_EQ(c.alpn(), "http/1.1");
    EXPECT_EQ(srv.get().alpn, "http/1.1");
}

RINGLET_TEST(TlsStreamTest, AlpnWithoutACommonProtocolGoesOnWithout) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    TlsContext sctx = server_ctx();
    sctx.set_alpn({"h2"});
    auto srv = serve_one(l, sctx, [](TlsStream& s) { s.write_all("ok"); });
    TlsContext cctx = client_ctx();
    cctx.set_alpn({"imap"});
    TlsStream c = TlsStream::connect("localhost", l.port(), cctx);
    EXPECT_EQ(read_n(c, 2), "ok");
    EXPECT_EQ(c.alpn(), "");
    ServerResult r = srv.get();
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.alpn, "");
}

RINGLET_TEST(TlsStreamTest, ServerSeesTheSniName) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream&) {});
    TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
    EXPECT_EQ(c.server_name(), "localhost");
    EXPECT_EQ(srv.get().sni, "localhost");
}

RINGLET_TEST(TlsStreamTest, ClientCertificateRequiredAndChecked) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    TlsContext sctx = server_ctx();
    sctx.require_client_certificate(pki().ca_cert);
    {  // Without a certificate: the server refuses the handshake.
        auto srv = serve_one(l, sctx, [](TlsStream& s) { s.write_all("x"); });
        std::string client_error;
        try {
            TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
            read_some(c);  // TLS 1.3: the refusal arrives after the client's Finished
        } catch (const TlsError& e) {
            client_error = e.what();
        }
        EXPECT_TRUE(contains(srv.get().error, "peer did not return a certificate"))
            << srv.get().error;
        EXPECT_TRUE(contains(client_error, "alert")) << client_error;
    }
}

// ---------------------------------------------------------------- verification failures

RINGLET_TEST(TlsStreamTest, UntrustedCaFailsNamingTheReason) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream&) {});
    try {
        TlsStream::connect("localhost", l.port(), TlsContext::client(pki().other_ca_cert));
        FAIL() << "the handshake succeeded with an untrusted CA";
    } catch (const TlsError& e) {
        EXPECT_TRUE(contains(e.reason(), "certificate verify failed")) << e.what();
        EXPECT_TRUE(contains(e.reason(), "unable to get local issuer certificate")) << e.what();
    }
    // The server learns why from the client's alert.
    EXPECT_TRUE(contains(srv.get().error, "unknown ca")) << srv.get().error;
}

RINGLET_TEST(TlsStreamTest, HostNameMismatchFailsNamingTheReason) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream&) {});
    try {
        TlsStream::client(TcpStream::connect("127.0.0.1", l.port()), client_ctx(),
                          "www.example.com");
        FAIL() << "the handshake accepted a certificate for another name";
    } catch (const TlsError& e) {
        EXPECT_TRUE(contains(e.reason(), "hostname mismatch")) << e.what();
    }
    srv.join();
}

RINGLET_TEST(TlsStreamTest, IpAddressMismatchFails) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream&) {});
    try {
        TlsStream::client(TcpStream::connect("127.0.0.1", l.port()), client_ctx(), "127.0.0.2");
        FAIL() << "the handshake accepted a certificate for another address";
    } catch (const TlsError& e) {
        EXPECT_TRUE(contains(e.reason(), "IP address mismatch")) << e.what();
    }
    srv.join();
}

RINGLET_TEST(TlsStreamTest, VerifyOffAdmitsAnyServer) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream& s) { s.write_all("in"); });
    TlsStream c = TlsStream::client(TcpStream::connect("127.0.0.1", l.port()),
                                    TlsContext::client({}, /*verify=*/false), "wrong.example");
    EXPECT_EQ(read_n(c, 2), "in");
    EXPECT_EQ(srv.get().error, "");
}

RINGLET_TEST(TlsStreamTest, SystemStoreDoesNotTrustATestCa) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream&) {});
    EXPECT_THROW(TlsStream::connect("localhost", l.port(), TlsContext::client()), TlsError);
    srv.join();
}

// ---------------------------------------------------------------- broken handshakes

RINGLET_TEST(TlsStreamTest, ClientClosesMidHandshake) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream&) {});
    {
        // The start of a ClientHello record (handshake, TLS 1.0 record
        // version, 512 bytes announced), then the connection ends.
        TcpStream c = raw_client(l.port(), std::string_view("\x16\x03\x01\x02\x00\x01", 6));
        c.close();
    }
    const std::string e = srv.get().error;
    EXPECT_TRUE(contains(e, "closed the connection during the handshake")) << e;
}

RINGLET_TEST(TlsStreamTest, ServerClosesMidHandshake) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = ringlet::spawn([&] {
        TcpStream s = l.accept();
        std::string hello(64, '\0');
        s.read(wbytes(hello));  // part of the ClientHello, then close
    });
    try {
        TlsStream::connect("localhost", l.port(), client_ctx());
        FAIL() << "a handshake with a server that closed succeeded";
    } catch (const TlsError& e) {
        EXPECT_TRUE(contains(e.what(), "closed the connection during the handshake")) << e.what();
    } catch (const ringlet::IoError& e) {
        // A reset instead of a FIN (unread ClientHello bytes) is an IoError.
        EXPECT_EQ(e.code(), std::errc::connection_reset) << e.what();
    }
    srv.join();
}

RINGLET_TEST(TlsStreamTest, PlaintextHttpToTheTlsPort) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream&) {});
    TcpStream c = raw_client(l.port(), "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const std::string e = srv.get().error;
    EXPECT_TRUE(contains(e, "http request")) << e;
    EXPECT_TRUE(contains(e, "plaintext HTTP")) << e;
    // The server closed the connection: the client reads EOF (or a reset).
    std::string buf(64, '\0');
    try {
        while (c.read(wbytes(buf)) > 0) {
        }
    } catch (const ringlet::IoError&) {
    }
}

RINGLET_TEST(TlsStreamTest, GarbageToTheTlsPort) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream&) {});
    TcpStream c = raw_client(l.port(), std::string(300, 'Z'));
    const std::string e = srv.get().error;
    EXPECT_TRUE(contains(e, "TLS handshake (server)")) << e;
    EXPECT_FALSE(contains(e, "timeout")) << e;
}

RINGLET_TEST(TlsStreamTest, HandshakeThatNeverCompletesTimesOut) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(
        l, server_ctx(), [](TlsStream&) {}, 100ms);
    TcpStream silent = raw_client(l.port());  // connects, never speaks
    const std::string e = srv.get().error;
    EXPECT_TRUE(contains(e, "timeout")) << e;
}

RINGLET_TEST(TlsStreamTest, HandshakeUnderATimeoutScope) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto silent_server = ringlet::spawn([&] {
        TcpStream s = l.accept();
        std::string buf(4096, '\0');
        while (s.read(wbytes(buf)) > 0) {
        }
    });
    {
        ringlet::Timeout limit(100ms);
        try {
            TlsStream::connect("localhost", l.port(), client_ctx());
            ADD_FAILURE() << "the handshake with a silent server completed";
        } catch (const ringlet::TimeoutError& e) {
            EXPECT_EQ(e.scope(), &limit);
        }
    }
    silent_server.cancel();
    silent_server.join();
}

RINGLET_TEST(TlsStreamTest, ConnectTimeoutCoversTheHandshake) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto silent_server = ringlet::spawn([&] {
        TcpStream s = l.accept();
        std::string buf(4096, '\0');
        while (s.read(wbytes(buf)) > 0) {
        }
    });
    EXPECT_THROW(TlsStream::connect("localhost", l.port(), client_ctx(), 100ms),
                 ringlet::TimeoutError);
    silent_server.cancel();
    silent_server.join();
}

// ---------------------------------------------------------------- renegotiation

namespace {

// A TLS 1.2 OpenSSL client on a blocking socket (a plain thread) that
// completes a handshake, sends "before", asks to renegotiate, then sends
// "after" and reads one reply. What happened is returned in `log`.
void renegotiating_client(std::uint16_t port, std::string& log) {
    std::signal(SIGPIPE, SIG_IGN);  // OpenSSL's write(2) to a server that gave up
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    TcpStream tcp = TcpStream::connect("127.0.0.1", port);  // a plain thread: blocking calls
    const int fd = tcp.socket().fd();
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        log += "connect failed;";
    } else {
        SSL_write(ssl, "before", 6);
        if (SSL_renegotiate(ssl) != 1) log += "renegotiate refused locally;";
        const int rc = SSL_do_handshake(ssl);
        log += rc == 1 ? "renegotiation handshake returned 1;" : "renegotiation handshake failed;";
        char buf[64];
        const int n = SSL_read(ssl, buf, sizeof buf);
        if (n > 0) log += "read:" + std::string(buf, static_cast<std::size_t>(n)) + ";";
        log += SSL_renegotiate_pending(ssl) ? "still pending;" : "";
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

}  // namespace

RINGLET_TEST(TlsStreamTest, RenegotiationFromTheClientIsRefused) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream& s) {
        EXPECT_EQ(s.protocol(), "TLSv1.2");
        EXPECT_EQ(read_n(s, 6), "before");
        // The ClientHello that asks to renegotiate is answered with a
        // no_renegotiation alert; the connection carries on or ends with a
        // TlsError, but no second handshake happens.
        s.write_all("reply");
        std::string rest(64, '\0');
        s.read(wbytes(rest));
    });
    std::string log;
    std::thread client([&] { renegotiating_client(l.port(), log); });
    ServerResult r = srv.get();
    ringlet::blocking([&] { client.join(); });
    EXPECT_TRUE(r.error.empty() || contains(r.error, "TLS read")) << r.error;
    EXPECT_TRUE(contains(log, "renegotiation handshake failed") || contains(log, "still pending"))
        << log;
    std::printf("renegotiation: client saw: %s; server: %s\n", log.c_str(), r.error.c_str());
}

// ---------------------------------------------------------------- ends

RINGLET_TEST(TlsStreamTest, CloseNotifyIsACleanEofAndTheOtherDirectionStillWorks) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream& s) {
        EXPECT_EQ(read_n(s, 4), "last");
        EXPECT_EQ(read_some(s), "");  // the client's close_notify
        EXPECT_EQ(read_some(s), "");  // and it stays at EOF
        s.write_all("answer after your close_notify");
        s.shutdown();
    });
    TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
    c.write_all("last");
    c.shutdown();
    EXPECT_EQ(read_n(c, 30), "answer after your close_notify");
    EXPECT_EQ(read_some(c), "");
    EXPECT_EQ(srv.get().error, "");
}

RINGLET_TEST(TlsStreamTest, CloseWithoutCloseNotifyIsReported) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream& s) {
        EXPECT_EQ(read_n(s, 3), "abc");
        read_some(s);
    });
    {
        TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
        c.write_all("abc");
        c.tcp().shutdown_write();  // FIN without close_notify (a truncation)
        std::string buf(64, '\0');
        try {
            c.read(wbytes(buf));
        } catch (const std::exception&) {
        }
    }
    const std::string e = srv.get().error;
    EXPECT_TRUE(contains(e, "unexpected eof")) << e;
}

RINGLET_TEST(TlsStreamTest, PeerResetIsAnIoError) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = serve_one(l, server_ctx(), [](TlsStream& s) { read_some(s); });
    {
        TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
        linger lg{1, 0};  // close with RST
        ::setsockopt(c.tcp().socket().fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    const std::string e = srv.get().error;
    EXPECT_TRUE(contains(e, "io:") || contains(e, "unexpected eof")) << e;
}

// ---------------------------------------------------------------- cancellation

RINGLET_TEST(TlsStreamTest, CancelMidReadLeavesTheStreamUsable) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    ringlet::Event go;
    auto srv = serve_one(l, server_ctx(), [&](TlsStream& s) {
        s.write_all("part one");
        go.wait();
        s.write_all("part two");
        EXPECT_EQ(read_n(s, 4), "done");
    });
    TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
    EXPECT_EQ(read_n(c, 8), "part one");
    auto reader = ringlet::spawn([&] { return read_some(c); });
    settle();  // the reader waits in recv now (correctness does not depend on it)
    reader.cancel();
    EXPECT_TRUE(reader.join(5s));
    EXPECT_TRUE(reader.cancelled());
    go.set();
    EXPECT_EQ(read_n(c, 8), "part two");
    c.write_all("done");
    EXPECT_EQ(srv.get().error, "");
}

RINGLET_TEST(TlsStreamTest, TimeoutMidWriteKeepsRecordsWhole) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    ringlet::Event go;
    std::string server_got;
    auto srv = serve_one(l, server_ctx(), [&](TlsStream& s) {
        go.wait();  // not reading yet: the client's write fills the socket buffers
        std::string buf(65536, '\0');
        for (;;) {
            const std::size_t n = s.read(wbytes(buf));
            if (n == 0) break;
            server_got.append(buf.data(), n);
        }
    });
    TlsStream c = TlsStream::connect("localhost", l.port(), client_ctx());
    const std::string big = pattern(32 * 1024 * 1024, 7);
    bool timed_out = false;
    try {
        ringlet::Timeout limit(200ms);
        c.write_all(big);
    } catch (const ringlet::TimeoutError&) {
        timed_out = true;
    }
    ASSERT_TRUE(timed_out);
    go.set();
    c.write_all("TAIL");  // goes out after the queued rest of the cut-short write
    c.shutdown();
    EXPECT_EQ(srv.get().error, "");
    ASSERT_GE(server_got.size(), 4u);
    const std::size_t prefix = server_got.size() - 4;
    EXPECT_LT(prefix, big.size());
    EXPECT_EQ(server_got.substr(prefix), "TAIL");
    EXPECT_EQ(fnv1a(server_got.substr(0, prefix)), fnv1a(std::string_view(big).substr(0, prefix)));
}

// ---------------------------------------------------------------- plain threads, config

TEST(TlsStreamThreadTest, PlainThreadClientAgainstATaskServer) {
    ringlet::run([] {
        TcpListener l = TcpListener::bind("127.0.0.1", 0);
        auto srv = serve_one(l, server_ctx(), [](TlsStream& s) { s.write_all(read_n(s, 5)); });
        const std::uint16_t port = l.port();
        std::string got, error;
        std::thread t([&] {  // no scheduler: every call blocks this thread
            try {
                TlsStream c = TlsStream::connect("localhost", port, client_ctx());
                c.write_all("plain");
                got = read_n(c, 5);
                c.close();
            } catch (const std::exception& e) {
                error = e.what();
            }
        });
        EXPECT_EQ(srv.get().error, "");
        ringlet::blocking([&] { t.join(); });
        EXPECT_EQ(error, "");
        EXPECT_EQ(got, "plain");
    });
}

TEST(TlsContextTest, ConfigurationErrors) {
    EXPECT_THROW(TlsContext::server("/nonexistent/cert.pem", pki().server_key), TlsError);
    EXPECT_THROW(TlsContext::server(pki().server_cert, "/nonexistent/key.pem"), TlsError);
    EXPECT_THROW(TlsContext::server(pki().server_cert, pki().client_key), TlsError);  // mismatch
    EXPECT_THROW(TlsContext::client("/nonexistent/ca.pem"), TlsError);
    try {
        TlsContext::server(pki().server_cert, pki().client_key);
    } catch (const TlsError& e) {
        EXPECT_TRUE(contains(e.what(), "mismatch")) << e.what();
    }
    TlsContext c = client_ctx();
    EXPECT_THROW(c.set_alpn({""}), ringlet::UsageError);
    EXPECT_THROW(c.set_alpn({std::string(256, 'x')}), ringlet::UsageError);
    EXPECT_THROW(c.require_client_certificate(pki().ca_cert), ringlet::UsageError);
    EXPECT_FALSE(c.is_server());
    EXPECT_TRUE(server_ctx().is_server());
}

RINGLET_TEST(TlsContextTest, WrongSideContextIsAUsageError) {
    TcpListener l = TcpListener::bind("127.0.0.1", 0);
    auto srv = ringlet::spawn([&] { return l.accept(); });
    TcpStream c = TcpStream::connect("127.0.0.1", l.port());
    TcpStream s = srv.get();
    EXPECT_THROW(TlsStream::accept(std::move(s), client_ctx()), ringlet::UsageError);
    EXPECT_THROW(TlsStream::client(std::move(c), server_ctx(), "localhost"), ringlet::UsageError);
    TlsStream empty;
    EXPECT_FALSE(empty.is_open());
    std::string buf(4, '\0');
    EXPECT_THROW(empty.read(wbytes(buf)), ringlet::UsageError);
}
