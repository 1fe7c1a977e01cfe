// ringlet/ipc/pipe.hpp — pipe<T>(): two connected ends that carry T messages.
//
// pipe<T>() is Python's multiprocessing.Pipe: a connected pair of
// Connection<T>, over an AF_UNIX stream socketpair. A duplex pipe sends both
// ways; pipe<T>(false) returns {receive end, send end}. Each send() is one
// message and each recv() returns exactly one whole message, in order. Values
// cross as Codec<T> bytes (codec.hpp), so T may be any Encodable type.
//
// Who may use it: tasks (every call suspends only the task; the thread runs
// others, on io_uring or epoll, with Cancelled and Timeout delivered as
// usual) and plain threads (the calls block). Each end may be shared: sends
// from several tasks or threads never interleave their bytes, and nor do
// receives (one Mutex per direction).
//
// Processes: create the pipe before fork() (or ipc::Process::start()); the
// child inherits both ends (fds are close-on-exec, so exec'd programs do not).
// Each process then closes the end it does not use:
//
//   auto [parent_end, child_end] = ringlet::ipc::pipe<std::string>();
//   if (::fork() == 0) {                    // child
//       parent_end.close();
//       while (auto msg = child_end.recv()) child_end.send("echo: " + *msg);
//       ::_exit(0);                         // recv() gave nullopt: parent closed
//   }
//   child_end.close();                      // parent
//   parent_end.send("hello");
//   auto reply = parent_end.recv();         // "echo: hello"
//
// EOF (recv() returning nullopt) comes only once every copy of the peer end,
// in every process, is closed, which is why the unused ends must be closed.
// Fork while no call on the connection is in progress: recv() reads ahead, so
// a child forked after a recv() inherits a copy of the bytes already read.
//
// Ordering: messages arrive in send order; a send() happens-before the recv()
// that returns its message.
//
// Wire format: each message is a frame, a u64 payload length in host byte
// order followed by the payload, Codec<T>'s bytes. A frame's payload may be
// at most max_message_size() bytes (default 64 MiB, settable per end): a
// larger send() throws CodecError and sends nothing; a larger length from the
// peer makes recv() throw CodecError.
//
// Broken connections: when the byte stream can no longer be trusted (the
// peer announced an oversized message or closed in the middle of one), this
// end's receive side is broken: that recv() and every later one throw
// CodecError, and poll() returns true. A message that arrives whole but does
// not decode as T only costs that message: recv() throws CodecError and the
// next recv() reads the next message. A send interrupted after writing part
// of its frame breaks this end's send side (see send()).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <ringlet/errors.hpp>
#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/mutex.hpp>
#include <ringlet/net/socket.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ipc {

// The default for Connection::max_message_size(): 64 MiB of payload.
inline constexpr std::size_t default_max_message_size = std::size_t{64} << 20;

namespace detail {

inline constexpr std::size_t frame_header_size = sizeof(std::uint64_t);

// The untyped core of Connection<T>: length-prefixed frames over a stream
// socket, with one lock per direction and a read-ahead buffer. Lives on the
// heap so that a Connection can move while its Mutexes cannot.
class FrameStream {
public:
    // Called with each received payload; it may throw (the frame is consumed).
    using Consume = void (*)(void* context, std::string_view payload);

    FrameStream(net::Stream stream, bool readable, bool writable) noexcept;
    FrameStream(const FrameStream&) = delete;
    FrameStream& operator=(const FrameStream&) = delete;

    // Throws: UsageError if this end cannot send or is closed.
    void check_send() const;
    // Sends `frame`, whose first frame_header_size bytes are reserved for the
    // header (overwritten here) and the rest is the payload.
    void send(std::string& frame);
    // Receives one frame and hands its payload to `consume`; false at EOF or
    // when this end is closed.
    bool recv(Consume consume, void* context);
    bool poll(Duration timeout);
    void close();

