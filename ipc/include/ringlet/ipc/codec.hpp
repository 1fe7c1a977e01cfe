// ringlet/ipc/codec.hpp — how a value becomes bytes to cross a process boundary.
//
// Codec<T> is the customisation point every ipc transport uses (Queue<T>,
// pipe<T>, the Manager): `Codec<T>::encode(Writer&, const T&)` appends a
// value's bytes to a Writer and `Codec<T>::decode(Reader&)` rebuilds the value
// from a Reader. encode<T>(value) and decode<T>(bytes) do a whole value.
//
// Built in, and any nesting of them:
//   trivially copyable T   sizeof(T) bytes, memcpy'd (ints, floats, enums,
//                          plain structs, std::array of them, chrono types)
//   bool                   1 byte, 0 or 1 (anything else: CodecError)
//   std::string            u64 length, then the characters
//   std::vector<T>         u64 count, then the elements (a memcpy'd T: one
//                          memcpy for the whole vector)
//   std::array<T, N>       the N elements, no count
//   std::pair, std::tuple  the members in order
//   std::optional<T>       1 byte (0 empty, 1 engaged), then the value
//   std::variant<Ts...>    u32 alternative index, then the alternative
//   std::map, std::unordered_map   u64 count, then key, value, key, value …
// Lengths and indices are fixed-width u64/u32 in the host's byte order: both
// sides are the same binary on the same machine, so there is no versioning
// and no endian conversion. A message from another build or architecture is
// not supported.
//
// What memcpy means: the raw bytes of a trivially copyable value are copied,
// padding included. Pointers inside such a value (raw pointers, string_view,
// span) point into the sender's memory and are meaningless in another
// process, except function pointers and addresses of static data in a child
// forked from the same binary. std::string_view and std::span are therefore
// not Encodable (send a std::string or std::vector). Bytes are not checked
// against a type's invariants: an enum gets whatever value arrives, and a
// struct with bool members should get its own Codec if its input may be
// corrupt.
//
// Safety: decoding never reads past its input and checks every length
// against the bytes that remain BEFORE allocating, so corrupt or hostile
// bytes throw CodecError; they never crash, read out of bounds, or ask for a
// 2^60-byte allocation. (A container's count is checked as `count ×
// Codec<Elem>::min_size <= bytes remaining`, so a decoded container holds at
// most one element per min_size input bytes.)
//
// Your own types — specialise Codec in namespace ringlet::ipc, before the
// first use of Queue/pipe with that type:
//
//   struct Order { std::string item; int quantity; std::vector<double> prices; };
//
//   template <>
//   struct ringlet::ipc::Codec<Order> {
//       static void encode(Writer& w, const Order& o) {
//           w.write(o.item);            // = Codec<std::string>::encode(w, o.item)
//           w.write(o.quantity);
//           w.write(o.prices);
//       }
//       static Order decode(Reader& r) {
//           // Braces evaluate left to right, in the order encode wrote.
//           return Order{r.read<std::string>(), r.read<int>(), r.read<std::vector<double>>()};
//       }
//       // Optional: the fewest bytes an encoding takes (default 1). Containers
//       // of Order use it to reject impossible counts early.
//       static constexpr std::size_t min_size = 8 + 4 + 8;
//   };
//
// A partial specialisation works too (`template <class T> struct
// Codec<Box<T>>`), and the second parameter takes enable_if conditions
// (`template <class T> struct Codec<T, std::enable_if_t<is_my_type_v<T>>>`).
// Throw CodecError from decode when the bytes make no sense. An encoding must
// be at least `min_size` bytes; a type whose encoding may be empty declares
// `min_size = 0` and then cannot be a container element (a compile error).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <ringlet/ipc/errors.hpp>

