// reply.cpp — Reply accessors, and the hiredis reader callbacks that build a
// Reply tree in place (no intermediate redisReply).
#include <cstring>
#include <utility>

#include <ringlet/redis/errors.hpp>
#include <ringlet/redis/reply.hpp>

#include "reply_builder.hpp"

namespace ringlet::redis {

namespace {

const char* kind_name(Reply::Kind k) {
    switch (k) {
        case Reply::Kind::nil:
            return "nil";
        case Reply::Kind::integer:
            return "integer";
        case Reply::Kind::string:
            return "string";
        case Reply::Kind::status:
            return "status";
        case Reply::Kind::error:
            return "error";
        case Reply::Kind::array:
            return "array";
    }
    return "?";
}

}  // namespace

Reply Reply::make_integer(long long v) {
    Reply r;
    r.kind_ = Kind::integer;
    r.integer_ = v;
    return r;
}

Reply Reply::make_string(Kind kind, std::string_view text) {
    Reply r;
    r.kind_ = kind;
    r.text_.assign(text);
    return r;
}

Reply Reply::make_array(std::vector<Reply> elements) {
    Reply r;
    r.kind_ = Kind::array;
    r.elements_ = std::move(elements);
    return r;
}

void Reply::throw_if_error() const {
    if (kind_ != Kind::error) return;
    if (text_.starts_with("NOAUTH") || text_.starts_with("WRONGPASS")) throw AuthError(text_);
    throw Error(text_);
}

namespace {
[[noreturn]] void wrong_kind(const Reply& r, const char* wanted) {
    r.throw_if_error();
    throw Error(std::string("ringlet::redis::Reply: expected ") + wanted + ", got " +
                kind_name(r.kind()) + " " + r.describe());
}
}  // namespace

long long Reply::as_integer() const {
    if (kind_ != Kind::integer) wrong_kind(*this, "an integer");
    return integer_;
}

const std::string& Reply::as_string() const {
    if (kind_ != Kind::string && kind_ != Kind::status) wrong_kind(*this, "a string");
    return text_;
}

const std::vector<Reply>& Reply::as_array() const {
    if (kind_ != Kind::array) wrong_kind(*this, "an array");
    return elements_;
}

std::vector<Reply>& Reply::as_array() {
    if (kind_ != Kind::array) wrong_kind(*this, "an array");
    return elements_;
}

std::optional<std::string> Reply::as_optional_string() const {
    if (kind_ == Kind::nil) return std::nullopt;
    return as_string();
}

const std::string& Reply::error_text() const noexcept {
    static const std::string empty;
    return kind_ == Kind::error ? text_ : empty;
}

std::string Reply::describe() const {
    switch (kind_) {
        case Kind::nil:
            return "nil";
        case Kind::integer:
            return std::to_string(integer_);
        case Kind::string:
            return '"' + text_.substr(0, 64) + (text_.size() > 64 ? "...\"" : "\"");
        case Kind::status:
            return text_;
        case Kind::error:
            return "(error) " + text_;
        case Kind::array: {
            std::string s = "[";
            for (std::size_t i = 0; i < elements_.size() && i < 8; ++i) {
                if (i) s += ", ";
                s += elements_[i].describe();
            }
            if (elements_.size() > 8) s += ", ...";
            return s + "]";
        }
    }
    return "?";
}

// ---- hiredis reader callbacks ------------------------------------------------
//
// hiredis builds a reply depth-first: an array object first, then each child
// in index order, each told its parent's object. The root is heap-allocated
// (freed by ReplyBuilder::free_object or taken by the caller); a child is
// constructed in its parent's element vector. Elements are appended as they
// arrive, not pre-sized from the announced count, so a hostile "*2000000000"
// costs memory only as elements really come in. A parent's vector grows only
// when its next child starts, after the previous child's subtree is complete,
// so the pointers hiredis holds to the open chain of arrays stay valid.
// The callbacks never let an exception into hiredis's C frames: they return
// NULL, which hiredis reports as an out-of-memory protocol error.

Reply* ReplyBuilder::place(const redisReadTask* task, Reply&& value) noexcept {
    try {
        if (task->parent == nullptr) return new Reply(std::move(value));
        auto* parent = static_cast<Reply*>(task->parent->obj);
        auto& elements = parent->elements_;
        if (static_cast<std::size_t>(task->idx) != elements.size()) return nullptr;
        elements.push_back(std::move(value));
        return &elements.back();
    } catch (...) {
        return nullptr;
    }
}

void* ReplyBuilder::create_string(const redisReadTask* task, char* str, size_t len) {
    Reply::Kind kind = Reply::Kind::string;
    if (task->type == REDIS_REPLY_STATUS) kind = Reply::Kind::status;
    if (task->type == REDIS_REPLY_ERROR) kind = Reply::Kind::error;
    try {
        Reply r;
        r.kind_ = kind;
        r.text_.assign(str, len);
        return place(task, std::move(r));
    } catch (...) {
        return nullptr;
    }
}

void* ReplyBuilder::create_array(const redisReadTask* task, int elements) {
    Reply r;
    r.kind_ = Reply::Kind::array;
    try {
        r.elements_.reserve(
            static_cast<std::size_t>(elements < 64 ? (elements < 0 ? 0 : elements) : 64));
    } catch (...) {
        return nullptr;
    }
    return place(task, std::move(r));
}

void* ReplyBuilder::create_integer(const redisReadTask* task, long long value) {
    Reply r;
    r.kind_ = Reply::Kind::integer;
    r.integer_ = value;
    return place(task, std::move(r));
}

void* ReplyBuilder::create_nil(const redisReadTask* task) { return place(task, Reply()); }

void ReplyBuilder::free_object(void* obj) {
    // hiredis frees only the root object (children live inside it).
    delete static_cast<Reply*>(obj);
}

redisReplyObjectFunctions ReplyBuilder::functions = {
    &ReplyBuilder::create_string, &ReplyBuilder::create_array, &ReplyBuilder::create_integer,
    &ReplyBuilder::create_nil, &ReplyBuilder::free_object};

}  // namespace ringlet::redis
