// tests/fuzz/codec_decode.cpp — ipc::Codec decode of hostile bytes, every built-in family.
//
// Input: one selector byte (which type, modulo the table below), then the
// bytes to decode. decode<T>() must return a value or throw CodecError:
// never crash, read out of bounds, leak, or allocate far more than the input
// (libFuzzer's -malloc_limit_mb, = -rss_limit_mb, catches a huge request).
// A value that decodes must round-trip: re-encoding it gives the input back
// when the encoding is canonical (everything but maps, whose order is the
// container's), and decode(encode(x)) always re-encodes to the same bytes
// (and compares equal where the type has no floating point).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>

namespace {

namespace ipc = ringlet::ipc;

// Trivially copyable but not default-constructible: the bit_cast paths.
struct NoDefault {
    explicit NoDefault(std::int32_t v) : value(v) {}
    std::int32_t value;
    std::uint16_t tag;
    std::uint16_t more;  // no padding: a bit_cast copy keeps every byte
    friend bool operator==(const NoDefault&, const NoDefault&) = default;
};

// A plain struct with padding (memcpy'd with it; a copy need not keep the
// padding bytes, so only member equality is checked).
struct Padded {
    std::uint8_t a;
    std::uint64_t b;
    friend bool operator==(const Padded&, const Padded&) = default;
};

enum class Colour : std::uint8_t { red, green };

// A user Codec, the shape codec.hpp documents.
struct Order {
    std::string item;
    std::int32_t quantity = 0;
    std::vector<double> prices;
    friend bool operator==(const Order&, const Order&) = default;
};

}  // namespace

template <>
struct ringlet::ipc::Codec<Order> {
    static void encode(Writer& w, const Order& o) {
        w.write(o.item);
        w.write(o.quantity);
        w.write(o.prices);
    }
    static Order decode(Reader& r) {
        return Order{r.read<std::string>(), r.read<std::int32_t>(), r.read<std::vector<double>>()};
    }
    static constexpr std::size_t min_size = 8 + 4 + 8;
};

