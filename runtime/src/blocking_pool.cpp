// blocking_pool.cpp — the process-wide worker threads behind blocking().
//
// The one piece of process-wide state besides the per-thread scheduler
// pointer: a pool shared by every scheduler. Workers are created on demand
// when no idle worker can take a job, up to the limit, and exit after idling
// for `idle_exit`. After fork() the child starts with an empty pool (its
// workers did not survive the fork).
#include <ringlet/blocking.hpp>

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include <ringlet/errors.hpp>

#include "park.hpp"
#include "scheduler.hpp"

namespace ringlet::detail {

namespace {

constexpr auto idle_exit = std::chrono::seconds(5);

class BlockingPool {
public:
    // In a child, right after fork() (pthread_atfork): the parent's workers
    // do not exist here, but the mutex may have been held by one of them and
    // the condition variable still counts them as waiters (glibc's
    // notify_one would then wait for them). Both start afresh.
    void reinit_in_child() noexcept {
        new (&mutex_) std::mutex;
        new (&wake_) std::condition_variable;
        reset_after_fork();
    }

    void submit(BlockingJob& job) {
        std::unique_lock lock(mutex_);
        reset_after_fork();
        if (tail_) {
            tail_->next = &job;
        } else {
            head_ = &job;
        }
        tail_ = &job;
        job.next = nullptr;
        ++queued_;
        if (idle_ >= queued_) {
            wake_.notify_one();
            return;
        }
        if (threads_ < limit_) {
            ++threads_;
            try {
                std::thread([this] { work(); }).detach();
            } catch (const std::system_error& e) {
                --threads_;
                if (threads_ == 0) {  // nobody will ever run it
                    unqueue(job);
                    throw IoError(e.code().value(), "blocking: start worker thread");
                }
            }
        }
    }

    void set_limit(std::size_t n) {
        std::lock_guard lock(mutex_);
        limit_ = n == 0 ? 1 : n;
    }
    std::size_t limit() {
        std::lock_guard lock(mutex_);
        return limit_;
    }

private:
    void unqueue(BlockingJob& job) {
        BlockingJob** p = &head_;
        BlockingJob* prev = nullptr;
        while (*p != &job) {
            prev = *p;
            p = &(*p)->next;
        }
        *p = job.next;
        if (tail_ == &job) tail_ = prev;
        --queued_;
    }

    void reset_after_fork() {
        if (owner_pid_ != ::getpid()) {
            owner_pid_ = ::getpid();
            threads_ = idle_ = queued_ = 0;
            head_ = tail_ = nullptr;
        }
    }


    void work() {
        std::unique_lock lock(mutex_);
        for (;;) {
            ++idle_;
            const bool got = wake_.wait_for(lock, idle_exit, [&] { return head_ != nullptr; });
            --idle_;
            if (!got) {
                --threads_;
                return;
            }
            BlockingJob* job = head_;
            head_ = job->next;
            if (head_ == nullptr) tail_ = nullptr;
            --queued_;
            lock.unlock();
            job->run();
            job->done.signal();  // the submitter may free `job` from here on
            lock.lock();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    BlockingJob* head_ = nullptr;
    BlockingJob* tail_ = nullptr;
    std::size_t queued_ = 0;
    std::size_t idle_ = 0;
    std::size_t threads_ = 0;
    std::size_t limit_ = 64;
    pid_t owner_pid_ = ::getpid();
};

BlockingPool& pool() {
    // Leaked on purpose: detached workers may still be finishing at exit.
    static BlockingPool* p = [] {
        auto* created = new BlockingPool;
        ::pthread_atfork(nullptr, nullptr, [] { pool().reinit_in_child(); });
        return created;
    }();
    return *p;
}

}  // namespace

void run_blocking(BlockingJob& job) {
    check_interrupts();  // a pending cancel or expired Timeout: do not run f at all
    pool().submit(job);
    job.done.wait_uninterruptible("blocking");
    check_interrupts();
}

}  // namespace ringlet::detail

namespace ringlet {

void set_blocking_pool_limit(std::size_t threads) { detail::pool().set_limit(threads); }
std::size_t blocking_pool_limit() noexcept { return detail::pool().limit(); }

}  // namespace ringlet
