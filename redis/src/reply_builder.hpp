// reply_builder.hpp — hiredis reader callbacks that build ringlet::redis::Reply.
#pragma once

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <ringlet/redis/reply.hpp>

namespace ringlet::redis {

struct ReplyBuilder {
    static Reply* place(const redisReadTask* task, Reply&& value) noexcept;
    static void* create_string(const redisReadTask* task, char* str, size_t len);
    static void* create_array(const redisReadTask* task, int elements);
    static void* create_integer(const redisReadTask* task, long long value);
    static void* create_nil(const redisReadTask* task);
    static void free_object(void* obj);
    static redisReplyObjectFunctions functions;
};

struct ReaderFree {
    void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};
using ReaderPtr = std::unique_ptr<redisReader, ReaderFree>;

// A reader that builds Reply trees. Throws: std::bad_alloc.
ReaderPtr make_reader();

// Appends the RESP encoding of `argv` to `out` (redisFormatCommandArgv).
void format_command(std::string& out, std::span<const std::string_view> argv);

}  // namespace ringlet::redis