namespace {

[[noreturn]] void fail(const char* what, std::size_t selector) {
    std::fprintf(stderr, "codec_decode: %s (selector %zu)\n", what, selector);
    std::abort();
}

enum Check : unsigned {
    canonical = 1,  // encode(decode(b)) == b
    equal = 2,      // decode(encode(x)) == x (no floats: NaN != NaN)
    stable = 4,     // encode(decode(encode(x))) == encode(x) (not with padding)
};

template <class T>
void exercise(std::string_view bytes, unsigned checks, std::size_t selector) {
    std::optional<T> value;
    try {
        value.emplace(ipc::decode<T>(bytes));
    } catch (const ipc::CodecError&) {
        return;  // the expected outcome for most inputs
    }
    const std::string again = ipc::encode(*value);
    if ((checks & canonical) && again != bytes)
        fail("re-encoding differs from the input", selector);
    T second = [&] {
        try {
            return ipc::decode<T>(again);
        } catch (const ipc::CodecError& e) {
            std::fprintf(stderr, "%s\n", e.what());
            fail("a re-encoded value does not decode", selector);
        }
    }();
    if ((checks & stable) && ipc::encode(second) != again)
        fail("decode(encode(x)) re-encodes differently", selector);
    if constexpr (std::equality_comparable<T>) {
        if ((checks & equal) && !(second == *value)) fail("decode(encode(x)) != x", selector);
    }
}

// Several values read one after another from one Reader, as a user Codec
// does; a failed read must consume nothing.
void exercise_reader(std::string_view bytes) {
    ipc::Reader r(bytes);
    for (int i = 0; i < 16 && r.remaining() > 0; ++i) {
        const std::size_t before = r.position();
        try {
            switch (r.read<std::uint8_t>() % 4) {
                case 0:
                    (void)r.read<std::string>();
                    break;
                case 1:
                    (void)r.read<std::vector<std::uint32_t>>();
                    break;
                case 2:
                    (void)r.read<std::optional<bool>>();
                    break;
                default:
                    (void)r.get_length(r.read<std::uint8_t>());
                    break;
            }
        } catch (const ipc::CodecError&) {
            // The selector byte was consumed; the failed read took nothing more.
            if (r.position() < before + 1 || r.position() > bytes.size()) {
                fail("a failed read moved the reader backwards or past the end", 999);
            }
            return;
        }
    }
    try {
        r.expect_end();
    } catch (const ipc::CodecError&) {
    }
}

// (std::tuple<>, not std::monostate: an empty struct is memcpy'd as one
// indeterminate byte, which a copy need not keep.)
using Nested = std::vector<std::pair<
    std::string, std::variant<std::tuple<>, std::int64_t, std::vector<std::optional<bool>>>>>;

void run(std::size_t selector, std::string_view b) {
    constexpr unsigned both = canonical | equal | stable;
    constexpr unsigned cs = canonical | stable, es = equal | stable;
    switch (selector) {
        // trivially copyable
        case 0:
            return exercise<std::int32_t>(b, both, selector);
        case 1:
            return exercise<double>(b, cs, selector);
        case 2:
            return exercise<Padded>(b, equal, selector);
        case 3:
            return exercise<Colour>(b, both, selector);
        case 4:
            return exercise<std::chrono::nanoseconds>(b, both, selector);
        case 5:
            return exercise<NoDefault>(b, both, selector);
        case 6:
            return exercise<std::array<std::int16_t, 4>>(b, both, selector);
        // bool, std::string
        case 7:
            return exercise<bool>(b, both, selector);
        case 8:
            return exercise<std::string>(b, both, selector);
        // std::vector: memcpy'd, element by element, bool, not default-constructible
        case 9:
            return exercise<std::vector<std::uint16_t>>(b, both, selector);
        case 10:
            return exercise<std::vector<std::string>>(b, both, selector);
        case 11:
            return exercise<std::vector<bool>>(b, both, selector);
        case 12:
            return exercise<std::vector<NoDefault>>(b, both, selector);
        case 13:
            return exercise<std::vector<std::array<std::uint8_t, 3>>>(b, both, selector);
        case 14:
            return exercise<std::vector<std::vector<std::string>>>(b, both, selector);
        // std::array of non-memcpy elements
        case 15:
            return exercise<std::array<std::string, 3>>(b, both, selector);
        case 16:
            return exercise<std::array<NoDefault, 2>>(b, both, selector);
        case 17:
            return exercise<std::array<std::string, 0>>(b, both, selector);
        // pair, tuple, optional
        case 18:
            return exercise<std::pair<std::int8_t, std::string>>(b, both, selector);
        case 19:
            return exercise<std::tuple<std::uint8_t, std::string, std::optional<std::int64_t>>>(
                b, both, selector);
        case 20:
            return exercise<std::tuple<>>(b, both, selector);
        case 21:
            return exercise<std::optional<std::string>>(b, both, selector);
        case 22:
            return exercise<std::optional<std::vector<std::optional<int>>>>(b, both, selector);
        // variant
        case 23:
            return exercise<std::variant<int, std::string, std::vector<double>>>(b, cs, selector);
        case 24:
            return exercise<std::variant<std::string, std::string>>(b, both, selector);
        // maps: not canonical (the container orders them); an unordered_map
        // may iterate a copy in another order, so it is only compared
        case 25:
            return exercise<std::map<std::string, std::vector<int>>>(b, es, selector);
        case 26:
            return exercise<std::unordered_map<std::int32_t, std::string>>(b, equal, selector);
        case 27:
            return exercise<std::map<int, std::map<std::string, std::optional<bool>>>>(b, es,
                                                                                       selector);
        // nestings and a user Codec
        case 28:
            return exercise<Nested>(b, both, selector);
        case 29:
            return exercise<std::vector<Order>>(b, cs, selector);
        case 30:
            return exercise<std::optional<std::tuple<std::map<std::string, std::string>,
                                                     std::vector<std::vector<std::uint64_t>>,
                                                     std::variant<bool, std::string>>>>(b, es,
                                                                                        selector);
        default:
            return exercise_reader(b);
    }
}

constexpr std::size_t selectors = 32;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    run(data[0] % selectors, std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
    return 0;
}
