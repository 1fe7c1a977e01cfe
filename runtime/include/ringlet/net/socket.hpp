// ringlet/net/socket.hpp — the owned socket shared by every socket type.
//
// Socket owns a non-blocking, close-on-exec socket fd. close() and the
// destructor first shut the socket down, which wakes any task still waiting
// on it (a read then returns 0, a write fails), so no task waits forever on
// a socket another task closed. Move-only.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include <ringlet/net/address.hpp>
#include <ringlet/time.hpp>

namespace ringlet::net {

class Socket {
public:
    Socket() noexcept = default;
    explicit Socket(int fd) noexcept : fd_(fd) {}
    Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Socket& operator=(Socket&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Socket() { reset(); }

    // Throws: IoError if close(2) fails (the fd is released regardless).
    void close();
    bool is_open() const noexcept { return fd_ >= 0; }
    int fd() const noexcept { return fd_; }
    // Gives up ownership of the fd.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

    SocketAddress local_address() const;
    SocketAddress peer_address() const;

    // Creates a socket of `family`/`type`. Throws: IoError.
    static Socket open(int family, int type, int protocol = 0);
    void set_option(int level, int name, int value);
    void bind(const SocketAddress& addr);
    void listen(int backlog);

private:
    void reset() noexcept;
    int fd_ = -1;
};

// A connected byte stream (TCP or Unix). Every call is a suspension point on a
// task and blocks a plain thread; wrap calls in a ringlet::Timeout for
// deadlines. Writes never raise SIGPIPE: a closed peer is an IoError (EPIPE or
// ECONNRESET).
class Stream {
public:
    Stream() noexcept = default;
    explicit Stream(Socket s) noexcept : socket_(std::move(s)) {}

    // Reads up to buf.size() bytes; 0 means the peer closed its side (EOF).
    // Suspends. Throws: IoError (e.g. ECONNRESET), Cancelled, TimeoutError.
    // Cancellation: nothing was read (the kernel has let go of `buf`).
    std::size_t read(std::span<std::byte> buf);
    std::size_t read(void* buf, std::size_t len) { return read({static_cast<std::byte*>(buf), len}); }
    // Reads exactly buf.size() bytes. Throws: IoError(ENODATA) if EOF comes
    // first, and as read(). Cancellation: some bytes may have been read.
    void read_exact(std::span<std::byte> buf);
    // Writes up to buf.size() bytes, returning how many were written.
    std::size_t write(std::span<const std::byte> buf);
    // Writes everything. Throws: IoError (EPIPE/ECONNRESET for a closed peer).
    // Cancellation: a prefix may have been written.
    void write_all(std::span<const std::byte> buf);
    void write_all(std::string_view text) {
        write_all(std::as_bytes(std::span(text.data(), text.size())));
    }
    // Sends FIN: the peer reads EOF; this side can still read.
    void shutdown_write();
    void close() { socket_.close(); }
    bool is_open() const noexcept { return socket_.is_open(); }
    SocketAddress local_address() const { return socket_.local_address(); }
    SocketAddress peer_address() const { return socket_.peer_address(); }
    Socket& socket() noexcept { return socket_; }

protected:
    Socket socket_;
};

}  // namespace ringlet::net