    bool closed() const noexcept { return !stream_.is_open(); }
    int fd() const noexcept { return stream_.socket().fd(); }
    bool readable() const noexcept { return readable_; }
    bool writable() const noexcept { return writable_; }
    void set_max_message_size(std::size_t bytes) noexcept {
        max_message_size_.store(bytes, std::memory_order_relaxed);
    }
    std::size_t max_message_size() const noexcept {
        return max_message_size_.load(std::memory_order_relaxed);
    }

private:
    void check_recv(const char* operation) const;
    std::size_t buffered() const noexcept { return end_ - begin_; }
    bool frame_ready() const noexcept;
    bool fill(std::size_t want);
    bool end_of_stream();
    [[noreturn]] void break_recv(std::string why);
    void break_send() noexcept;

    mutable net::Stream stream_;  // mutable: Stream::socket() is non-const
    const bool readable_;
    const bool writable_;
    std::atomic<std::size_t> max_message_size_{default_max_message_size};

    Mutex send_lock_;  // guards the send side below
    bool send_broken_ = false;

    Mutex recv_lock_;  // guards the receive side below
    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;  // first unconsumed byte
    std::size_t end_ = 0;    // one past the last byte read
    bool eof_ = false;
    std::string recv_broken_;  // why the receive side is broken; empty if it is not
};

// Both ends of a new pipe: {first, second}. Duplex: both send and receive;
// else the first receives and the second sends. Throws: IoError.
std::pair<std::unique_ptr<FrameStream>, std::unique_ptr<FrameStream>> make_pipe(bool duplex);

[[noreturn]] void throw_empty_connection(const char* operation);

}  // namespace detail

template <class T>
class Connection;

// A new pipe: {a, b}. Duplex (the default): what a sends b receives and vice
// versa. duplex = false: a only receives and b only sends (Python's
// `r, w = Pipe(False)`). Throws: IoError (EMFILE …).
template <class T>
std::pair<Connection<T>, Connection<T>> pipe(bool duplex = true);

// One end of a pipe (or of any connected stream socket). Move-only; the
// destructor closes it. Usable from tasks and plain threads, and after fork()
// in either process. Destroy it only when no task or thread is in a call on
// it (closing it first wakes this thread's tasks that wait on it).
template <class T>
class Connection {
    static_assert(Encodable<T>,
                  "ringlet::ipc::Connection<T>: T has no Codec. Built in: trivially copyable "
                  "types, bool, std::string, std::vector, std::array, std::pair, std::tuple, "
                  "std::optional, std::variant, std::map, std::unordered_map (of encodable "
                  "types). Specialise ringlet::ipc::Codec<T> for your own (see codec.hpp).");

public:
    // An empty connection: closed(); send, recv and poll throw UsageError.
    Connection() noexcept = default;
    // Adopts a connected stream socket (a net::UnixStream or net::TcpStream,
    // e.g. one end of a connection to a peer that speaks the same framing) as
    // a duplex Connection. Throws: UsageError if `stream` is not open.
    explicit Connection(net::Stream stream);
    Connection(Connection&&) noexcept = default;
    Connection& operator=(Connection&&) noexcept = default;  // closes what it held
    ~Connection() = default;

    // Sends `value` as one message, waiting while the socket buffer is full.
    // Suspends. Throws: CodecError if the encoded value is larger than
    // max_message_size() (nothing is sent); IoError (EPIPE, ECONNRESET) if the
    // peer has closed (never SIGPIPE), or if the send side is broken;
    // UsageError on a receive-only, closed or empty end; Cancelled,
    // TimeoutError. Thread-safe. Cancellation: if nothing of the message was
    // written yet, nothing was sent and the connection is intact. If part of
    // it was, the send side is broken: its write half is shut down, so the
    // peer's recv() throws CodecError (closed mid-message) once it has read
    // the earlier messages, and every later send() throws IoError(EPIPE).
    void send(const T& value) {
        detail::FrameStream& s = stream("send");
        s.check_send();
        Writer w;
        w.bytes().append(detail::frame_header_size, '\0');
        Codec<T>::encode(w, value);
        s.send(w.bytes());
    }

