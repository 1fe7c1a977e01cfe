// tests/ipc/codec_test.cpp — Codec<T>, Writer/Reader, encode/decode and
// Encodable: round trips of every built-in and of nestings, the wire format,
// user specialisations (full, partial, overriding memcpy), and hostile input:
// truncation at every byte offset, huge lengths (no allocation), bad tags,
// duplicate keys and trailing bytes.
#include <ringlet/ipc/codec.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <ringlet/ipc/errors.hpp>

// ---- Allocation watch --------------------------------------------------------
// The global operator new of this test binary records the largest single
// request while `watching` is set, so a test can show that hostile lengths
// are rejected before anything is allocated for them. (GCC flags malloc/free
// behind operator new/delete as a mismatch once inlined; here it is the point.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<bool> watching{false};
std::atomic<std::size_t> largest_request{0};
}  // namespace

void* operator new(std::size_t size) {
    if (watching.load(std::memory_order_relaxed)) {
        std::size_t seen = largest_request.load(std::memory_order_relaxed);
        while (size > seen && !largest_request.compare_exchange_weak(seen, size)) {
        }
    }
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using ringlet::ipc::Codec;
using ringlet::ipc::CodecError;
using ringlet::ipc::decode;
using ringlet::ipc::Encodable;
using ringlet::ipc::encode;
using ringlet::ipc::Reader;
using ringlet::ipc::Writer;

// ---- Types used by the tests -------------------------------------------------

namespace {

struct Pod {
    std::int32_t a;
    double b;
    char c[5];
    friend bool operator==(const Pod&, const Pod&) = default;
};

enum class Colour : std::uint8_t { red = 1, green = 2, blue = 3 };

// Trivially copyable, but with no default constructor.
struct NoDefault {
    explicit NoDefault(int v) : value(v) {}
    int value;
    friend bool operator==(const NoDefault&, const NoDefault&) = default;
};

struct NotTrivial {
    NotTrivial() = default;
    NotTrivial(const NotTrivial&) {}
    int x = 0;
};

}  // namespace

// The example from codec.hpp's comment, verbatim in substance.
struct Order {
    std::string item;
    int quantity;
    std::vector<double> prices;
    friend bool operator==(const Order&, const Order&) = default;
};

template <>
struct ringlet::ipc::Codec<Order> {
    static void encode(Writer& w, const Order& o) {
        w.write(o.item);
        w.write(o.quantity);
        w.write(o.prices);
    }
    static Order decode(Reader& r) {
        return Order{r.read<std::string>(), r.read<int>(), r.read<std::vector<double>>()};
    }
    static constexpr std::size_t min_size = 8 + 4 + 8;
};

// A class template with a partial specialisation.
template <class T>
struct Box {
    T inner;
    std::string label;
    friend bool operator==(const Box&, const Box&) = default;
};

template <class T>
struct ringlet::ipc::Codec<Box<T>> {
    static void encode(Writer& w, const Box<T>& b) {
        w.write(b.label);
        w.write(b.inner);
    }
    static Box<T> decode(Reader& r) {
        std::string label = r.read<std::string>();
        T inner = r.read<T>();
        return Box<T>{std::move(inner), std::move(label)};
    }
};

// Trivially copyable, yet with its own codec that validates: containers of
// it must go through that codec, not memcpy.
struct Percent {
    std::uint8_t value;
    friend bool operator==(const Percent&, const Percent&) = default;
};

template <>
struct ringlet::ipc::Codec<Percent> {
    static constexpr std::size_t min_size = 1;
    static void encode(Writer& w, const Percent& p) { w.put(&p.value, 1); }
    static Percent decode(Reader& r) {
        Percent p{};
        r.get(&p.value, 1);
        if (p.value > 100) throw CodecError("Percent over 100");
        return p;
    }
};

// A type selected by an enable_if condition on the second parameter.
namespace {
struct Tagged {
    int id;
    friend bool operator==(const Tagged&, const Tagged&) = default;
};
template <class T>
inline constexpr bool is_tagged_v = std::is_same_v<T, Tagged>;
}  // namespace

template <class T>
struct ringlet::ipc::Codec<T, std::enable_if_t<is_tagged_v<T>>> {
    static void encode(Writer& w, const T& t) {
        const std::int64_t wide = t.id;
        w.write(wide);
    }
    static T decode(Reader& r) { return T{static_cast<int>(r.read<std::int64_t>())}; }
};

namespace {

template <class T>
T round_trip(const T& value) {
    return decode<T>(encode(value));
}

std::string u64_bytes(std::uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

// Decoding every proper prefix of `bytes` must throw CodecError ("truncated").
template <class T>
void expect_every_prefix_rejected(const std::string& bytes) {
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        try {
            (void)decode<T>(std::string_view(bytes).substr(0, n));
            ADD_FAILURE() << "a prefix of " << n << " of " << bytes.size() << " bytes decoded";
        } catch (const CodecError& e) {
            EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
        }
    }
}

// Runs f with the allocation watch on; returns the largest request it made.
template <class F>
std::size_t largest_allocation_in(F&& f) {
    largest_request = 0;
    watching = true;
    try {
        f();
    } catch (...) {
        watching = false;
        throw;
    }
    watching = false;
    return largest_request.load();
}

}  // namespace

// ---- Encodable -----------------------------------------------------------------

TEST(CodecTest, EncodableAcceptsBuiltInsAndNestings) {
    static_assert(Encodable<int>);
    static_assert(Encodable<double>);
    static_assert(Encodable<bool>);
    static_assert(Encodable<Pod>);
    static_assert(Encodable<Colour>);
    static_assert(Encodable<std::string>);
    static_assert(Encodable<std::vector<std::string>>);
    static_assert(Encodable<std::array<int, 3>>);
    static_assert(Encodable<std::pair<int, std::string>>);
    static_assert(Encodable<std::tuple<>>);
    static_assert(Encodable<std::tuple<int, std::string, std::vector<Pod>>>);
    static_assert(Encodable<std::optional<std::string>>);
    static_assert(Encodable<std::variant<int, std::string>>);
    static_assert(Encodable<std::map<std::string, std::vector<int>>>);
    static_assert(Encodable<std::unordered_map<int, std::optional<std::string>>>);
    static_assert(Encodable<std::chrono::nanoseconds>);
    static_assert(Encodable<Order>);
    static_assert(Encodable<std::vector<Order>>);
    static_assert(Encodable<Box<std::vector<int>>>);
    static_assert(Encodable<Tagged>);
    static_assert(Encodable<void (*)(int)>);  // same binary after fork: valid
    SUCCEED();
}

TEST(CodecTest, EncodableRejectsTypesWithoutACodec) {
    static_assert(!Encodable<NotTrivial>);
    static_assert(!Encodable<std::vector<NotTrivial>>);
    static_assert(!Encodable<std::map<std::string, NotTrivial>>);
    static_assert(!Encodable<std::pair<int, NotTrivial>>);
    static_assert(!Encodable<std::tuple<int, NotTrivial>>);
    static_assert(!Encodable<std::optional<NotTrivial>>);
    static_assert(!Encodable<std::variant<int, NotTrivial>>);
    static_assert(!Encodable<std::array<NotTrivial, 2>>);
    static_assert(!Encodable<std::unique_ptr<int>>);
    // Views point into the sender's memory: not memcpy'd, even when wrapped
    // in a trivially copyable std type.
    static_assert(!Encodable<std::string_view>);
    static_assert(!Encodable<std::span<int>>);
    static_assert(!Encodable<std::optional<std::string_view>>);
    static_assert(!Encodable<std::array<std::string_view, 2>>);
    static_assert(!Encodable<std::pair<int, std::string_view>>);
    static_assert(!Encodable<int[3]>);
    static_assert(!Encodable<void>);
    static_assert(!Encodable<int&>);
    SUCCEED();
}

// ---- Round trips and wire format -----------------------------------------------

TEST(CodecTest, IntegersRoundTripAtTheirLimits) {
    EXPECT_EQ(round_trip(std::numeric_limits<std::int8_t>::min()),
              std::numeric_limits<std::int8_t>::min());
    EXPECT_EQ(round_trip(std::numeric_limits<std::uint16_t>::max()),
              std::numeric_limits<std::uint16_t>::max());
    EXPECT_EQ(round_trip(std::numeric_limits<std::int32_t>::min()),
              std::numeric_limits<std::int32_t>::min());
    EXPECT_EQ(round_trip(std::numeric_limits<std::uint64_t>::max()),
              std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(round_trip(std::int64_t{-42}), -42);
    EXPECT_EQ(round_trip('x'), 'x');
    EXPECT_EQ(encode(std::int32_t{7}).size(), 4u);
    EXPECT_EQ(encode(std::uint64_t{7}).size(), 8u);
}

TEST(CodecTest, FloatingPointKeepsItsBits) {
    EXPECT_EQ(round_trip(3.25), 3.25);
    EXPECT_EQ(round_trip(1.5f), 1.5f);
    EXPECT_TRUE(std::isinf(round_trip(std::numeric_limits<double>::infinity())));
    EXPECT_TRUE(std::isnan(round_trip(std::numeric_limits<double>::quiet_NaN())));
    EXPECT_TRUE(std::signbit(round_trip(-0.0)));
}

TEST(CodecTest, TriviallyCopyableStructIsItsBytes) {
    Pod p{};  // zeroed, padding included, so the bytes compare equal
    p.a = -5;
    p.b = 2.5;
    std::memcpy(p.c, "abcd", 5);
    const std::string bytes = encode(p);
    ASSERT_EQ(bytes.size(), sizeof(Pod));
    EXPECT_EQ(std::memcmp(bytes.data(), &p, sizeof(Pod)), 0);
    EXPECT_EQ(decode<Pod>(bytes), p);
}

TEST(CodecTest, EnumsAndChronoTypesRoundTrip) {
    EXPECT_EQ(round_trip(Colour::blue), Colour::blue);
    EXPECT_EQ(encode(Colour::green).size(), 1u);
    EXPECT_EQ(round_trip(std::chrono::milliseconds(1234)), std::chrono::milliseconds(1234));
    const auto t = std::chrono::steady_clock::now();
    EXPECT_EQ(round_trip(t), t);
}

TEST(CodecTest, NonDefaultConstructibleTrivialTypesRoundTrip) {
    EXPECT_EQ(round_trip(NoDefault(17)), NoDefault(17));
    const std::vector<NoDefault> v{NoDefault(1), NoDefault(2), NoDefault(3)};
    EXPECT_EQ(round_trip(v), v);
    const std::array<NoDefault, 2> a{NoDefault(8), NoDefault(9)};
    EXPECT_EQ(round_trip(a), a);
}

TEST(CodecTest, BoolIsOneByteZeroOrOne) {
    EXPECT_EQ(encode(true), std::string(1, '\1'));
    EXPECT_EQ(encode(false), std::string(1, '\0'));
    EXPECT_TRUE(round_trip(true));
    EXPECT_FALSE(round_trip(false));
    EXPECT_THROW(decode<bool>(std::string(1, '\2')), CodecError);
    EXPECT_THROW(decode<bool>(std::string(1, '\xff')), CodecError);
}

TEST(CodecTest, StringIsLengthThenCharacters) {
    EXPECT_EQ(encode(std::string("hey")), u64_bytes(3) + "hey");
    EXPECT_EQ(encode(std::string()), u64_bytes(0));
    EXPECT_EQ(round_trip(std::string()), "");
    const std::string with_nuls("a\0b\0c", 5);
    EXPECT_EQ(round_trip(with_nuls), with_nuls);
    std::string big(1 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
    EXPECT_EQ(round_trip(big), big);
}

TEST(CodecTest, VectorOfTriviallyCopyableIsOneBlock) {
    const std::vector<std::uint32_t> v{1, 2, 3, 0xdeadbeef};
    const std::string bytes = encode(v);
    ASSERT_EQ(bytes.size(), 8 + 4 * sizeof(std::uint32_t));
    EXPECT_EQ(bytes.substr(0, 8), u64_bytes(4));
    EXPECT_EQ(std::memcmp(bytes.data() + 8, v.data(), 16), 0);
    EXPECT_EQ(decode<std::vector<std::uint32_t>>(bytes), v);
    EXPECT_EQ(round_trip(std::vector<double>{}), std::vector<double>{});
    std::vector<Pod> pods(1000);
    for (int i = 0; i < 1000; ++i) pods[static_cast<std::size_t>(i)].a = i;
    EXPECT_EQ(round_trip(pods), pods);
}

TEST(CodecTest, VectorOfStringsRoundTrips) {
    const std::vector<std::string> v{"", "one", std::string(1000, 'x'), "four"};
    EXPECT_EQ(round_trip(v), v);
    EXPECT_EQ(encode(v).size(), 8 + (8 + 0) + (8 + 3) + (8 + 1000) + (8 + 4));
}

TEST(CodecTest, VectorOfBoolRoundTrips) {
    const std::vector<bool> v{true, false, false, true, true};
    EXPECT_EQ(round_trip(v), v);
    EXPECT_EQ(encode(v).size(), 8u + 5u);
}

TEST(CodecTest, ArraysRoundTrip) {
    const std::array<int, 4> ints{1, -2, 3, -4};
    EXPECT_EQ(encode(ints).size(), sizeof ints);  // no count
    EXPECT_EQ(round_trip(ints), ints);
    const std::array<std::string, 3> strings{"a", "", "ccc"};
    EXPECT_EQ(round_trip(strings), strings);
    const std::array<bool, 3> bools{true, false, true};
    EXPECT_EQ(round_trip(bools), bools);
    EXPECT_THROW((decode<std::array<bool, 2>>(std::string("\1\3", 2))), CodecError);
    EXPECT_EQ(encode(std::array<int, 0>{}).size(), 0u);
    const std::vector<std::array<std::uint16_t, 3>> rows{{1, 2, 3}, {4, 5, 6}};
    EXPECT_EQ(encode(rows).size(), 8 + 2 * 6u);
    EXPECT_EQ(round_trip(rows), rows);
}

TEST(CodecTest, PairsAndTuplesRoundTripInOrder) {
    const std::pair<int, std::string> p{7, "seven"};
    EXPECT_EQ(round_trip(p), p);
    EXPECT_EQ(encode(p), encode(7) + encode(std::string("seven")));
    const std::tuple<std::string, double, std::vector<int>, bool> t{"t", 0.5, {1, 2}, true};
    EXPECT_EQ(round_trip(t), t);
    EXPECT_EQ(encode(t), encode(std::string("t")) + encode(0.5) + encode(std::vector<int>{1, 2}) +
                             encode(true));
    EXPECT_EQ(encode(std::tuple<>{}).size(), 0u);
    EXPECT_EQ(round_trip(std::tuple<>{}), std::tuple<>{});
    EXPECT_EQ(round_trip(std::tuple<int>{3}), std::tuple<int>{3});
}

TEST(CodecTest, OptionalIsATagThenTheValue) {
    EXPECT_EQ(encode(std::optional<int>()), std::string(1, '\0'));
    EXPECT_EQ(encode(std::optional<int>(5)), std::string(1, '\1') + encode(5));
    EXPECT_EQ(round_trip(std::optional<std::string>()), std::nullopt);
    EXPECT_EQ(round_trip(std::optional<std::string>("x")), "x");
    EXPECT_EQ(round_trip(std::optional<std::optional<int>>(std::optional<int>())),
              std::optional<std::optional<int>>(std::optional<int>()));
    EXPECT_THROW(decode<std::optional<int>>(std::string(1, '\2') + encode(5)), CodecError);
}

TEST(CodecTest, VariantKeepsItsAlternativeIndex) {
    using V = std::variant<int, std::string, std::vector<int>>;
    EXPECT_EQ(round_trip(V(42)), V(42));
    EXPECT_EQ(round_trip(V(std::string("s"))), V(std::string("s")));
    EXPECT_EQ(round_trip(V(std::vector<int>{1, 2})), V(std::vector<int>{1, 2}));
    // Duplicate alternative types: the index, not the type, is what travels.
    using Twice = std::variant<int, int>;
    const Twice second(std::in_place_index<1>, 9);
    const Twice back = round_trip(second);
    EXPECT_EQ(back.index(), 1u);
    EXPECT_EQ(std::get<1>(back), 9);
    const std::uint32_t bad_index = 3;
    std::string bytes(reinterpret_cast<const char*>(&bad_index), 4);
    bytes += encode(1);
    EXPECT_THROW(decode<V>(bytes), CodecError);
}

TEST(CodecTest, MapsRoundTrip) {
    const std::map<std::string, std::vector<int>> m{{"a", {1}}, {"b", {}}, {"c", {2, 3}}};
    EXPECT_EQ(round_trip(m), m);
    EXPECT_EQ(round_trip(std::map<int, int>{}), (std::map<int, int>{}));
    const std::unordered_map<int, std::string> u{{1, "one"}, {2, "two"}, {-3, ""}};
    EXPECT_EQ(round_trip(u), u);
}

TEST(CodecTest, MapWithADuplicateKeyIsRejected) {
    const std::string bytes = u64_bytes(2) + encode(1) + encode(10) + encode(1) + encode(20);
    EXPECT_THROW((decode<std::map<int, int>>(bytes)), CodecError);
    EXPECT_THROW((decode<std::unordered_map<int, int>>(bytes)), CodecError);
    const std::string distinct = u64_bytes(2) + encode(1) + encode(10) + encode(2) + encode(20);
    EXPECT_EQ((decode<std::map<int, int>>(distinct)), (std::map<int, int>{{1, 10}, {2, 20}}));
}

TEST(CodecTest, DeepNestingRoundTrips) {
    using Row = std::tuple<int, std::string, std::vector<std::pair<std::string, double>>>;
    using Deep = std::map<std::string, std::vector<std::optional<Row>>>;
    Deep d;
    d["empty"] = {};
    d["mixed"] = {std::nullopt, Row{1, "r1", {{"x", 1.0}, {"y", 2.0}}}, Row{2, "", {}}};
    d["one"] = {Row{3, "r3", {{"", -0.5}}}};
    EXPECT_EQ(round_trip(d), d);
    const std::vector<std::vector<std::vector<std::string>>> cube{{{"a"}, {}}, {}, {{"b", "c"}}};
    EXPECT_EQ(round_trip(cube), cube);
}

// ---- User codecs -------------------------------------------------------------------

TEST(CodecTest, UserSpecialisationRoundTrips) {
    const Order o{"widget", 3, {1.25, 2.5}};
    EXPECT_EQ(round_trip(o), o);
    EXPECT_EQ(encode(o), encode(std::string("widget")) + encode(3) +
                             encode(std::vector<double>{1.25, 2.5}));
    const std::map<int, std::vector<Order>> book{{1, {o, Order{"", 0, {}}}}, {2, {}}};
    EXPECT_EQ(round_trip(book), book);
    EXPECT_EQ(round_trip(std::optional<Order>(o)), o);
}

TEST(CodecTest, UserPartialSpecialisationRoundTrips) {
    const Box<std::vector<int>> b{{1, 2, 3}, "label"};
    EXPECT_EQ(round_trip(b), b);
    const Box<Box<std::string>> nested{{"inner", "in"}, "out"};
    EXPECT_EQ(round_trip(nested), nested);
}

TEST(CodecTest, UserCodecOverridesMemcpyInsideContainers) {
    static_assert(std::is_trivially_copyable_v<Percent>);
    const std::vector<Percent> v{{0}, {50}, {100}};
    EXPECT_EQ(round_trip(v), v);
    const std::string bad = u64_bytes(2) + std::string("\x32\x65", 2);  // 50, 101
    EXPECT_THROW(decode<std::vector<Percent>>(bad), CodecError);
    const std::array<Percent, 2> a{Percent{1}, Percent{2}};
    EXPECT_EQ(round_trip(a), a);
    EXPECT_THROW((decode<std::array<Percent, 2>>(std::string("\x01\xff", 2))), CodecError);
}

TEST(CodecTest, EnableIfSpecialisationIsUsed) {
    EXPECT_EQ(encode(Tagged{5}).size(), 8u);  // its own codec, not memcpy (4 bytes)
    EXPECT_EQ(round_trip(Tagged{-5}), Tagged{-5});
    EXPECT_EQ(round_trip(std::vector<Tagged>{{1}, {2}}), (std::vector<Tagged>{{1}, {2}}));
}

// ---- Hostile input ---------------------------------------------------------------

TEST(CodecTest, TruncatedInputThrowsAtEveryByteOffset) {
    using Row = std::tuple<int, std::string, std::vector<std::pair<std::string, double>>>;
    using Deep = std::map<std::string, std::vector<std::optional<Row>>>;
    Deep d;
    d["k1"] = {std::nullopt, Row{1, "r1", {{"x", 1.0}}}};
    d["k2"] = {Row{2, "two", {}}};
    expect_every_prefix_rejected<Deep>(encode(d));

    using Mixed = std::tuple<std::variant<int, std::string>, std::array<std::string, 2>, bool,
                             std::unordered_map<int, std::vector<std::uint16_t>>, Order>;
    const Mixed m{std::string("var"), {"a", "bb"}, true, {{7, {1, 2, 3}}},
                  Order{"o", 1, {0.5}}};
    expect_every_prefix_rejected<Mixed>(encode(m));
    expect_every_prefix_rejected<std::vector<Pod>>(encode(std::vector<Pod>(3)));
}

TEST(CodecTest, HugeLengthsThrowWithoutAllocating) {
    const std::uint64_t huge[] = {std::uint64_t{1} << 60, std::uint64_t{1} << 61,
                                  std::numeric_limits<std::uint64_t>::max(), 1'000'000};
    for (const std::uint64_t length : huge) {
        // A few bytes follow the length: far fewer than it announces.
        const std::string bytes = u64_bytes(length) + std::string(16, 'z');
        const std::size_t largest = largest_allocation_in([&] {
            EXPECT_THROW(decode<std::string>(bytes), CodecError);
            EXPECT_THROW(decode<std::vector<char>>(bytes), CodecError);
            // 2^61 elements of 8 bytes overflow a naive length * size check.
            EXPECT_THROW(decode<std::vector<std::uint64_t>>(bytes), CodecError);
            EXPECT_THROW(decode<std::vector<std::string>>(bytes), CodecError);
            EXPECT_THROW(decode<std::vector<bool>>(bytes), CodecError);
            EXPECT_THROW((decode<std::map<int, int>>(bytes)), CodecError);
            EXPECT_THROW((decode<std::unordered_map<std::string, int>>(bytes)), CodecError);
            EXPECT_THROW(decode<std::vector<Order>>(bytes), CodecError);
            EXPECT_THROW((decode<std::vector<std::array<int, 1000>>>(u64_bytes(2) + bytes)),
                         CodecError);
            // Nested: a sane outer count, then a huge inner length.
            EXPECT_THROW(decode<std::vector<std::string>>(u64_bytes(1) + bytes), CodecError);
            EXPECT_THROW((decode<std::pair<int, std::string>>(encode(1) + bytes)), CodecError);
        });
        EXPECT_LT(largest, 4096u) << "length " << length;
    }
}

TEST(CodecTest, HugeLengthErrorSaysTruncated) {
    try {
        (void)decode<std::string>(u64_bytes(std::uint64_t{1} << 60));
        ADD_FAILURE() << "decoded";
    } catch (const CodecError& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
}

TEST(CodecTest, TrailingBytesAreRejected) {
    EXPECT_THROW(decode<int>(encode(1) + "x"), CodecError);
    EXPECT_THROW(decode<std::string>(encode(std::string("abc")) + std::string(1, '\0')),
                 CodecError);
    EXPECT_THROW(decode<std::tuple<>>(std::string("\0", 1)), CodecError);
    EXPECT_THROW(decode<Order>(encode(Order{"a", 1, {}}) + "!"), CodecError);
    try {
        (void)decode<int>(encode(1) + "xy");
        ADD_FAILURE() << "decoded";
    } catch (const CodecError& e) {
        EXPECT_NE(std::string(e.what()).find("trailing"), std::string::npos) << e.what();
    }
}

TEST(CodecTest, EmptyInputIsTruncatedForNonEmptyTypes) {
    EXPECT_THROW(decode<int>(""), CodecError);
    EXPECT_THROW(decode<std::string>(""), CodecError);
    EXPECT_THROW(decode<std::optional<int>>(""), CodecError);
    EXPECT_EQ(decode<std::tuple<>>(""), std::tuple<>{});
}

// ---- Writer and Reader -------------------------------------------------------------

TEST(CodecWriterTest, PutAppendsRawBytesAndLengths) {
    Writer w;
    EXPECT_EQ(w.size(), 0u);
    w.put("ab", 2);
    w.put(nullptr, 0);  // nothing, and no memcpy from nullptr
    w.put_length(3);
    w.write(std::string("xyz"));
    const Writer& cw = w;
    EXPECT_EQ(cw.bytes(), "ab" + u64_bytes(3) + u64_bytes(3) + "xyz");
    EXPECT_EQ(w.size(), 2u + 8u + 11u);
    std::string taken = std::move(w.bytes());
    EXPECT_EQ(taken.size(), 21u);
}

TEST(CodecReaderTest, GetTakeAndRemainingTrackThePosition) {
    const std::string input = "0123456789";
    Reader r(input);
    EXPECT_EQ(r.remaining(), 10u);
    char two[2];
    r.get(two, 2);
    EXPECT_EQ(std::string(two, 2), "01");
    const std::string_view view = r.take(3);
    EXPECT_EQ(view, "234");
    EXPECT_EQ(view.data(), input.data() + 2);  // a view into the input, no copy
    EXPECT_EQ(r.position(), 5u);
    EXPECT_EQ(r.remaining(), 5u);
    r.get(nullptr, 0);
    EXPECT_EQ(r.take(0), "");
    EXPECT_THROW(r.expect_end(), CodecError);
    EXPECT_EQ(r.take(5), "56789");
    EXPECT_NO_THROW(r.expect_end());
}

TEST(CodecReaderTest, OverreadThrowsAndConsumesNothing) {
    const std::string input = "abc";
    Reader r(input);
    char buf[8];
    EXPECT_THROW(r.get(buf, 4), CodecError);
    EXPECT_THROW(r.take(4), CodecError);
    EXPECT_EQ(r.position(), 0u);
    EXPECT_EQ(r.take(3), "abc");
    EXPECT_THROW(r.get(buf, 1), CodecError);
}

TEST(CodecReaderTest, GetLengthChecksItemsAgainstWhatRemains) {
    const std::string input = u64_bytes(3) + std::string(12, 'q');
    {
        Reader r(input);
        EXPECT_EQ(r.get_length(4), 3u);  // 3 × 4 = 12 bytes follow: fits
        EXPECT_EQ(r.position(), 8u);
    }
    {
        Reader r(input);
        EXPECT_THROW(r.get_length(5), CodecError);  // 3 × 5 > 12
        EXPECT_EQ(r.position(), 0u);                // nothing consumed
    }
    {
        Reader r(input);
        EXPECT_EQ(r.get_length(), 3u);
    }
    Reader short_input(std::string_view("abc"));
    EXPECT_THROW(short_input.get_length(), CodecError);
}

TEST(CodecReaderTest, ReadDecodesMembersInSequence) {
    const std::string bytes = encode(5) + encode(std::string("s")) + encode(true);
    Reader r(bytes);
    EXPECT_EQ(r.read<int>(), 5);
    EXPECT_EQ(r.read<std::string>(), "s");
    EXPECT_TRUE(r.read<bool>());
    EXPECT_EQ(r.remaining(), 0u);
}
