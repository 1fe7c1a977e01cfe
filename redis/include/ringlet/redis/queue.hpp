// ringlet/redis/queue.hpp — a reliable FIFO of Codec-encoded values in Redis.
//
// Queue<T> keeps values (ipc::Codec<T> bytes) in the list `name`. put()
// pushes on the left; get() moves the oldest value with BLMOVE, atomically,
// into this consumer's processing list `name:processing:<consumer>`, where it
// stays until ack(). A consumer that dies leaves its item there: recover()
// (from any process, naming the dead consumer) moves such items back to the
// head of the queue. Delivery is at-least-once: an item is lost only if the
// server loses it. Any number of producers and consumers, on any machines;
// each consumer uses a distinct consumer name. Used by the tasks of one
// thread through their ConnectionPool.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <unistd.h>

#include <ringlet/ipc/codec.hpp>
#include <ringlet/redis/pool.hpp>

namespace ringlet::redis {

// "<hostname>:<pid>": a consumer name unique on the network while the
// process lives.
std::string default_consumer_name();

template <class T>
class Queue {
    static_assert(ipc::Encodable<T>, "ringlet::redis::Queue<T>: T needs an ipc::Codec");

  public:
    // An item taken by get(): its value, and its bytes (what ack() removes).
    struct Item {
        T value;
        std::string bytes;
    };

    // `consumer` names this process's processing list (default
    // default_consumer_name()). Makes no connection.
    Queue(ConnectionPool& pool, std::string name, std::string consumer = default_consumer_name())
        : pool_(&pool),
          name_(std::move(name)),
          consumer_(std::move(consumer)),
          processing_(processing_list(name_, consumer_)) {}

    // Appends `value`. Once put() returns, the server holds the item.
    // Suspends. Throws: ConnectionError (it may or may not have been added),
    // redis::Error, TimeoutError, Cancelled.
    void put(const T& value) { pool_->get()->lpush(name_, ipc::encode(value)); }

    // Takes the oldest item into this consumer's processing list, waiting up
    // to `timeout` for one; nullopt on timeout.
    // Suspends. Throws: ConnectionError, ipc::CodecError (the bytes stay in
    // the processing list), TimeoutError, Cancelled.
    // Cancellation: an item may have moved to the processing list; recover()
    // with this consumer's name returns it to the queue.
    std::optional<Item> get(Duration timeout = forever) {
        std::optional<std::string> bytes =
            pool_->get()->blmove(name_, processing_, End::right, End::left, timeout);
        if (!bytes) return std::nullopt;
        T value = ipc::decode<T>(*bytes);
        return Item{std::move(value), std::move(*bytes)};
    }

    // Removes a processed item from the processing list; true if it was there.
    // Suspends. Throws: ConnectionError, redis::Error, TimeoutError, Cancelled.
    bool ack(const Item& item) { return pool_->get()->lrem(processing_, 1, item.bytes) == 1; }

    // Moves every item in `consumer`'s processing list back to the head of
    // the queue (oldest first), one atomic LMOVE each; returns how many.
    // Call it for a consumer known to be dead (or for yourself at start-up).
    // Suspends. Throws: ConnectionError, redis::Error, TimeoutError, Cancelled.
    std::size_t recover(const std::string& consumer) {
        auto c = pool_->get();
        const std::string list = processing_list(name_, consumer);
        std::size_t n = 0;
        while (c->lmove(list, name_, End::left, End::right)) ++n;
        return n;
    }
    std::size_t recover() { return recover(consumer_); }

    // Items waiting (not counting processing lists).
    std::size_t size() { return static_cast<std::size_t>(pool_->get()->llen(name_)); }
    // Items in `consumer`'s processing list.
    std::size_t processing(const std::string& consumer) {
        return static_cast<std::size_t>(pool_->get()->llen(processing_list(name_, consumer)));
    }
    std::size_t processing() { return processing(consumer_); }

    const std::string& name() const noexcept { return name_; }
    const std::string& consumer() const noexcept { return consumer_; }

    static std::string processing_list(const std::string& name, const std::string& consumer) {
        return name + ":processing:" + consumer;
    }

  private:
    ConnectionPool* pool_;
    std::string name_;
    std::string consumer_;
    std::string processing_;
};

}  // namespace ringlet::redis
