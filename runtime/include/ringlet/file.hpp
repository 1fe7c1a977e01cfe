// ringlet/file.hpp — files read and written without stalling the scheduler.
//
// On io_uring every call is a ring operation; on the epoll backend (where
// regular files are always "ready") calls run on the blocking pool. Every
// call is a suspension point; from a plain thread it blocks the thread.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ringlet {

class File {
public:
    File() noexcept = default;
    File(File&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    File& operator=(File&& o) noexcept;
    ~File();  // closes; errors are ignored (call close() to see them)

    // open(2) flags and mode, e.g. O_WRONLY | O_CREAT | O_TRUNC, 0644.
    // Suspends. Throws: IoError ("open <path>: No such file or directory").
    static File open(const std::string& path, int flags = O_RDONLY, mode_t mode = 0644);

    // Reads up to buf.size() bytes at `offset`; 0 at end of file.
    // Suspends. Throws: IoError, Cancelled, TimeoutError.
    std::size_t read_at(std::span<std::byte> buf, std::uint64_t offset);
    // Writes all of `buf` at `offset`. Throws: IoError (ENOSPC …).
    void write_at(std::span<const std::byte> buf, std::uint64_t offset);
    void write_at(std::string_view text, std::uint64_t offset) {
        write_at(std::as_bytes(std::span(text.data(), text.size())), offset);
    }
    void fsync();
    std::uint64_t size();
    // Throws: IoError if close(2) reports an error (the fd is gone anyway).
    void close();
    bool is_open() const noexcept { return fd_ >= 0; }
    int fd() const noexcept { return fd_; }

private:
    explicit File(int fd) noexcept : fd_(fd) {}
    int fd_ = -1;
};

// The whole file as bytes. Suspends. Throws: IoError.
std::string read_file(const std::string& path);
// Creates or truncates `path` and writes `bytes`. Suspends. Throws: IoError.
void write_file(const std::string& path, std::string_view bytes, mode_t mode = 0644);

}  // namespace ringlet