namespace ringlet::ipc {

class Writer;
class Reader;

// Encodes and decodes a T; see the file comment. The primary template handles
// trivially copyable types (memcpy) and leaves every other type without a
// codec, which makes Encodable<T> false.
template <class T, class Enable = void>
struct Codec;

// True when Codec<T> can encode and decode a T. pipe<T> and Queue<T> check it
// with a static_assert naming the type.
template <class T>
concept Encodable = requires(Writer& w, Reader& r, const T& value) {
    Codec<T>::encode(w, value);
    { Codec<T>::decode(r) } -> std::same_as<T>;
};

// Thrown by Writer::put when an encoding would grow past the writer's limit
// (Writer::set_limit); nothing was appended. needed() is the size the
// encoding would have reached at that put (a lower bound for the whole value).
class EncodeLimitExceeded : public CodecError {
public:
    EncodeLimitExceeded(std::size_t needed, std::size_t limit)
        : CodecError("ringlet::ipc::Writer: an encoding of at least " + std::to_string(needed) +
                     " bytes would pass the writer's limit of " + std::to_string(limit) +
                     " bytes"),
          needed_(needed) {}
    std::size_t needed() const noexcept { return needed_; }

private:
    std::size_t needed_;
};

// Appends bytes; the output side of a Codec. Not thread-safe (one per encode).
class Writer {
public:
    Writer() = default;

    // Appends `size` raw bytes from `data`.
    // Throws: EncodeLimitExceeded (before reading `data`) past the limit.
    void put(const void* data, std::size_t size) {
        if (size > limit_ || bytes_.size() > limit_ - size) {
            const std::size_t have = bytes_.size();
            throw EncodeLimitExceeded(size > SIZE_MAX - have ? SIZE_MAX : have + size, limit_);
        }
        if (size != 0) bytes_.append(static_cast<const char*>(data), size);
    }
    // Caps the bytes this writer holds (default: no cap): a put() that would
    // pass `limit` throws instead, so a transport with a message size limit
    // refuses an oversized value before copying it. Bytes added through
    // bytes() directly are not checked.
    void set_limit(std::size_t limit) noexcept { limit_ = limit; }
    std::size_t limit() const noexcept { return limit_; }
    // Appends a length or count as a u64; Reader::get_length reads it back.
    void put_length(std::size_t length) {
        const std::uint64_t v = length;
        put(&v, sizeof v);
    }
    // Appends `value` through Codec<U> (the way to encode members).
    template <class U>
    void write(const U& value);

    // The bytes written so far (callers may take them with std::move).
    std::string& bytes() noexcept { return bytes_; }
    const std::string& bytes() const noexcept { return bytes_; }
    std::size_t size() const noexcept { return bytes_.size(); }

private:
    std::string bytes_;
    std::size_t limit_ = SIZE_MAX;
};

// Consumes bytes from a view it does not own; the input side of a Codec.
// Every read is bounds-checked: asking for more than remains throws
// CodecError ("truncated …") and consumes nothing.
class Reader {
public:
    explicit Reader(std::string_view bytes) noexcept : data_(bytes) {}

    // Copies the next `size` bytes to `out`. Throws: CodecError if fewer remain.
    void get(void* out, std::size_t size) {
        const std::string_view v = take(size);
        if (size != 0) std::memcpy(out, v.data(), size);
    }
    // The next `size` bytes, as a view into the input (valid as long as the
    // input is). Throws: CodecError if fewer remain.
    std::string_view take(std::size_t size) {
        if (size > remaining()) throw_truncated(size);
        const std::string_view v = data_.substr(pos_, size);
        pos_ += size;
        return v;
    }
    // Reads a u64 written by Writer::put_length and checks that `length`
    // items of at least `min_item_size` bytes each (0 counts as 1) fit in what
    // remains, so that the caller may allocate for them. Throws: CodecError
    // otherwise, and then consumes nothing.
    std::size_t get_length(std::size_t min_item_size = 1);
    // Decodes a U through Codec<U> (the way to decode members).
    template <class U>
    U read();

