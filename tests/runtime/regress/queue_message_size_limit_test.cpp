// Regression: Queue::put over 4 GiB said "can never fit" in an 8 GiB ring, after copying the value.
//
// tests/runtime/regress/queue_message_size_limit_test.cpp — ipc::Queue names
// the limit a message passes: the 32-bit record length (max_message_bytes)
// apart from the queue's capacity, and Queue<T>::put stops encoding at the
// limit instead of copying an oversized value first. The 4 GiB values here
// are read-only views of untouched anonymous memory: no test allocates them.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

#include <sys/mman.h>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

namespace ipc = ringlet::ipc;

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;
constexpr std::size_t over_4gib = (std::size_t{1} << 32) + 1;

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0;
    std::size_t resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// `bytes` of address space that read as zeros and cost no memory until read.
class ZeroPages {
  public:
    explicit ZeroPages(std::size_t bytes) : bytes_(bytes) {
        data_ =
            ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    ~ZeroPages() {
        if (ok()) ::munmap(data_, bytes_);
    }
    ZeroPages(const ZeroPages&) = delete;
    ZeroPages& operator=(const ZeroPages&) = delete;
    bool ok() const noexcept { return data_ != MAP_FAILED; }
    std::string_view view() const noexcept { return {static_cast<const char*>(data_), bytes_}; }

  private:
    std::size_t bytes_;
    void* data_;
};

// A value that encodes like a std::string but borrows its characters, so a
// test can put() a 4 GiB + 1 message without owning 4 GiB.
struct Borrowed {
    std::string_view chars;
};

}  // namespace

template <>
struct ringlet::ipc::Codec<Borrowed> {
    static void encode(Writer& w, const Borrowed& b) {
        w.put_length(b.chars.size());
        w.put(b.chars.data(), b.chars.size());
    }
    static Borrowed decode(Reader& r) { return Borrowed{r.take(r.get_length(1))}; }
};

RINGLET_TEST(QueueMessageSizeLimitTest, RecordLengthLimitIsNamedApartFromCapacity) {
    static_assert(ipc::max_message_bytes == UINT32_MAX);
    ZeroPages big(over_4gib);
    ASSERT_TRUE(big.ok());
    // 8 GiB of buffer: capacity is not the limit here, the record length is.
    ipc::Queue<std::string> q(0, std::size_t{8} << 30);
    try {
        q.core().put(big.view(), ringlet::TimePoint::min());
        FAIL() << "a 4 GiB + 1 message was accepted";
    } catch (const ipc::CodecError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("4294967295"), std::string::npos) << what;
        EXPECT_NE(what.find("32 bits"), std::string::npos) << what;
        EXPECT_EQ(what.find("can never fit"), std::string::npos) << what;
    }
    EXPECT_EQ(q.size(), 0u);
    EXPECT_EQ(q.core().largest_message(), ipc::max_message_bytes);
}

RINGLET_TEST(QueueMessageSizeLimitTest, OversizedValueIsRefusedBeforeItIsCopied) {
    ZeroPages big(over_4gib);
    ASSERT_TRUE(big.ok());
    ipc::Queue<Borrowed> q(0, std::size_t{8} << 30);
    const std::size_t before = resident_bytes();
    try {
        q.put(Borrowed{big.view()});
        FAIL() << "a 4 GiB + 1 message was accepted";
    } catch (const ipc::CodecError& e) {
        EXPECT_NE(std::string(e.what()).find("32 bits"), std::string::npos) << e.what();
    }
    const std::size_t after = resident_bytes();
    // A copy would have read all 4 GiB and grown the encode buffer to match.
    EXPECT_LT(after - std::min(after, before), 64 * mib);
    EXPECT_THROW(q.try_put(Borrowed{big.view()}), ipc::CodecError);  // try_put refuses it alike
}

RINGLET_TEST(QueueMessageSizeLimitTest, CapacityLimitStillSaysCapacity) {
    ipc::Queue<std::string> q(0, 1024);
    EXPECT_EQ(q.core().largest_message(), 1024u - 4);
    // 8 bytes of length + 1012 characters = 1020: exactly the largest.
    const std::string largest(1012, 'x');
    q.put(largest);
    EXPECT_EQ(q.get(), largest);
    try {
        q.put(std::string(1013, 'x'));
        FAIL() << "a message one byte too large was accepted";
    } catch (const ipc::CodecError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("capacity_bytes"), std::string::npos) << what;
        EXPECT_NE(what.find("at most 1020"), std::string::npos) << what;
        EXPECT_EQ(what.find("32 bits"), std::string::npos) << what;
    }
    EXPECT_EQ(q.size(), 0u);
    q.put("still works");
    EXPECT_EQ(q.get(), "still works");
}

RINGLET_TEST(QueueMessageSizeLimitTest, WriterLimitStopsAnEncodingWithoutAppending) {
    ipc::Writer w;
    w.set_limit(16);
    EXPECT_EQ(w.limit(), 16u);
    w.put_length(3);
    try {
        w.write(std::string(100, 'y'));
        FAIL() << "the writer went past its limit";
    } catch (const ipc::EncodeLimitExceeded& e) {
        EXPECT_EQ(e.needed(), 8u + 8u + 100u);  // the string's length fit; its characters did not
    } catch (...) {
        FAIL() << "not EncodeLimitExceeded";
    }
    EXPECT_EQ(w.size(), 16u);  // nothing of the refused put was appended
}
