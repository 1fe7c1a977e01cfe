// tests/hooks/hooks_libpq_test.cpp — libpq's blocking API against PostgreSQL.
//
// PQconnectdb and PQexec block their caller; with the hooks, 50 tasks on one
// thread each run SELECT pg_sleep(0.2) at the same time, so the whole takes
// about 0.2 s instead of 10 s (asserted: under 5 s; the real figure is in
// bench/hooks/hooks_bench).
#include <chrono>
#include <cstdio>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <string>
#include <vector>

#include <ringlet/hooks.hpp>
#include <ringlet/ringlet.hpp>

#include "servers.hpp"

namespace {

// One server for the suite: initdb takes seconds.
class HooksLibpqTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        try {
            pg_ = new hookstest::TempPostgres;
        } catch (const hookstest::ServerUnavailable& e) {
            why_ = e.what();
        }
    }
    static void TearDownTestSuite() {
        delete pg_;
        pg_ = nullptr;
    }
    void SetUp() override {
        if (pg_ == nullptr) GTEST_SKIP() << why_;
    }
    static hookstest::TempPostgres* pg_;
    static std::string why_;
};

hookstest::TempPostgres* HooksLibpqTest::pg_ = nullptr;
std::string HooksLibpqTest::why_;

}  // namespace

TEST_F(HooksLibpqTest, FiftyConcurrentPgSleepsOnOneThread) {
    const std::string conninfo = pg_->conninfo();
    int done = 0;
    std::string first_error;
    std::chrono::steady_clock::duration queries{};
    ringlet::run([&] {
        ASSERT_TRUE(ringlet::hooks_installed());
        std::vector<PGconn*> conns(50, nullptr);  // connected first, concurrently too
        std::vector<ringlet::Task<void>> tasks;
        for (int i = 0; i < 50; ++i) {
            tasks.push_back(ringlet::spawn([&, i] {
                PGconn* c = PQconnectdb(conninfo.c_str());
                if (PQstatus(c) != CONNECTION_OK && first_error.empty())
                    first_error = PQerrorMessage(c);
                conns[static_cast<std::size_t>(i)] = c;
            }));
        }
        for (auto& t : tasks) t.join();
        tasks.clear();
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < 50; ++i) {
            tasks.push_back(ringlet::spawn([&, i] {
                PGresult* r = PQexec(conns[static_cast<std::size_t>(i)], "SELECT pg_sleep(0.2)");
                if (PQresultStatus(r) == PGRES_TUPLES_OK) {
                    ++done;
                } else if (first_error.empty()) {
                    first_error = PQresultErrorMessage(r);
                }
                PQclear(r);
            }));
        }
        for (auto& t : tasks) t.join();
        queries = std::chrono::steady_clock::now() - start;
        for (PGconn* c : conns) PQfinish(c);
    });
    EXPECT_EQ(first_error, "");
    EXPECT_EQ(done, 50);
    EXPECT_LT(queries, std::chrono::seconds(5));  // in series: 10 s
    std::printf("50 x pg_sleep(0.2) on one thread: %.3f s\n",
                std::chrono::duration<double>(queries).count());
}

TEST_F(HooksLibpqTest, ACancelledQueryReturnsAnErrorAndTheTaskEndsCancelled) {
    const std::string conninfo = pg_->conninfo();
    ExecStatusType status = PGRES_TUPLES_OK;
    ringlet::run([&] {
        PGconn* c = PQconnectdb(conninfo.c_str());
        ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
        auto t = ringlet::spawn([&] {
            PGresult* r = PQexec(c, "SELECT pg_sleep(30)");  // libpq retries EINTR, then gives up
            status = PQresultStatus(r);
            PQclear(r);
            ringlet::yield();  // Cancelled is thrown here
        });
        for (int i = 0; i < 10; ++i) ringlet::yield();
        t.cancel();
        t.join();
        EXPECT_TRUE(t.cancelled());
        PQfinish(c);
    });
    EXPECT_NE(status, PGRES_TUPLES_OK);
}