    std::size_t remaining() const noexcept { return data_.size() - pos_; }
    // Bytes consumed so far.
    std::size_t position() const noexcept { return pos_; }
    // Throws: CodecError if any bytes remain (a whole message must be used).
    void expect_end() const;

private:
    [[noreturn]] void throw_truncated(std::size_t wanted) const;

    std::string_view data_;
    std::size_t pos_ = 0;
};

namespace detail {

template <class T>
struct IsSpan : std::false_type {};
template <class T, std::size_t N>
struct IsSpan<std::span<T, N>> : std::true_type {};
template <class T>
struct IsStringView : std::false_type {};
template <class C, class Traits>
struct IsStringView<std::basic_string_view<C, Traits>> : std::true_type {};
// Standard wrappers with a Codec of their own below. One that is trivially
// copyable but holds a non-encodable member (std::optional<std::string_view>)
// must not fall back to memcpy.
template <class T>
struct IsStdWrapper : std::false_type {};
template <class T>
struct IsStdWrapper<std::optional<T>> : std::true_type {};
template <class... Ts>
struct IsStdWrapper<std::variant<Ts...>> : std::true_type {};
template <class... Ts>
struct IsStdWrapper<std::tuple<Ts...>> : std::true_type {};
template <class A, class B>
struct IsStdWrapper<std::pair<A, B>> : std::true_type {};
template <class T, std::size_t N>
struct IsStdWrapper<std::array<T, N>> : std::true_type {};

// Trivially copyable types that must not be memcpy'd: views hold pointers to
// the sender's memory, C arrays cannot be returned by value, and the std
// wrappers are encoded member by member.
template <class T>
inline constexpr bool memcpy_eligible =
    std::is_trivially_copyable_v<T> && !std::is_array_v<T> &&
    !IsSpan<std::remove_cv_t<T>>::value && !IsStringView<std::remove_cv_t<T>>::value &&
    !IsStdWrapper<std::remove_cv_t<T>>::value;

// The memcpy codec. A specialisation may derive from it to say "my bytes are
// my value", which lets containers of it use one memcpy.
template <class T>
struct MemcpyCodec {
    static constexpr std::size_t min_size = sizeof(T);
    static void encode(Writer& w, const T& value) { w.put(std::addressof(value), sizeof(T)); }
    static T decode(Reader& r) {
        if constexpr (std::is_default_constructible_v<T>) {
            T value;
            r.get(std::addressof(value), sizeof(T));
            return value;
        } else {
            std::array<std::byte, sizeof(T)> raw;
            r.get(raw.data(), sizeof(T));
            return std::bit_cast<T>(raw);
        }
    }
};

struct NoCodec {};

// True when Codec<T> is the memcpy codec (or derives from it).
template <class T>
inline constexpr bool is_memcpy_codec = std::is_base_of_v<MemcpyCodec<T>, Codec<T>>;

// Codec<T>::min_size if declared, else 1.
template <class T>
constexpr std::size_t min_encoded_size() {
    if constexpr (requires { Codec<T>::min_size; }) {
        return Codec<T>::min_size;
    } else {
        return 1;
    }
}

// min_size of a container element, which must be positive: a count can only
// be checked against the input if every element takes some of it.
template <class T>
constexpr std::size_t element_size() {
    constexpr std::size_t size = min_encoded_size<T>();
    static_assert(size > 0,
                  "ringlet::ipc::Codec: a container's elements must each encode to at least one "
                  "byte (this element type's Codec has min_size 0, e.g. std::tuple<>), or a "
                  "hostile count could not be rejected");
    return size;
}

// How many elements to reserve before decoding `count` of them: the count,
// but never more memory than a few times the bytes left (an element may be
// much larger in memory than its smallest encoding).
template <class T>
std::size_t reserve_count(std::size_t count, std::size_t remaining) noexcept {
    const std::size_t cap = (remaining / sizeof(T) + 1) * 4;
    return count < cap ? count : cap;
}

[[noreturn]] inline void throw_codec_error(const std::string& what) {
    throw CodecError("ringlet::ipc::Codec: " + what);
}

template <class Map, class K, class V>
struct MapCodec {
    static constexpr std::size_t min_size = sizeof(std::uint64_t);
    static void encode(Writer& w, const Map& map) {
        w.put_length(map.size());
        for (const auto& entry : map) {
            Codec<K>::encode(w, entry.first);
            Codec<V>::encode(w, entry.second);
        }
    }
    static Map decode(Reader& r) {
        const std::size_t count = r.get_length(element_size<K>() + element_size<V>());
        Map map;
        for (std::size_t i = 0; i < count; ++i) {
            K key = Codec<K>::decode(r);
            V value = Codec<V>::decode(r);
            if (!map.emplace(std::move(key), std::move(value)).second) {
                throw_codec_error("malformed input: a map holds the same key twice");
            }
        }
        return map;
    }
};

template <class T, std::size_t N>
struct ArrayCodec {
    static constexpr std::size_t min_size = N * min_encoded_size<T>();
    static void encode(Writer& w, const std::array<T, N>& a) {
        for (const T& e : a) Codec<T>::encode(w, e);
    }
    static std::array<T, N> decode(Reader& r) {
        if constexpr (std::is_default_constructible_v<T>) {
            std::array<T, N> a{};
            for (T& e : a) e = Codec<T>::decode(r);
            return a;
        } else {
            // Braced initialisers run left to right: element 0 first.
            return [&r]<std::size_t... I>(std::index_sequence<I...>) {
                return std::array<T, N>{((void)I, Codec<T>::decode(r))...};
            }(std::make_index_sequence<N>());
        }
    }
};

}  // namespace detail

// The primary template: memcpy for trivially copyable types, nothing else.
template <class T, class Enable>
struct Codec
    : std::conditional_t<detail::memcpy_eligible<T>, detail::MemcpyCodec<T>, detail::NoCodec> {};

template <>
struct Codec<bool> {
    static constexpr std::size_t min_size = 1;
    static void encode(Writer& w, bool value) {
        const std::uint8_t byte = value ? 1 : 0;
        w.put(&byte, 1);
    }
    static bool decode(Reader& r) {
        std::uint8_t byte = 0;
        r.get(&byte, 1);
        if (byte > 1) {
            detail::throw_codec_error("malformed input: a bool byte is " + std::to_string(byte) +
                                      ", not 0 or 1");
        }
        return byte == 1;
    }
};

template <class Traits, class A>
struct Codec<std::basic_string<char, Traits, A>> {
    using String = std::basic_string<char, Traits, A>;
    static constexpr std::size_t min_size = sizeof(std::uint64_t);
    static void encode(Writer& w, const String& s) {
        w.put_length(s.size());
        w.put(s.data(), s.size());
    }
    static String decode(Reader& r) {
        const std::size_t length = r.get_length(1);
        const std::string_view chars = r.take(length);
        return String(chars.data(), chars.size());
    }
};

template <class T, class A>
    requires Encodable<T>
struct Codec<std::vector<T, A>> {
    static constexpr std::size_t min_size = sizeof(std::uint64_t);
    static void encode(Writer& w, const std::vector<T, A>& v) {
        w.put_length(v.size());
        if constexpr (detail::is_memcpy_codec<T>) {
            w.put(v.data(), v.size() * sizeof(T));
        } else {
            for (const auto& e : v) Codec<T>::encode(w, e);
        }
    }
    static std::vector<T, A> decode(Reader& r) {
        const std::size_t count = r.get_length(detail::element_size<T>());
        std::vector<T, A> v;
        if constexpr (detail::is_memcpy_codec<T> && std::is_default_constructible_v<T>) {
            // get_length checked count * sizeof(T) <= remaining: one memcpy.
            v.resize(count);
            r.get(v.data(), count * sizeof(T));
        } else {
            v.reserve(detail::reserve_count<T>(count, r.remaining()));
            for (std::size_t i = 0; i < count; ++i) v.push_back(Codec<T>::decode(r));
        }
        return v;
    }
};

// std::array of memcpy'd elements is itself memcpy'd (so a vector of them is
// one memcpy too); otherwise element by element. std::array<T, 0> encodes to
// nothing (though its sizeof is not 0).
template <class T, std::size_t N>
    requires Encodable<T>
struct Codec<std::array<T, N>>
    : std::conditional_t<detail::is_memcpy_codec<T> && N != 0,
                         detail::MemcpyCodec<std::array<T, N>>,
                         detail::ArrayCodec<T, N>> {};

template <class A, class B>
    requires Encodable<A> && Encodable<B>
struct Codec<std::pair<A, B>> {
    static constexpr std::size_t min_size =
        detail::min_encoded_size<A>() + detail::min_encoded_size<B>();
    static void encode(Writer& w, const std::pair<A, B>& p) {
        Codec<A>::encode(w, p.first);
        Codec<B>::encode(w, p.second);
    }
    static std::pair<A, B> decode(Reader& r) {
        return std::pair<A, B>{Codec<A>::decode(r), Codec<B>::decode(r)};  // left to right
    }
};

template <class... Ts>
    requires(Encodable<Ts> && ...)
struct Codec<std::tuple<Ts...>> {
    static constexpr std::size_t min_size = (std::size_t{0} + ... + detail::min_encoded_size<Ts>());
    static void encode(Writer& w, const std::tuple<Ts...>& t) {
        std::apply([&](const Ts&... members) { (Codec<Ts>::encode(w, members), ...); }, t);
    }
    static std::tuple<Ts...> decode([[maybe_unused]] Reader& r) {
        return std::tuple<Ts...>{Codec<Ts>::decode(r)...};  // left to right
    }
};

template <class T>
    requires Encodable<T>
struct Codec<std::optional<T>> {
    static constexpr std::size_t min_size = 1;
    static void encode(Writer& w, const std::optional<T>& o) {
        Codec<bool>::encode(w, o.has_value());
        if (o) Codec<T>::encode(w, *o);
    }
    static std::optional<T> decode(Reader& r) {
        if (!Codec<bool>::decode(r)) return std::nullopt;
        return std::optional<T>(Codec<T>::decode(r));
    }
};

template <class... Ts>
    requires(Encodable<Ts> && ...)
struct Codec<std::variant<Ts...>> {
    using Variant = std::variant<Ts...>;
    static constexpr std::size_t min_size =
        sizeof(std::uint32_t) + std::min({detail::min_encoded_size<Ts>()...});

