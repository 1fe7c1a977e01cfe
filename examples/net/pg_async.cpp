// examples/net/pg_async.cpp — libpq's asynchronous API driven from tasks
// with net::wait_readable / wait_writable.
//
// Ports gevent.socket's wait_read / wait_write, which let an event-driven C
// library run inside greenlets by handing over its file descriptor; psycopg's
// "green" support is exactly that loop around libpq. Here each task opens its
// own connection with PQconnectStart/PQconnectPoll, sends a query with
// PQsendQuery, and waits for the socket whenever libpq says it would block
// (PQisBusy, PQconsumeInput, PQgetResult), so ten `SELECT pg_sleep(0.2)` on
// one thread take about 0.2 s, not 2 s.
//
// The example starts its own PostgreSQL (initdb and pg_ctl from
// /usr/lib/postgresql/<version>/bin, as the `postgres` user when run as root)
// in a temporary directory, listening only on a Unix socket there, and stops
// it at the end. It exits 77 (skipped) when PostgreSQL cannot be started.
//
//   pg_async [--tasks N]     # N concurrent pg_sleep(0.2) queries (default 10), timed
//   pg_async --smoke         # also proves the overlap without timing (advisory lock)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <libpq-fe.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <ringlet/group.hpp>
#include <ringlet/net/wait.hpp>
#include <ringlet/run.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// A throwaway PostgreSQL server

class TempPostgres {
  public:
    // Starts a server in a new temporary directory; throws if it cannot.
    TempPostgres() {
        bin_ = find_bin();
        if (bin_.empty()) throw std::runtime_error("no PostgreSQL binaries in /usr/lib/postgresql");
        char tmpl[] = "/tmp/pg_async-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        as_ = ::geteuid() == 0 ? "runuser -u postgres -- " : "";  // postgres refuses root
        if (!as_.empty() && std::system(("chown postgres: '" + dir_ + "'").c_str()) != 0) {
            throw std::runtime_error("cannot chown the data directory to postgres");
        }
        run(bin_ + "/initdb -D '" + dir_ + "/data' -A trust -U postgres >'" + dir_ +
                "/initdb.log' 2>&1",
            "initdb");
        run(bin_ + "/pg_ctl -D '" + dir_ + "/data' -l '" + dir_ + "/server.log' -w -o \"-k " +
                dir_ + " -c listen_addresses='' -c max_connections=60\" start >/dev/null 2>&1",
            "pg_ctl start");
        started_ = true;
    }
    ~TempPostgres() {
        if (started_) {
            std::system((as_ + bin_ + "/pg_ctl -D '" + dir_ + "/data' -m immediate -w stop " +
                         ">/dev/null 2>&1")
                            .c_str());
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string conninfo() const { return "host=" + dir_ + " dbname=postgres user=postgres"; }

  private:
    static std::string find_bin() {
        std::string best;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
            const std::string bin = e.path().string() + "/bin";
            if (std::filesystem::exists(bin + "/pg_ctl") && bin > best) best = bin;
        }
        return best;
    }
    void run(const std::string& cmd, const char* what) {
        if (std::system((as_ + cmd).c_str()) != 0) {
            throw std::runtime_error(std::string(what) + " failed (see " + dir_ + ")");
        }
    }
    std::string bin_, dir_, as_;
    bool started_ = false;
};

// ---------------------------------------------------------------------------
// libpq, asynchronously

struct Connection {
    PGconn* conn = nullptr;
    Connection() = default;
    Connection(Connection&& o) noexcept : conn(std::exchange(o.conn, nullptr)) {}
    ~Connection() { PQfinish(conn); }
};

[[noreturn]] void fail(PGconn* c, const char* what) {
    throw std::runtime_error(std::string(what) + ": " + (c ? PQerrorMessage(c) : "out of memory"));
}

// PQconnectStart + PQconnectPoll, waiting on the socket in between: the
// connection and authentication suspend only this task.
Connection connect(const std::string& conninfo) {
    Connection c;
    c.conn = PQconnectStart(conninfo.c_str());
    if (c.conn == nullptr || PQstatus(c.conn) == CONNECTION_BAD) fail(c.conn, "PQconnectStart");
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    for (;;) {
        // libpq may change sockets while it tries addresses: ask every time.
        if (state == PGRES_POLLING_READING) ringlet::net::wait_readable(PQsocket(c.conn));
        if (state == PGRES_POLLING_WRITING) ringlet::net::wait_writable(PQsocket(c.conn));
        state = PQconnectPoll(c.conn);
        if (state == PGRES_POLLING_OK) break;
        if (state == PGRES_POLLING_FAILED) fail(c.conn, "PQconnectPoll");
    }
    if (PQsetnonblocking(c.conn, 1) != 0) fail(c.conn, "PQsetnonblocking");
    return c;
}

// PQsendQuery, then PQconsumeInput while PQisBusy, then PQgetResult until
// NULL; returns the first column of every row of every result.
std::vector<std::string> query(Connection& c, const std::string& sql) {
    if (PQsendQuery(c.conn, sql.c_str()) != 1) fail(c.conn, "PQsendQuery");
    for (;;) {  // non-blocking mode: push the query out as the socket takes it
        const int f = PQflush(c.conn);
        if (f == 0) break;
        if (f < 0) fail(c.conn, "PQflush");
        ringlet::net::wait_writable(PQsocket(c.conn));
    }
    std::vector<std::string> rows;
    for (;;) {
        while (PQisBusy(c.conn)) {
            ringlet::net::wait_readable(PQsocket(c.conn));
            if (PQconsumeInput(c.conn) != 1) fail(c.conn, "PQconsumeInput");
        }
        PGresult* r = PQgetResult(c.conn);
        if (r == nullptr) break;
        const ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            const std::string msg = PQresultErrorMessage(r);
            PQclear(r);
            throw std::runtime_error("query failed: " + msg);
        }
        for (int i = 0; i < PQntuples(r); ++i) rows.emplace_back(PQgetvalue(r, i, 0));
        PQclear(r);
    }
    return rows;
}

