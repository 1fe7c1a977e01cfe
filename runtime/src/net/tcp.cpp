#include <ringlet/net/tcp.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <string>

#include <ringlet/errors.hpp>

#include "io_request.hpp"

namespace ringlet::net {

namespace detail {

// Connects `socket` to `address` by `deadline`; IoError / TimeoutError.
void connect_socket(Socket& socket, const SocketAddress& address, TimePoint deadline,
                    const Timeout* own_scope_hint);

}  // namespace detail

void detail::connect_socket(Socket& socket, const SocketAddress& address, TimePoint deadline,
                            const Timeout*) {
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::connect, socket.fd()};
    r.addr = const_cast<sockaddr*>(address.get());
    r.addr_size = address.size();
    const long res = ringlet::detail::perform_io(r, deadline);
    if (res == -ETIMEDOUT && deadline != TimePoint::max() && Clock::now() >= deadline) {
        throw TimeoutError(nullptr);
    }
    if (res < 0) throw IoError(static_cast<int>(-res), "connect " + address.to_string());
}

TcpStream TcpStream::connect(const SocketAddress& address, Duration timeout) {
    Socket s = Socket::open(address.family(), SOCK_STREAM);
    detail::connect_socket(s, address, deadline_after(timeout), nullptr);
    return TcpStream(std::move(s));
}

TcpStream TcpStream::connect(std::string_view host, std::uint16_t port, Duration timeout) {
    const TimePoint deadline = deadline_after(timeout);
    const std::vector<SocketAddress> addresses = resolve(host, port);
    std::exception_ptr last;
    for (const SocketAddress& a : addresses) {
        try {
            Socket s = Socket::open(a.family(), SOCK_STREAM);
            detail::connect_socket(s, a, deadline, nullptr);
            return TcpStream(std::move(s));
        } catch (const IoError&) {
            last = std::current_exception();  // try the next address
        }
    }
    if (last) std::rethrow_exception(last);
    throw IoError(EHOSTUNREACH, "connect " + std::string(host) + ": no address");
}

void TcpStream::set_nodelay(bool on) { socket_.set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0); }

TcpListener TcpListener::bind(std::string_view host, std::uint16_t port, int backlog,
                              bool reuse_port) {
    const SocketAddress address =
        host.empty() ? SocketAddress::ip("0.0.0.0", port) : resolve(host, port).front();
    TcpListener l;
    l.socket_ = Socket::open(address.family(), SOCK_STREAM);
    l.socket_.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
    if (reuse_port) l.socket_.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
    if (address.family() == AF_INET6) l.socket_.set_option(IPPROTO_IPV6, IPV6_V6ONLY, 0);
    l.socket_.bind(address);
    l.socket_.listen(backlog);
    return l;
}

TcpStream TcpListener::accept() {
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::accept, socket_.fd()};
    const long res = ringlet::detail::perform_io(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "accept");
    return TcpStream(Socket(static_cast<int>(res)));
}

}  // namespace ringlet::net
