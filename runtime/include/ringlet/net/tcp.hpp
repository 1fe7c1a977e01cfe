// ringlet/net/tcp.hpp — TCP listeners and streams.
//
// TcpListener::accept and TcpStream::connect suspend the calling task (or
// block a plain thread). Hosts may be IPv4/IPv6 literals or names (resolved
// without stalling the scheduler). Sockets are non-blocking and close-on-exec.
#pragma once

#include <cstdint>
#include <string_view>

#include <ringlet/net/address.hpp>
#include <ringlet/net/socket.hpp>
#include <ringlet/time.hpp>

namespace ringlet::net {

class TcpStream : public Stream {
public:
    TcpStream() noexcept = default;
    explicit TcpStream(Socket s) noexcept : Stream(std::move(s)) {}

    // Connects to the first address of `host` that accepts, within `timeout`.
    // Suspends. Throws: IoError (ECONNREFUSED, ENETUNREACH …), TimeoutError
    // when `timeout` passes (or an enclosing scope's), Cancelled.
    static TcpStream connect(std::string_view host, std::uint16_t port,
                             Duration timeout = forever);
    static TcpStream connect(const SocketAddress& address, Duration timeout = forever);

    // TCP_NODELAY: send small writes at once (no Nagle delay).
    void set_nodelay(bool on = true);
};

class TcpListener {
public:
    TcpListener() noexcept = default;
    // Binds and listens. `host` "" or "0.0.0.0" = all IPv4, "::" = all IPv6
    // (dual stack); port 0 picks a free port (see port()). `reuse_port` lets
    // several listeners (one per thread) share the port.
    // Throws: IoError (EADDRINUSE …).
    static TcpListener bind(std::string_view host, std::uint16_t port, int backlog = 1024,
                            bool reuse_port = false);

    // Waits for the next connection. Suspends. Throws: IoError (EMFILE when
    // out of fds: serve() backs off and retries), Cancelled, TimeoutError.
    TcpStream accept();
    std::uint16_t port() const { return socket_.local_address().port(); }
    SocketAddress local_address() const { return socket_.local_address(); }
    void close() { socket_.close(); }
    bool is_open() const noexcept { return socket_.is_open(); }
    int fd() const noexcept { return socket_.fd(); }

private:
    Socket socket_;
};

}  // namespace ringlet::net
