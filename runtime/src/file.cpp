#include <ringlet/file.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include <ringlet/errors.hpp>

#include "io_request.hpp"

namespace ringlet {

namespace {

long run(detail::IoRequest& r) { return detail::perform_io(r); }

}  // namespace

File& File::operator=(File&& o) noexcept {
    if (this != &o) {
        try {
            close();
        } catch (...) {
        }
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

File::~File() {
    try {
        close();
    } catch (const IoError& e) {
        std::fprintf(stderr, "ringlet: closing a file: %s\n", e.what());
    } catch (...) {
    }
}

File File::open(const std::string& path, int flags, mode_t mode) {
    detail::IoRequest r{detail::IoOpcode::openat};
    r.path = path.c_str();
    r.flags = flags;
    r.mode = mode;
    const long res = run(r);
    if (res < 0) throw IoError(static_cast<int>(-res), "open " + path);
    return File(static_cast<int>(res));
}

std::size_t File::read_at(std::span<std::byte> buf, std::uint64_t offset) {
    detail::IoRequest r{detail::IoOpcode::read, fd_};
    r.buf = buf.data();
    r.len = buf.size();
    r.offset = static_cast<off_t>(offset);
    const long res = run(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "read");
    return static_cast<std::size_t>(res);
}

void File::write_at(std::span<const std::byte> buf, std::uint64_t offset) {
    while (!buf.empty()) {  // a short write is not an error: requeue the rest
        detail::IoRequest r{detail::IoOpcode::write, fd_};
        r.buf = const_cast<std::byte*>(buf.data());
        r.len = buf.size();
        r.offset = static_cast<off_t>(offset);
        const long res = run(r);
        if (res < 0) throw_io_error(static_cast<int>(res), "write");
        if (res == 0) throw IoError(EIO, "write: no progress");
        buf = buf.subspan(static_cast<std::size_t>(res));
        offset += static_cast<std::uint64_t>(res);
    }
}

void File::fsync() {
    detail::IoRequest r{detail::IoOpcode::fsync, fd_};
    const long res = run(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "fsync");
}

std::uint64_t File::size() {
    struct ::statx stx {};
    detail::IoRequest r{detail::IoOpcode::statx, fd_};
    r.path = "";
    r.flags = AT_EMPTY_PATH;
    r.stx = &stx;
    const long res = run(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "statx");
    return stx.stx_size;
}

void File::close() {
    if (fd_ < 0) return;
    detail::IoRequest r{detail::IoOpcode::close, std::exchange(fd_, -1)};
    const long res = run(r);
    if (res < 0 && res != -EINTR) throw_io_error(static_cast<int>(res), "close");
}

std::string read_file(const std::string& path) {
    File f = File::open(path, O_RDONLY);
    std::string out;
    std::uint64_t offset = 0;
    out.resize(static_cast<std::size_t>(f.size()) + 1);  // +1: see EOF in one read when sizes agree
    for (;;) {
        if (offset == out.size()) out.resize(out.size() * 2 + 4096);
        const std::size_t n = f.read_at(
            std::as_writable_bytes(std::span(out.data() + offset, out.size() - offset)), offset);
        if (n == 0) break;
        offset += n;
    }
    out.resize(offset);
    f.close();
    return out;
}

void write_file(const std::string& path, std::string_view bytes, mode_t mode) {
    File f = File::open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    f.write_at(bytes, 0);
    f.close();
}

}  // namespace ringlet
