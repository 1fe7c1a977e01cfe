// read_buffer.hpp — growing the read-ahead buffer of a framed stream
// (ipc::pipe's FrameStream, the Manager's wire).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

namespace ringlet::ipc::detail {

// Bytes [begin, end) of `buffer` are received and not yet consumed. Keeps
// them and leaves at least `room` free bytes after them: slides them to the
// front when the buffer is big enough, else moves them to a new buffer of
// `room` bytes.
inline void make_room(std::unique_ptr<char[]>& buffer, std::size_t& capacity, std::size_t& begin,
                      std::size_t& end, std::size_t room) {
    if (capacity - begin >= room) return;
    const std::size_t buffered = end - begin;
    if (capacity >= room) {
        std::memmove(buffer.get(), buffer.get() + begin, buffered);
    } else {
        auto bigger = std::make_unique_for_overwrite<char[]>(room);
        if (buffered != 0) std::memcpy(bigger.get(), buffer.get() + begin, buffered);
        buffer = std::move(bigger);
        capacity = room;
    }
    end -= begin;
    begin = 0;
}

}  // namespace ringlet::ipc::detail
