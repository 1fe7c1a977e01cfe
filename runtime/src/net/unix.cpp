#include <ringlet/net/unix.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <ringlet/errors.hpp>

#include "io_request.hpp"

namespace ringlet::net {

namespace detail {
void connect_socket(Socket& socket, const SocketAddress& address, TimePoint deadline,
                    const Timeout* own_scope_hint);
}  // namespace detail

UnixStream UnixStream::connect(std::string_view path, Duration timeout) {
    const SocketAddress address = SocketAddress::unix_path(path);
    Socket s = Socket::open(AF_UNIX, SOCK_STREAM);
    detail::connect_socket(s, address, deadline_after(timeout), nullptr);
    return UnixStream(std::move(s));
}

std::pair<UnixStream, UnixStream> UnixStream::pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        throw IoError(errno, "socketpair");
    }
    return {UnixStream(Socket(fds[0])), UnixStream(Socket(fds[1]))};
}

UnixListener& UnixListener::operator=(UnixListener&& o) noexcept {
    if (this != &o) {
        try {
            close();
        } catch (...) {
        }
        socket_ = std::move(o.socket_);
        path_ = std::move(o.path_);
    }
    return *this;
}

UnixListener::~UnixListener() {
    try {
        close();
    } catch (...) {
    }
}

UnixListener UnixListener::bind(std::string_view path, int backlog) {
    const SocketAddress address = SocketAddress::unix_path(path);
    UnixListener l;
    l.path_ = std::string(path);
    if (path.front() != '@') {
        // A socket file left by a dead server blocks bind(): remove it, but
        // only if nobody answers on it (a live server keeps its address).
        struct stat st {};
        if (::lstat(l.path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
            Socket probe = Socket::open(AF_UNIX, SOCK_STREAM);
            if (::connect(probe.fd(), address.get(), address.size()) == 0 || errno == EAGAIN) {
                throw IoError(EADDRINUSE, "bind " + l.path_ + ": a server is listening there");
            }
            if (errno == ECONNREFUSED) ::unlink(l.path_.c_str());
        }
    }
    l.socket_ = Socket::open(AF_UNIX, SOCK_STREAM);
    try {
        l.socket_.bind(address);
    } catch (...) {
        l.path_.clear();  // not ours: do not unlink someone else's file
        throw;
    }
    l.socket_.listen(backlog);
    return l;
}

UnixStream UnixListener::accept() {
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::accept, socket_.fd()};
    const long res = ringlet::detail::perform_io(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "accept");
    return UnixStream(Socket(static_cast<int>(res)));
}

void UnixListener::close() {
    if (!socket_.is_open()) return;
    socket_.close();
    if (!path_.empty() && path_.front() != '@') ::unlink(path_.c_str());
}

}  // namespace ringlet::net
