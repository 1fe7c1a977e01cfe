// ringlet/redis/pool.hpp — a bounded set of connections shared by a thread's tasks.
//
// ConnectionPool lends Clients: get() returns a Lease (a Client while it
// lives) and waits while max_connections are lent. A lease whose connection
// broke (a ConnectionError, a cancelled or timed-out call) is dropped when it
// is returned, and a new connection is made on demand. Making one retries
// with exponential backoff (reconnect_backoff doubling up to
// reconnect_backoff_max) for up to reconnect_timeout, so tasks ride out a
// server restart. Used by the tasks of one thread (not thread-safe); the
// pool must outlive its leases.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include <ringlet/redis/client.hpp>
#include <ringlet/semaphore.hpp>

namespace ringlet::redis {

struct PoolOptions {
    std::size_t max_connections = 16;
    ClientOptions client = {};
    Duration reconnect_backoff = std::chrono::milliseconds(10);
    Duration reconnect_backoff_max = std::chrono::milliseconds(500);
    Duration reconnect_timeout = std::chrono::seconds(10);  // then ConnectionError
};

class ConnectionPool {
  public:
    // Makes no connection yet (the first get() does).
    ConnectionPool(std::string host, std::uint16_t port, PoolOptions options = {});
    ConnectionPool(Endpoint endpoint, PoolOptions options = {});
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;
    ~ConnectionPool();

    // A Client on loan; returns it to the pool when destroyed (dropping it if
    // its connection is closed). Move-only.
    class Lease {
      public:
        Lease(Lease&& o) noexcept
            : pool_(std::exchange(o.pool_, nullptr)), client_(std::move(o.client_)) {}
        Lease& operator=(Lease&&) = delete;
        ~Lease();
        Client* operator->() noexcept { return client_.get(); }
        Client& operator*() noexcept { return *client_; }

      private:
        friend class ConnectionPool;
        Lease(ConnectionPool* p, std::unique_ptr<Client> c) noexcept
            : pool_(p), client_(std::move(c)) {}
        ConnectionPool* pool_;
        std::unique_ptr<Client> client_;
    };

    // Lends a connection, waiting while all are lent and connecting (with
    // backoff) when no idle one is left.
    // Suspends. Throws: ConnectionError once reconnect_timeout has passed
    // without a connection, AuthError (not retried), TimeoutError, Cancelled.
    // Cancellation: nothing is lent.
    Lease get();

    const Endpoint& endpoint() const noexcept { return endpoint_; }
    const PoolOptions& options() const noexcept { return options_; }
    std::size_t idle_count() const noexcept { return idle_.size(); }
    // Connections lent right now.
    std::size_t lent_count() const noexcept { return lent_; }
    // Connections made so far (reconnects included).
    std::size_t connects() const noexcept { return connects_; }

  private:
    void give_back(std::unique_ptr<Client> c) noexcept;
    Endpoint endpoint_;
    PoolOptions options_;
    Semaphore slots_;
    std::vector<std::unique_ptr<Client>> idle_;
    std::size_t lent_ = 0;
    std::size_t connects_ = 0;
};

}  // namespace ringlet::redis
