// pool.cpp — ConnectionPool: a semaphore of slots, idle connections, reconnect
// with backoff.
#include <algorithm>

#include <ringlet/errors.hpp>
#include <ringlet/redis/pool.hpp>
#include <ringlet/time.hpp>

namespace ringlet::redis {

ConnectionPool::ConnectionPool(std::string host, std::uint16_t port, PoolOptions options)
    : ConnectionPool(Endpoint::tcp(std::move(host), port), std::move(options)) {}

ConnectionPool::ConnectionPool(Endpoint endpoint, PoolOptions options)
    : endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      slots_(options_.max_connections == 0 ? 1 : options_.max_connections) {
    if (options_.max_connections == 0) {
        throw UsageError("ringlet::redis::ConnectionPool: max_connections must be at least 1");
    }
}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease::~Lease() {
    if (pool_ != nullptr) pool_->give_back(std::move(client_));
}

void ConnectionPool::give_back(std::unique_ptr<Client> c) noexcept {
    --lent_;
    if (c && c->is_connected()) {
        try {
            idle_.push_back(std::move(c));
        } catch (...) {
        }
    }
    slots_.release();
}

ConnectionPool::Lease ConnectionPool::get() {
    slots_.acquire();
    struct Slot {
        ConnectionPool* p;
        ~Slot() {
            if (p) p->slots_.release();
        }
    } slot{this};
    std::unique_ptr<Client> c;
    while (!idle_.empty() && !c) {
        c = std::move(idle_.back());
        idle_.pop_back();
        if (!c->is_connected()) c.reset();
    }
    if (!c) {
        const TimePoint give_up = deadline_after(options_.reconnect_timeout);
        Duration backoff = options_.reconnect_backoff;
        for (;;) {
            try {
                c = std::make_unique<Client>(Client::connect(endpoint_, options_.client));
                ++connects_;
                break;
            } catch (const ConnectionError&) {
                if (Clock::now() + backoff >= give_up) throw;
            }
            sleep(backoff);
            backoff = std::min(backoff * 2, options_.reconnect_backoff_max);
        }
    }
    slot.p = nullptr;
    ++lent_;
    return Lease(this, std::move(c));
}

}  // namespace ringlet::redis
