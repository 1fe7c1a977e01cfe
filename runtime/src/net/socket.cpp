#include <ringlet/net/socket.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <ringlet/errors.hpp>

#include "io_request.hpp"

namespace ringlet::net {

namespace {

[[noreturn]] void fail(int err, const char* op) { throw IoError(err, op); }

}  // namespace

Socket Socket::open(int family, int type, int protocol) {
    const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) fail(errno, "socket");
    return Socket(fd);
}

void Socket::set_option(int level, int name, int value) {
    if (::setsockopt(fd_, level, name, &value, sizeof value) != 0) fail(errno, "setsockopt");
}

void Socket::bind(const SocketAddress& addr) {
    if (::bind(fd_, addr.get(), addr.size()) != 0) {
        throw IoError(errno, "bind " + addr.to_string());
    }
}

void Socket::listen(int backlog) {
    if (::listen(fd_, backlog) != 0) fail(errno, "listen");
}

SocketAddress Socket::local_address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) fail(errno, "getsockname");
    return SocketAddress::from(reinterpret_cast<sockaddr*>(&ss), len);
}

SocketAddress Socket::peer_address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) fail(errno, "getpeername");
    return SocketAddress::from(reinterpret_cast<sockaddr*>(&ss), len);
}

void Socket::close() {
    if (fd_ < 0) return;
    const int fd = std::exchange(fd_, -1);
    // Wake any task still blocked on this socket (its call fails with EBADF)
    // before the fd number can be reused. No shutdown(): other holders of the
    // socket (a dup, a forked child) must keep a working connection.
    detail::forget_fd(fd);
    if (::close(fd) != 0 && errno != EINTR) fail(errno, "close");
}

void Socket::reset() noexcept {
    try {
        close();
    } catch (const IoError& e) {
        std::fprintf(stderr, "ringlet: closing a socket: %s\n", e.what());
    }
}

std::size_t Stream::read(std::span<std::byte> buf) {
    detail::IoRequest r{detail::IoOpcode::recv, socket_.fd()};
    r.buf = buf.data();
    r.len = buf.size();
    const long res = detail::perform_io(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "recv");
    return static_cast<std::size_t>(res);
}

void Stream::read_exact(std::span<std::byte> buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
        const std::size_t n = read(buf.subspan(done));
        if (n == 0) {
            throw IoError(ENODATA, "read_exact: the peer closed after " + std::to_string(done) +
                                       " of " + std::to_string(buf.size()) + " bytes");
        }
        done += n;
    }
}

std::size_t Stream::write(std::span<const std::byte> buf) {
    detail::IoRequest r{detail::IoOpcode::send, socket_.fd()};
    r.buf = const_cast<std::byte*>(buf.data());
    r.len = buf.size();
    const long res = detail::perform_io(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "send");
    return static_cast<std::size_t>(res);
}

void Stream::write_all(std::span<const std::byte> buf) {
    while (!buf.empty()) buf = buf.subspan(write(buf));
}

void Stream::shutdown_write() {
    if (::shutdown(socket_.fd(), SHUT_WR) != 0) fail(errno, "shutdown");
}

}  // namespace ringlet::net
