// tests/api/public_api_test.cpp — the umbrella header is enough for a program:
// spawn, join and a Channel through <ringlet/ringlet.hpp> alone.
#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <vector>

#include <ringlet/ringlet.hpp>

TEST(PublicApiTest, UmbrellaSmoke) {
    const int total = ringlet::run([] {
        ringlet::Channel<int> ch(2);
        auto producer = ringlet::spawn([&ch] {
            for (int i = 1; i <= 10; ++i) ch.send(i);
            ch.close();
        });
        std::vector<ringlet::Task<int>> squares;
        for (int i = 0; i < 4; ++i) squares.push_back(ringlet::spawn([i] { return i * i; }));
        int sum = 0;
        for (int& v : ch) sum += v;
        EXPECT_TRUE(producer.join());
        EXPECT_TRUE(ringlet::joinall(squares));
        for (auto& t : squares) sum += t.get();
        EXPECT_EQ(ch.recv(), std::nullopt);
        return sum;
    });
    EXPECT_EQ(total, 55 + 0 + 1 + 4 + 9);
}

TEST(PublicApiTest, EveryHeaderIsListed) {
    EXPECT_GT(RINGLET_API_HEADER_COUNT, 0);
    EXPECT_STREQ(RINGLET_API_UNLISTED, "")
        << "public headers missing from the api_headers list in tests/api/meson.build";
}