// ---------------------------------------------------------------------------

// N tasks, each with its own connection, run SELECT pg_sleep(0.2) at once.
double timed_sleeps(const std::string& conninfo, int n) {
    std::vector<Connection> conns;
    for (int i = 0; i < n; ++i) conns.push_back(connect(conninfo));
    const auto start = std::chrono::steady_clock::now();
    ringlet::Group g;
    std::vector<std::string> answers(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        g.spawn([&, i] {
            const auto rows = query(conns[static_cast<std::size_t>(i)],
                                    "SELECT 'task " + std::to_string(i) + "' FROM pg_sleep(0.2)");
            answers[static_cast<std::size_t>(i)] = rows.empty() ? "" : rows[0];
        });
    }
    g.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int i = 0; i < n; ++i) {
        if (answers[static_cast<std::size_t>(i)] != "task " + std::to_string(i)) {
            throw std::runtime_error("task " + std::to_string(i) + " got a wrong answer");
        }
    }
    std::printf(
        "pg_async: %d x SELECT pg_sleep(0.2) from %d tasks on one thread: %.3f s "
        "(one after another: %.1f s)\n",
        n, n, s, 0.2 * n);
    return s;
}

// Proof of overlap without a clock: the main task holds an advisory lock;
// N tasks send queries that wait for it. Only when the server shows all N
// waiting at once does the main task let go. Were the tasks serialised (a
// blocking call freezing the thread), the first would wait forever.
void overlap_without_timing(const std::string& conninfo, int n) {
    Connection boss = connect(conninfo);
    query(boss, "SELECT pg_advisory_lock(4242)");
    ringlet::Group g;
    int done = 0;
    for (int i = 0; i < n; ++i) {
        g.spawn([&] {
            Connection c = connect(conninfo);
            query(c, "SELECT pg_advisory_lock_shared(4242)");
            query(c, "SELECT pg_advisory_unlock_shared(4242)");
            ++done;
        });
    }
    for (;;) {
        const auto rows = query(boss,
                                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                "AND NOT granted");
        if (!rows.empty() && std::stoi(rows[0]) == n) break;
        ringlet::sleep(10ms);  // polling the server, not synchronising tasks
    }
    std::printf("  ok  %d tasks wait on the server at the same time\n", n);
    query(boss, "SELECT pg_advisory_unlock(4242)");
    g.join();
    if (done != n) throw std::runtime_error("not every waiting task finished");
    std::printf("  ok  all %d finish once the lock is released\n", n);
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    int tasks = 10;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--smoke") {
            smoke = true;
        } else if (arg == "--tasks" && i + 1 < argc) {
            tasks = std::max(1, std::min(50, std::atoi(argv[++i])));
        } else {
            std::fprintf(stderr, "usage: pg_async [--tasks N] | --smoke\n");
            return 2;
        }
    }
    std::optional<TempPostgres> pg;
    try {
        pg.emplace();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pg_async: cannot start PostgreSQL (%s): skipped\n", e.what());
        return 77;
    }
    try {
        return ringlet::run([&] {
            ringlet::Timeout limit(60s);
            timed_sleeps(pg->conninfo(), tasks);
            if (smoke) {
                overlap_without_timing(pg->conninfo(), tasks);
                std::printf("pg_async smoke: all checks passed\n");
            }
            return 0;
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pg_async: %s\n", e.what());
        return 1;
    }
}