    // Receives the next message, waiting until one has arrived whole.
    // Returns nullopt at EOF (the peer closed between messages) and once this
    // end is closed, including by close() while waiting.
    // Suspends. Throws: CodecError if the message does not decode as T (it is
    // dropped; the next recv() reads the next one), or if the receive side is
    // or becomes broken (see the file comment); IoError (ECONNRESET);
    // UsageError on a send-only or empty end; Cancelled, TimeoutError.
    // Thread-safe. Cancellation: nothing is lost. Bytes of a message already
    // read stay buffered and the next recv() completes that message.
    std::optional<T> recv() {
        std::optional<T> out;
        stream("recv").recv(
            [](void* context, std::string_view payload) {
                static_cast<std::optional<T>*>(context)->emplace(ipc::decode<T>(payload));
            },
            &out);
        return out;
    }

    // True if recv() has something to return without waiting for the peer: a
    // message, EOF, or an error (a broken or closed end). Waits up to
    // `timeout` for that; a zero timeout (the default) never waits and is not
    // a suspension point. When the peer is in the middle of sending a large
    // message, poll() may return true while recv() still waits for its end.
    // False, too, if another task or thread holds the receive side (is in
    // recv()) for the whole timeout.
    // Suspends (unless the timeout is zero). Throws: UsageError on a send-only
    // or empty end; IoError; Cancelled, TimeoutError. Thread-safe.
    bool poll(Duration timeout = Duration::zero()) { return stream("poll").poll(timeout); }

    // Closes this end (in this process). The peer reads EOF once every copy
    // of this end is closed. Tasks of this thread waiting on this end wake:
    // their recv() returns nullopt, their send() throws IoError(EBADF).
    // Idempotent. Throws: IoError if close(2) fails (the fd is released
    // anyway). Not safe while a plain thread or another thread's task is in a
    // call on this end.
    void close() {
        if (stream_) stream_->close();
    }
    bool closed() const noexcept { return !stream_ || stream_->closed(); }
    // The socket fd, -1 once closed. Only for poll/epoll-style readiness
    // checks: reading or writing it directly breaks the framing.
    int fd() const noexcept { return stream_ ? stream_->fd() : -1; }
    // Whether this end receives / sends (false for the wrong end of a
    // one-way pipe, and for an empty Connection).
    bool readable() const noexcept { return stream_ && stream_->readable(); }
    bool writable() const noexcept { return stream_ && stream_->writable(); }

    // The largest payload (Codec bytes) this end sends or accepts, both ways.
    // Default: default_max_message_size (64 MiB). Thread-safe.
    void set_max_message_size(std::size_t bytes) {
        stream("set_max_message_size").set_max_message_size(bytes);
    }
    std::size_t max_message_size() const noexcept {
        return stream_ ? stream_->max_message_size() : default_max_message_size;
    }

private:
    template <class U>
    friend std::pair<Connection<U>, Connection<U>> pipe(bool duplex);

    explicit Connection(std::unique_ptr<detail::FrameStream> s) noexcept : stream_(std::move(s)) {}

    detail::FrameStream& stream(const char* operation) {
        if (!stream_) detail::throw_empty_connection(operation);
        return *stream_;
    }

    std::unique_ptr<detail::FrameStream> stream_;
};

template <class T>
Connection<T>::Connection(net::Stream stream) {
    if (!stream.is_open()) {
        throw UsageError("ringlet::ipc::Connection: the stream to adopt is not open");
    }
    stream_ = std::make_unique<detail::FrameStream>(std::move(stream), true, true);
}

template <class T>
std::pair<Connection<T>, Connection<T>> pipe(bool duplex) {
    auto [first, second] = detail::make_pipe(duplex);
    return {Connection<T>(std::move(first)), Connection<T>(std::move(second))};
}

}  // namespace ringlet::ipc