    static void encode(Writer& w, const Variant& v) {
        if (v.valueless_by_exception()) {
            detail::throw_codec_error("cannot encode a valueless std::variant");
        }
        const auto index = static_cast<std::uint32_t>(v.index());
        w.put(&index, sizeof index);
        encode_alternative(w, v, std::index_sequence_for<Ts...>());
    }
    static Variant decode(Reader& r) {
        std::uint32_t index = 0;
        r.get(&index, sizeof index);
        if (index >= sizeof...(Ts)) {
            detail::throw_codec_error("malformed input: variant alternative " +
                                      std::to_string(index) + " of " +
                                      std::to_string(sizeof...(Ts)));
        }
        return decoders(std::index_sequence_for<Ts...>())[index](r);
    }

private:
    template <std::size_t... I>
    static void encode_alternative(Writer& w, const Variant& v, std::index_sequence<I...>) {
        // Exactly one I matches v.index() (by index, so duplicate types work).
        ((v.index() == I ? Codec<std::variant_alternative_t<I, Variant>>::encode(
                               w, *std::get_if<I>(&v))
                         : void()),
         ...);
    }
    template <std::size_t I>
    static Variant decode_alternative(Reader& r) {
        return Variant(std::in_place_index<I>,
                       Codec<std::variant_alternative_t<I, Variant>>::decode(r));
    }
    template <std::size_t... I>
    static constexpr std::array<Variant (*)(Reader&), sizeof...(I)> decoders(
        std::index_sequence<I...>) {
        return {&decode_alternative<I>...};
    }
};

template <class K, class V, class C, class A>
    requires Encodable<K> && Encodable<V>
struct Codec<std::map<K, V, C, A>> : detail::MapCodec<std::map<K, V, C, A>, K, V> {};

template <class K, class V, class H, class E, class A>
    requires Encodable<K> && Encodable<V>
struct Codec<std::unordered_map<K, V, H, E, A>>
    : detail::MapCodec<std::unordered_map<K, V, H, E, A>, K, V> {};

// ---- Whole values ----------------------------------------------------------

// The bytes of `value`. Throws: what Codec<T>::encode throws (built-ins: only
// std::bad_alloc, and CodecError for a valueless variant).
template <class T>
std::string encode(const T& value) {
    static_assert(Encodable<T>,
                  "ringlet::ipc::encode: no Codec for this type. Built in: trivially copyable "
                  "types, bool, std::string, std::vector, std::array, std::pair, std::tuple, "
                  "std::optional, std::variant, std::map, std::unordered_map (of encodable "
                  "types). Specialise ringlet::ipc::Codec<T> for your own (see codec.hpp).");
    if constexpr (Encodable<T>) {
        Writer w;
        Codec<T>::encode(w, value);
        return std::move(w.bytes());
    } else {
        return {};
    }
}

// The T encoded in `bytes`, which must hold exactly one value.
// Throws: CodecError if the bytes are truncated, malformed, or longer than
// the value (trailing bytes).
template <class T>
T decode(std::string_view bytes) {
    static_assert(Encodable<T>,
                  "ringlet::ipc::decode: no Codec for this type. Built in: trivially copyable "
                  "types, bool, std::string, std::vector, std::array, std::pair, std::tuple, "
                  "std::optional, std::variant, std::map, std::unordered_map (of encodable "
                  "types). Specialise ringlet::ipc::Codec<T> for your own (see codec.hpp).");
    if constexpr (Encodable<T>) {
        Reader r(bytes);
        T value = Codec<T>::decode(r);
        r.expect_end();
        return value;
    }
}

// ---- Writer / Reader members that need Codec -------------------------------

template <class U>
void Writer::write(const U& value) {
    static_assert(Encodable<U>, "ringlet::ipc::Writer::write: no Codec for this type");
    Codec<U>::encode(*this, value);
}

template <class U>
U Reader::read() {
    static_assert(Encodable<U>, "ringlet::ipc::Reader::read: no Codec for this type");
    return Codec<U>::decode(*this);
}

inline std::size_t Reader::get_length(std::size_t min_item_size) {
    std::uint64_t length = 0;
    const std::size_t start = pos_;
    get(&length, sizeof length);
    const std::size_t per_item = min_item_size == 0 ? 1 : min_item_size;
    const std::size_t after = remaining();
    // Division, not length * per_item: a hostile length must not overflow.
    if (length > after / per_item) {
        pos_ = start;  // consume nothing on failure
        detail::throw_codec_error("truncated input: a length of " + std::to_string(length) +
                                  " (items of at least " + std::to_string(per_item) +
                                  " bytes) at offset " + std::to_string(start) +
                                  " exceeds the " + std::to_string(after) + " bytes that follow");
    }
    return static_cast<std::size_t>(length);
}

inline void Reader::expect_end() const {
    if (remaining() != 0) {
        detail::throw_codec_error("malformed input: " + std::to_string(remaining()) +
                                  " trailing bytes after the value (offset " +
                                  std::to_string(pos_) + " of " + std::to_string(data_.size()) +
                                  ")");
    }
}

inline void Reader::throw_truncated(std::size_t wanted) const {
    detail::throw_codec_error("truncated input: wanted " + std::to_string(wanted) +
                              " bytes at offset " + std::to_string(pos_) + ", only " +
                              std::to_string(remaining()) + " remain");
}

}  // namespace ringlet::ipc
