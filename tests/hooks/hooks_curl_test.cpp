// tests/hooks/hooks_curl_test.cpp — libcurl's easy interface from 100 tasks at once.
//
// curl_easy_perform blocks its caller until the transfer is done; with the
// hooks, its poll and socket calls suspend only the calling task, so 100
// tasks on one thread fetch from examples/net/http_hello concurrently.
#include <cstdio>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include <ringlet/hooks.hpp>
#include <ringlet/ringlet.hpp>

#include "servers.hpp"

namespace {

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

// One blocking GET; the body, or "error: ..." on failure.
std::string fetch(const std::string& url) {
    CURL* h = curl_easy_init();
    std::string body;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) return std::string("error: ") + curl_easy_strerror(rc);
    return body;
}

}  // namespace

TEST(HooksCurlTest, HundredEasyTransfersFromTasksOfOneThread) {
    std::unique_ptr<hookstest::HttpHello> server;
    try {
        server = std::make_unique<hookstest::HttpHello>();
    } catch (const hookstest::ServerUnavailable& e) {
        GTEST_SKIP() << e.what();
    }
    ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    const std::string url = "http://127.0.0.1:" + std::to_string(server->port()) + "/";
    std::vector<std::string> bodies(100);
    int in_flight = 0, most_in_flight = 0;
    ringlet::run([&] {
        ASSERT_TRUE(ringlet::hooks_installed());
        ringlet::Event go;  // every task is spawned before the first one fetches
        std::vector<ringlet::Task<void>> tasks;
        for (int i = 0; i < 100; ++i) {
            tasks.push_back(ringlet::spawn([&, i] {
                go.wait();
                ++in_flight;
                most_in_flight = std::max(most_in_flight, in_flight);
                bodies[static_cast<std::size_t>(i)] = fetch(url);
                --in_flight;
            }));
        }
        go.set();
        for (auto& t : tasks) t.join();
    });
    curl_global_cleanup();
    for (const std::string& b : bodies) EXPECT_EQ(b, "Hello, World!\n");
    // Without the hooks each curl_easy_perform would run to its end before
    // the next task could start one: at most one would ever be in flight.
    EXPECT_GT(most_in_flight, 1);
    std::printf("100 curl_easy_perform from tasks: up to %d in flight at once\n", most_in_flight);
}
