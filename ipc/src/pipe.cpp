#include <ringlet/ipc/pipe.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <span>

#include <ringlet/net/unix.hpp>

#include "io_request.hpp"
#include "read_buffer.hpp"

namespace ringlet::ipc::detail {

namespace {

// recv() reads ahead up to this much, so that small messages cost far less
// than one syscall each.
constexpr std::size_t read_chunk = std::size_t{64} << 10;
// An empty buffer larger than this (left by a big message) is given back.
constexpr std::size_t max_idle_buffer = std::size_t{1} << 20;

std::string size_text(std::size_t bytes) { return std::to_string(bytes) + " bytes"; }

}  // namespace

[[noreturn]] void throw_empty_connection(const char* operation) {
    throw UsageError(std::string("ringlet::ipc::Connection::") + operation +
                     ": the connection is empty (moved-from or default-constructed); use an end "
                     "returned by ringlet::ipc::pipe()");
}

FrameStream::FrameStream(net::Stream stream, bool readable, bool writable) noexcept
    : stream_(std::move(stream)), readable_(readable), writable_(writable) {}

void FrameStream::check_send() const {
    if (!writable_) {
        throw UsageError(
            "ringlet::ipc::Connection::send: this end of a one-way pipe only receives "
            "(pipe(false) returns {receive end, send end})");
    }
    if (closed()) throw UsageError("ringlet::ipc::Connection::send: this end is closed");
}

void FrameStream::check_recv(const char* operation) const {
    if (!readable_) {
        throw UsageError(std::string("ringlet::ipc::Connection::") + operation +
                         ": this end of a one-way pipe only sends (pipe(false) returns "
                         "{receive end, send end})");
    }
}

void FrameStream::send(std::string& frame) {
    check_send();
    const std::size_t payload = frame.size() - frame_header_size;
    const std::size_t limit = max_message_size();
    if (payload > limit) {
        throw CodecError("ringlet::ipc::Connection::send: a message of " + size_text(payload) +
                         " is over this connection's limit of " + size_text(limit) +
                         " (set_max_message_size); nothing was sent");
    }
    const std::uint64_t header = payload;
    std::memcpy(frame.data(), &header, sizeof header);

    std::lock_guard lock(send_lock_);
    if (closed()) throw UsageError("ringlet::ipc::Connection::send: this end is closed");
    if (send_broken_) {
        throw IoError(EPIPE,
                      "ringlet::ipc::Connection::send: the send side is broken (an earlier send "
                      "was interrupted in the middle of a message)");
    }
    const std::span<const std::byte> bytes = std::as_bytes(std::span(frame));
    std::size_t sent = 0;
    try {
        while (sent < bytes.size()) sent += stream_.write(bytes.subspan(sent));
    } catch (...) {
        // A frame cut short (Cancelled, TimeoutError, IoError) leaves the
        // peer waiting for bytes that will never come, and any later frame
        // would be read as the rest of this one: stop the stream here, so
        // the peer gets a clean "closed in the middle of a message".
        if (sent > 0) break_send();
        throw;
    }
}

void FrameStream::break_send() noexcept {
    send_broken_ = true;
    // Only the write half: the receive side (duplex) keeps working. Errors
    // (the peer is already gone) change nothing.
    if (!closed()) ::shutdown(fd(), SHUT_WR);
}

bool FrameStream::recv(Consume consume, void* context) {
    check_recv("recv");
    std::lock_guard lock(recv_lock_);
    if (!recv_broken_.empty()) throw CodecError(recv_broken_);
    if (closed() || eof_) return false;

    while (buffered() < frame_header_size) {
        if (!fill(frame_header_size)) return end_of_stream();
    }
    std::uint64_t length = 0;
    std::memcpy(&length, buffer_.get() + begin_, sizeof length);
    const std::size_t limit = max_message_size();
    if (length > limit) {
        // Checked before any allocation: a hostile length costs nothing.
        break_recv("ringlet::ipc::Connection::recv: the peer announced a message of " +
                   std::to_string(length) + " bytes, over this connection's limit of " +
                   size_text(limit) + " (set_max_message_size); the connection is broken");
    }
    const std::size_t total = frame_header_size + static_cast<std::size_t>(length);
    while (buffered() < total) {
        if (!fill(total)) return end_of_stream();
    }

    // The frame is consumed even if decoding throws: a message that does not
    // decode costs only itself, and the stream stays in step.
    struct Advance {
        FrameStream& self;
        std::size_t bytes;
        ~Advance() {
            self.begin_ += bytes;
            if (self.begin_ == self.end_) self.begin_ = self.end_ = 0;
        }
    } advance{*this, total};
    consume(context, std::string_view(buffer_.get() + begin_ + frame_header_size,
                                      static_cast<std::size_t>(length)));
    return true;
}

bool FrameStream::end_of_stream() {
    if (closed()) return false;  // closed here, by close(), while we waited
    if (buffered() == 0) {
        eof_ = true;
        return false;
    }
    std::string why =
        "ringlet::ipc::Connection::recv: connection closed in the middle of a message (";
    if (buffered() < frame_header_size) {
        why += "after " + std::to_string(buffered()) + " of the " +
               std::to_string(frame_header_size) + " header bytes)";
    } else {
        std::uint64_t length = 0;
        std::memcpy(&length, buffer_.get() + begin_, sizeof length);
        why += "after " + size_text(buffered() - frame_header_size) + " of " +
               std::to_string(length) + ")";
    }
    break_recv(std::move(why));
}

void FrameStream::break_recv(std::string why) {
    recv_broken_ = std::move(why);
    throw CodecError(recv_broken_);
}

bool FrameStream::frame_ready() const noexcept {
    if (buffered() < frame_header_size) return false;
    std::uint64_t length = 0;
    std::memcpy(&length, buffer_.get() + begin_, sizeof length);
    // An oversized length is "ready" too: recv() throws at once.
    return length > max_message_size() || buffered() - frame_header_size >= length;
}

// Reads once, making room first so that `want` bytes (counted from begin_)
// fit. False at EOF, or when this end was closed while reading.
bool FrameStream::fill(std::size_t want) {
    if (begin_ == end_) {
        begin_ = end_ = 0;
        if (capacity_ > max_idle_buffer && want <= max_idle_buffer) {
            buffer_.reset();
            capacity_ = 0;
        }
    }
    const std::size_t room = std::max(want, read_chunk);
    make_room(buffer_, capacity_, begin_, end_, room);
    std::size_t n = 0;
    try {
        // The kernel writes into buffer_ only during this call: perform_io
        // returns (or throws Cancelled/TimeoutError) only once it is done.
        n = stream_.read(buffer_.get() + end_, capacity_ - end_);
    } catch (const IoError&) {
        if (closed()) return false;
        throw;
    }
    end_ += n;
    return n != 0;
}

bool FrameStream::poll(Duration timeout) {
    check_recv("poll");
    const bool wait = timeout > Duration::zero();
    const TimePoint deadline = deadline_after(timeout);
    std::unique_lock lock(recv_lock_, std::defer_lock);
    if (wait ? !lock.try_lock_for(timeout) : !lock.try_lock()) return false;

    if (!recv_broken_.empty() || eof_ || closed() || frame_ready()) return true;
    if (!wait) {
        for (;;) {
            pollfd p{fd(), POLLIN, 0};
            const int n = ::poll(&p, 1, 0);
            if (n >= 0) return n > 0;
            if (errno != EINTR) throw IoError(errno, "poll");
        }
    }
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::poll, fd()};
    r.flags = POLLIN;
    const long res = ringlet::detail::perform_io(r, deadline);
    if (res == -ETIMEDOUT) return false;
    if (res < 0) {
        if (closed()) return true;  // close() while we waited: recv() returns nullopt
        throw_io_error(static_cast<int>(res), "poll");
    }
    return true;  // readable, or hung up / in error: recv() will not wait
}

void FrameStream::close() { stream_.close(); }

std::pair<std::unique_ptr<FrameStream>, std::unique_ptr<FrameStream>> make_pipe(bool duplex) {
    auto [a, b] = net::UnixStream::pair();
    return {std::make_unique<FrameStream>(std::move(a), /*readable=*/true, /*writable=*/duplex),
            std::make_unique<FrameStream>(std::move(b), /*readable=*/duplex, /*writable=*/true)};
}

}  // namespace ringlet::ipc::detail
