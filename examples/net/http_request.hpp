// examples/net/http_request.hpp — http_hello's HTTP/1.1 request parser, on its own.
//
// parse_request() parses one request head from the bytes received so far,
// without copying: the Request's views point into those bytes. It is the
// parser examples/net/http_hello.cpp serves with, in a header so that
// tests/fuzz/http_request.cpp can feed it hostile bytes. No IO, no
// allocation, noexcept throughout.
#pragma once

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>  // ::memmem (GNU)
#include <string_view>
#include <system_error>

namespace http {

inline constexpr std::size_t max_head = 8 * 1024;  // request line + headers

// RFC 9110 token characters, as a table: the parser asks once per byte.
inline constexpr std::array<bool, 256> tchar_table = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
    return t;
}();

inline bool is_tchar(unsigned char c) noexcept { return tchar_table[c]; }

inline char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

inline bool iequals(std::string_view a, std::string_view lower) noexcept {
    if (a.size() != lower.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != lower[i]) return false;
    }
    return true;
}

// True if the comma-separated header value lists `token` (case-insensitive).
inline bool has_token(std::string_view value, std::string_view token) noexcept {
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (iequals(item, token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

struct Request {
    std::string_view method;
    std::string_view path;  // target without its query
    int minor = 1;          // HTTP/1.<minor>
    bool keep_alive = true;
    std::uint64_t content_length = 0;
    std::size_t head_size = 0;  // bytes of request line + headers + blank line
};

enum class Parse { need_more, complete, bad };

// Parses the request line "METHOD SP target SP HTTP/1.x" (without its CRLF).
inline bool parse_request_line(std::string_view line, Request& req, int& minor) noexcept {
    std::size_t i = 0;
    while (i < line.size() && is_tchar(static_cast<unsigned char>(line[i]))) ++i;
    if (i == 0 || i >= line.size() || line[i] != ' ') return false;
    req.method = line.substr(0, i);
    const std::size_t target_begin = ++i;
    while (i < line.size() && static_cast<unsigned char>(line[i]) > 0x20 && line[i] != 0x7f) ++i;
    if (i == target_begin || i >= line.size() || line[i] != ' ') return false;
    const std::string_view target = line.substr(target_begin, i - target_begin);
    if (target.front() != '/' && target != "*") return false;  // origin form (or OPTIONS *)
    req.path = target.substr(0, target.find('?'));
    const std::string_view version = line.substr(i + 1);
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1.") return false;
    if (version[7] != '0' && version[7] != '1') return false;
    minor = version[7] - '0';
    return true;
}

// Checks what has arrived of a request whose head is not complete yet, so
// that garbage is refused at once instead of after 8 KiB or a timeout.
inline bool plausible_prefix(std::string_view data) noexcept {
    const std::size_t lf = data.find('\n');
    if (lf == std::string_view::npos) {
        // Only the method (or part of it) so far: it must be token characters.
        const std::size_t sp = data.find(' ');
        const std::string_view method = data.substr(0, sp);
        for (char c : method) {
            if (!is_tchar(static_cast<unsigned char>(c))) return false;
        }
        return !(sp == 0);
    }
    if (lf == 0 || data[lf - 1] != '\r') return false;
    Request scratch;
    int minor = 0;
    return parse_request_line(data.substr(0, lf - 1), scratch, minor);
}

// Parses one request from `data`. `scanned` is how much of `data` earlier
// calls searched without finding the end of the head (kept by the caller, so
// a slow client sending byte by byte costs linear, not quadratic, time).
inline Parse parse_request(std::string_view data, std::size_t& scanned, Request& req) noexcept {
    const std::size_t from = scanned > 3 ? scanned - 3 : 0;
    const void* end_mark = ::memmem(data.data() + from, data.size() - from, "\r\n\r\n", 4);
    if (end_mark == nullptr) {
        scanned = data.size();
        if (data.size() >= max_head || !plausible_prefix(data)) return Parse::bad;
        return Parse::need_more;
    }
    scanned = 0;
    const std::size_t head_size =
        static_cast<std::size_t>(static_cast<const char*>(end_mark) - data.data()) + 4;
    if (head_size > max_head) return Parse::bad;
    req = Request{};
    req.head_size = head_size;
    std::string_view head = data.substr(0, head_size - 2);  // every line ends in CRLF

    const std::size_t line_end = head.find("\r\n");
    int minor = 1;
    if (!parse_request_line(head.substr(0, line_end), req, minor)) return Parse::bad;
    head.remove_prefix(line_end + 2);

    bool have_host = false, have_length = false, close = false, keep = false;
    while (!head.empty()) {
        const std::size_t eol = head.find("\r\n");
        const std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        std::size_t colon = 0;
        while (colon < line.size() && is_tchar(static_cast<unsigned char>(line[colon]))) ++colon;
        if (colon == 0 || colon >= line.size() || line[colon] != ':') return Parse::bad;
        const std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        for (char c : value) {  // no control characters (bare CR/LF, NUL …) in values
            const auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) return Parse::bad;
        }
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);

        switch (ascii_lower(name[0])) {
            case 'h':
                if (iequals(name, "host")) {
                    if (have_host) return Parse::bad;  // RFC 9112 §3.2: exactly one
                    have_host = true;
                }
                break;
            case 'c':
                if (iequals(name, "connection")) {
                    close = close || has_token(value, "close");
                    keep = keep || has_token(value, "keep-alive");
                } else if (iequals(name, "content-length")) {
                    std::uint64_t n = 0;
                    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
                    if (value.empty() || ec != std::errc() || p != value.data() + value.size()) {
                        return Parse::bad;
                    }
                    if (have_length && n != req.content_length) return Parse::bad;
                    have_length = true;
                    req.content_length = n;
                }
                break;
            case 't':
                // Chunked request bodies are not supported by this tiny server;
                // refusing them is safer than guessing where the next request starts.
                if (iequals(name, "transfer-encoding")) return Parse::bad;
                break;
            default:
                break;
        }
    }
    if (minor == 1 && !have_host) return Parse::bad;  // RFC 9112 §3.2
    req.minor = minor;
    req.keep_alive = minor == 1 ? !close : (keep && !close);
    return Parse::complete;
}

}  // namespace http
