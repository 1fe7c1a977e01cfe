// tests/fuzz/pipe_frames.cpp — ipc::pipe's frame reader against a hostile peer.
//
// Input: one config byte (the message type and the receiving end's
// max_message_size), then the raw bytes the peer end sends: a thread writes
// them in pieces (sizes from the config) and closes its end, while this
// thread calls recv() until EOF or a broken stream. What recv() returns must
// be exactly what a reference reading of the same bytes predicts: each whole
// frame (u64 length, payload) gives decode<T>(payload) or the CodecError of
// that message alone; the end gives nullopt if it falls between frames, and
// otherwise (cut frame, oversized length) a CodecError that every later
// recv() repeats. Never a crash, leak, hang, or allocation beyond the limit.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <poll.h>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <variant>
#include <vector>

#include <sys/socket.h>

#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/pipe.hpp>

namespace {

namespace ipc = ringlet::ipc;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "pipe_frames: %s\n", what);
    std::abort();
}

// What recv() should give for one step of the reference reading.
template <class T>
struct Expected {
    enum Kind { value, bad_message, eof, broken } kind;
    std::optional<T> v;
};

template <class T>
std::vector<Expected<T>> reference(std::string_view bytes, std::size_t limit) {
    std::vector<Expected<T>> out;
    for (;;) {
        if (bytes.empty()) {
            out.push_back({Expected<T>::eof, std::nullopt});
            return out;
        }
        if (bytes.size() < sizeof(std::uint64_t)) break;
        std::uint64_t length = 0;
        std::memcpy(&length, bytes.data(), sizeof length);
        if (length > limit) break;
        if (bytes.size() - sizeof length < length) break;
        const std::string_view payload = bytes.substr(sizeof length, length);
        bytes.remove_prefix(sizeof length + length);
        try {
            out.push_back({Expected<T>::value, ipc::decode<T>(payload)});
        } catch (const ipc::CodecError&) {
            out.push_back({Expected<T>::bad_message, std::nullopt});
        }
    }
    out.push_back({Expected<T>::broken, std::nullopt});
    return out;
}

void write_all(int fd, const char* data, std::size_t n) {
    while (n > 0) {
        const ssize_t k = ::send(fd, data, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {  // the pair is non-blocking: wait for room
                pollfd p{fd, POLLOUT, 0};
                (void)::poll(&p, 1, -1);
                continue;
            }
            return;  // the reader is gone (it stopped early): nothing more to do
        }
        data += k;
        n -= static_cast<std::size_t>(k);
    }
}

template <class T>
void exercise(std::uint8_t config, std::string_view bytes) {
    static constexpr std::size_t limits[] = {0, 16, 1024, 64 << 10, 1 << 20};
    const std::size_t limit = limits[(config >> 2) % 5];
    const std::size_t piece = std::size_t{1} << ((config >> 5) * 2);  // 1 .. 16 KiB

    auto [reader, writer] = ipc::pipe<T>();
    reader.set_max_message_size(limit);
    const std::vector<Expected<T>> expected = reference<T>(bytes, limit);

    const int wfd = writer.fd();
    std::thread peer([wfd, bytes, piece] {
        for (std::size_t at = 0; at < bytes.size(); at += piece) {
            write_all(wfd, bytes.data() + at, std::min(piece, bytes.size() - at));
        }
        ::shutdown(wfd, SHUT_WR);
    });

    std::string broken_why;
    for (const Expected<T>& e : expected) {
        std::optional<T> got;
        try {
            got = reader.recv();
        } catch (const ipc::CodecError& err) {
            if (e.kind == Expected<T>::bad_message) continue;
            if (e.kind != Expected<T>::broken) {
                std::fprintf(stderr, "pipe_frames: step %zu: %s\n",
                             static_cast<std::size_t>(&e - expected.data()), err.what());
                fail("recv threw CodecError where none was due");
            }
            broken_why = err.what();
            break;
        }
        if (e.kind == Expected<T>::eof) {
            if (got) fail("recv returned a message where EOF was due");
            if (reader.recv()) fail("recv after EOF returned a message");
            break;
        }
        if (e.kind != Expected<T>::value) fail("recv returned where it should have thrown");
        if (!got) fail("recv returned nullopt before the end");
        if (ipc::encode(*got) != ipc::encode(*e.v)) fail("recv returned another value");
    }
    if (!broken_why.empty()) {
        if (!reader.poll()) fail("poll() on a broken end is false");
        try {
            (void)reader.recv();
            fail("recv on a broken end returned");
        } catch (const ipc::CodecError& err) {
            if (broken_why != err.what()) fail("a broken end threw another error");
        }
    }
    reader.close();  // the peer's sends fail from here on, so it always ends
    peer.join();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t config = data[0];
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (config % 4) {
        case 0:
            exercise<std::string>(config, bytes);
            break;
        case 1:
            exercise<std::vector<std::uint32_t>>(config, bytes);
            break;
        case 2:
            exercise<std::variant<std::int64_t, std::string, std::vector<std::string>>>(config,
                                                                                        bytes);
            break;
        default:
            exercise<std::optional<std::pair<bool, std::string>>>(config, bytes);
            break;
    }
    return 0;
}
