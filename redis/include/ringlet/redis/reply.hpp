// ringlet/redis/reply.hpp — one RESP reply as a value.
//
// A Reply is what the server answered to one command: nil, an integer, a
// bulk string, a status ("OK"), an error, or an array of replies. It is built
// by hiredis's reader (redisReader) straight into this tree; it owns its data
// and is cheap to move.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringlet::redis {

class Reply {
  public:
    enum class Kind : std::uint8_t { nil, integer, string, status, error, array };

    Reply() noexcept = default;
    static Reply make_nil() { return Reply(); }
    static Reply make_integer(long long v);
    static Reply make_string(Kind kind, std::string_view text);  // string, status or error
    static Reply make_array(std::vector<Reply> elements);

    Kind kind() const noexcept { return kind_; }
    bool is_nil() const noexcept { return kind_ == Kind::nil; }
    bool is_integer() const noexcept { return kind_ == Kind::integer; }
    bool is_string() const noexcept { return kind_ == Kind::string; }
    bool is_status() const noexcept { return kind_ == Kind::status; }
    bool is_error() const noexcept { return kind_ == Kind::error; }
    bool is_array() const noexcept { return kind_ == Kind::array; }

    // The value of that kind. Throws: redis::Error (AuthError for NOAUTH or
    // WRONGPASS) carrying the server's text for an error reply, and
    // redis::Error naming both kinds for any other mismatch.
    long long as_integer() const;
    // A bulk string or a status.
    const std::string& as_string() const;
    const std::vector<Reply>& as_array() const;
    std::vector<Reply>& as_array();
    // nullopt for nil, else as_string().
    std::optional<std::string> as_optional_string() const;
    // The error text of an error reply ("" for other kinds).
    const std::string& error_text() const noexcept;

    // Throws as as_integer() does if this is an error reply; else nothing.
    void throw_if_error() const;

    // Read-only access without checks (for the reader and the tests).
    long long integer() const noexcept { return integer_; }
    const std::string& text() const noexcept { return text_; }
    std::size_t size() const noexcept { return elements_.size(); }
    const Reply& operator[](std::size_t i) const { return elements_.at(i); }

    // "nil", "42", "\"abc\"", "OK", "(error) ERR ...", "[a, b]" — for messages.
    std::string describe() const;

  private:
    friend struct ReplyBuilder;
    Kind kind_ = Kind::nil;
    long long integer_ = 0;
    std::string text_;
    std::vector<Reply> elements_;
};

}  // namespace ringlet::redis
