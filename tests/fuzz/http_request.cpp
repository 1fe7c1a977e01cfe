// tests/fuzz/http_request.cpp — http_hello's request parser (examples/net/http_request.hpp).
//
// Input: one config byte (the size of the pieces a slow client sends), then
// the bytes a client sends on one connection. Pipelined requests are parsed
// the way http_hello's connection loop does (empty lines skipped, bodies
// skipped). For each request the parse of everything at once is compared
// with the parse fed piece by piece with the caller's `scanned` kept in
// between, which must agree: a piece-wise parse says need_more until the
// whole-buffer answer is reached, and never "complete" where the whole one is
// not (or with another head). A complete head lies inside the input and
// max_head, with views into it, a token method and an origin-form target.
#include "http_request.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "http_request: %s\n", what);
    std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_complete(const http::Request& req, std::string_view data) {
    if (req.head_size > data.size() || req.head_size > http::max_head) fail("head beyond input");
    if (data.substr(req.head_size - 4, 4) != "\r\n\r\n") fail("head does not end in CRLFCRLF");
    if (req.method.empty() || !inside(req.method, data) || !inside(req.path, data)) {
        fail("method or path outside the input");
    }
    for (char c : req.method) {
        if (!http::is_tchar(static_cast<unsigned char>(c))) fail("method with a non-token byte");
    }
    if (req.path != "*" && (req.path.empty() || req.path.front() != '/')) fail("not origin form");
    if (req.minor != 0 && req.minor != 1) fail("HTTP/1.x with x not 0 or 1");
}

bool same(const http::Request& a, const http::Request& b) {
    return a.method == b.method && a.path == b.path && a.minor == b.minor &&
           a.keep_alive == b.keep_alive && a.content_length == b.content_length &&
           a.head_size == b.head_size;
}

// Parses the request at the front of `data`; returns its result.
http::Parse one_request(std::string_view data, std::size_t piece, http::Request& req) {
    std::size_t scanned = 0;
    const http::Parse whole = http::parse_request(data, scanned, req);
    if (whole == http::Parse::complete) check_complete(req, data);

    // Piece by piece, as a slow client would send it.
    // (At most ~128 pieces: each call may rescan the request line.)
    piece = std::max(piece, data.size() / 128);
    std::size_t scanned_piecewise = 0;
    for (std::size_t have = std::min(piece, data.size());;
         have = std::min(have + piece, data.size())) {
        http::Request partial;
        const http::Parse p = http::parse_request(data.substr(0, have), scanned_piecewise, partial);
        if (p == http::Parse::complete) {
            if (whole != http::Parse::complete || !same(partial, req)) {
                fail("a piece-wise parse completed differently from the whole");
            }
            break;
        }
        if (p == http::Parse::bad) {
            if (whole != http::Parse::bad) fail("a piece-wise parse refused a good prefix");
            break;
        }
        if (have == data.size()) {
            if (whole != http::Parse::need_more) fail("a piece-wise parse never finished");
            break;
        }
    }
    return whole;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t piece = 1 + (data[0] % 64) * (data[0] >= 128 ? 37 : 1);
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    while (!in.empty()) {
        if (in.front() == '\r' || in.front() == '\n') {  // empty lines before a request
            in.remove_prefix(1);
            continue;
        }
        http::Request req;
        if (one_request(in, piece, req) != http::Parse::complete) break;
        in.remove_prefix(req.head_size);
        if (req.content_length >= in.size()) break;
        in.remove_prefix(static_cast<std::size_t>(req.content_length));
    }
    return 0;
}
