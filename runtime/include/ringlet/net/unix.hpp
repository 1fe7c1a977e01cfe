// ringlet/net/unix.hpp — Unix-domain stream sockets (paths and abstract names).
//
// A path starting with '@' is an abstract socket (Linux): no file is created.
// UnixListener removes a stale socket file before binding and its own file
// when it is closed.
#pragma once

#include <string>
#include <string_view>

#include <ringlet/net/socket.hpp>
#include <ringlet/time.hpp>

namespace ringlet::net {

class UnixStream : public Stream {
public:
    UnixStream() noexcept = default;
    explicit UnixStream(Socket s) noexcept : Stream(std::move(s)) {}
    // Suspends. Throws: IoError (ENOENT, ECONNREFUSED …), TimeoutError, Cancelled.
    static UnixStream connect(std::string_view path, Duration timeout = forever);
    // A connected pair (socketpair), e.g. to talk to a thread. Throws: IoError.
    static std::pair<UnixStream, UnixStream> pair();
};

class UnixListener {
public:
    UnixListener() noexcept = default;
    UnixListener(UnixListener&&) noexcept = default;
    UnixListener& operator=(UnixListener&&) noexcept;
    ~UnixListener();
    // Throws: IoError (EADDRINUSE for a live abstract name …), UsageError
    // (path too long).
    static UnixListener bind(std::string_view path, int backlog = 1024);
    // Suspends. Throws: IoError, Cancelled, TimeoutError.
    UnixStream accept();
    const std::string& path() const noexcept { return path_; }
    void close();
    int fd() const noexcept { return socket_.fd(); }

private:
    Socket socket_;
    std::string path_;
};

}  // namespace ringlet::net
