// tests/faults/faults_memory_test.cpp — mmap and malloc failing, one call at
// a time (SQLite's way: fail the 1st allocation, then the 2nd, ... until the
// operation completes without reaching the fault).
//
// Each failure must come back as the documented error (IoError ENOMEM naming
// the mapping, std::bad_alloc from an allocation) and leave nothing behind:
// no mapping, no heap block (glibc's mallinfo2), and the object or queue
// still usable and unchanged. The malloc half needs the shim's malloc, which
// is only built without sanitizers (ASan owns the allocator): it skips in the
// ASan build, where LSan checks the mmap half for leaks instead.
#include <algorithm>
#include <cerrno>
#include <fstream>
#include <malloc.h>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <ringlet/ipc/event.hpp>
#include <ringlet/ipc/lock.hpp>
#include <ringlet/ipc/pipe.hpp>
#include <ringlet/ipc/queue.hpp>
#include <ringlet/ipc/semaphore.hpp>
#include <ringlet/ipc/shared.hpp>
#include <ringlet/ringlet.hpp>
#include <ringlet/stats.hpp>

#include "fault_control.hpp"
#include "ringlet_test.hpp"

namespace ipc = ringlet::ipc;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool malloc_faults = false;
#else
constexpr bool malloc_faults = true;
#endif

#define REQUIRE_MALLOC_FAULTS()                                                                 \
    do {                                                                                        \
        REQUIRE_FAULT_SHIM();                                                                   \
        if (!malloc_faults) GTEST_SKIP() << "malloc is ASan's in this build: no malloc faults"; \
    } while (0)

// Shared mappings ("rw-s"): what ShmRegion makes. Private ones come and go
// with the allocator (ASan maps its regions on demand).
std::size_t mapping_count() {
    std::ifstream maps("/proc/self/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(maps, line);) {
        const std::size_t perms = line.find(' ');
        if (perms != std::string::npos && line.size() > perms + 4 && line[perms + 4] == 's') ++n;
    }
    return n;
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }

// Fails call n of `name` for n = 1, 2, ... and runs `op` each time, until an
// op completes without reaching its fault. `op` returns normally or throws
// the error the fault must produce (checked by `expect_error`). Mappings and
// heap in use must be back where they were after every round.
template <class Op, class ExpectError>
void fail_each_call(const char* name, const char* err, Op op, ExpectError expect_error,
                    bool check_heap) {
    op();  // warm up: first-use allocations (statics, pools) are not leaks
    int faulted = 0;
    for (int n = 1; n <= 200; ++n) {
        const std::size_t maps_before = mapping_count();
        const std::size_t heap_before = heap_in_use();
        std::string spec = std::string(name) + ":" + err + "@" + std::to_string(n);
        bool threw = false;
        unsigned long hits = 0;
        try {
            faults::Armed armed(spec.c_str());
            try {
                op();
            } catch (...) {
                hits = faults::hits(name);
                throw;
            }
            hits = faults::hits(name);
        } catch (...) {
            threw = true;
            expect_error(std::current_exception(), spec);
        }
        EXPECT_EQ(mapping_count(), maps_before) << spec << ": a mapping leaked";
        if (check_heap) {
            EXPECT_EQ(heap_in_use(), heap_before) << spec << ": heap leaked";
        }
        if (hits == 0) {
            EXPECT_FALSE(threw) << spec << ": failed without a fault";
            EXPECT_GT(faulted, 0) << "the operation never reached a " << name;
            return;
        }
        ++faulted;
    }
    ADD_FAILURE() << "still faulting after 200 calls of " << name;
}

void expect_bad_alloc(std::exception_ptr e, const std::string& spec) {
    try {
        std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
    } catch (const std::exception& x) {
        ADD_FAILURE() << spec << ": expected std::bad_alloc, got " << x.what();
    } catch (...) {
        ADD_FAILURE() << spec << ": expected std::bad_alloc, got a non-std exception";
    }
}

// mmap ENOMEM: an IoError(ENOMEM) naming the mapping.
void expect_enomem(std::exception_ptr e, const std::string& spec) {
    try {
        std::rethrow_exception(e);
    } catch (const ringlet::IoError& x) {
        EXPECT_EQ(x.code(), std::errc::not_enough_memory) << spec << ": " << x.what();
        EXPECT_NE(std::string(x.what()).find("mmap"), std::string::npos) << x.what();
    } catch (const std::exception& x) {
        ADD_FAILURE() << spec << ": expected IoError(ENOMEM), got " << x.what();
    }
}

void make_every_primitive() {
    ipc::Event e;
    ipc::Lock l;
    ipc::Semaphore s(1);
    ipc::Shared<long> v(5);
    ipc::SharedArray<int> a(16, 1);
    ipc::Queue<std::string> q;
    e.set();
    EXPECT_TRUE(e.is_set());
    EXPECT_EQ(v.load(), 5);
    q.put("x");
    EXPECT_EQ(q.get(), "x");
}

}  // namespace

// ---- mmap ---------------------------------------------------------------------

RINGLET_TEST(FaultMemoryTest, SharedMemoryMapFailureIsIoErrorEnomemAndLeaksNothing) {
    REQUIRE_FAULT_SHIM();
    fail_each_call("mmap", "ENOMEM", make_every_primitive, expect_enomem, false);
}

RINGLET_TEST(FaultMemoryTest, TaskStackMapFailureIsIoErrorEnomemAndSchedulerGoesOn) {
    REQUIRE_FAULT_SHIM();
    // A non-default size is mapped on its own, at spawn.
    auto spawn_big = [] {
        auto t = ringlet::spawn(ringlet::SpawnOptions{.stack_size = 1024 * 1024}, [] { return 7; });
        EXPECT_EQ(t.get(), 7);
    };
    fail_each_call("mmap", "ENOMEM", spawn_big, expect_enomem, false);
}

RINGLET_TEST(FaultMemoryTest, StackSlabMapFailureLeavesSpawnedTasksRunning) {
    REQUIRE_FAULT_SHIM();
    // Default stacks come from slabs: spawn until the pool needs a new slab
    // and its mapping fails; the tasks already spawned are unharmed.
    ringlet::Event go;
    std::vector<ringlet::Task<int>> tasks;
    bool failed = false;
    {
        faults::Armed armed("mmap:ENOMEM@*");
        for (int i = 0; i < 100000 && !failed; ++i) {
            try {
                tasks.push_back(ringlet::spawn([&go, i] {
                    go.wait();
                    return i;
                }));
            } catch (const ringlet::IoError& e) {
                EXPECT_EQ(e.code(), std::errc::not_enough_memory) << e.what();
                failed = true;
            }
        }
    }
    EXPECT_TRUE(failed) << "no stack mapping was ever needed";
    go.set();
    for (std::size_t i = 0; i < tasks.size(); ++i) EXPECT_EQ(tasks[i].get(), static_cast<int>(i));
    auto after = ringlet::spawn([] { return 1; });  // the pool maps again once it may
    EXPECT_EQ(after.get(), 1);
}

TEST(FaultMemoryTest, RingSetupEnomemFallsBackToEpoll) {
    REQUIRE_FAULT_SHIM();
    faults::Armed armed("io_uring_setup:ENOMEM@1..");
    const std::string backend = ringlet::run([] { return std::string(ringlet::stats().backend); });
    EXPECT_EQ(backend, "epoll");
    try {
        ringlet::run([] {}, ringlet::Options{.backend = "io_uring"});
        ADD_FAILURE() << "an explicit io_uring backend started without a ring";
    } catch (const ringlet::IoError& e) {
        EXPECT_EQ(e.code(), std::errc::not_enough_memory) << e.what();
    }
}

// ---- malloc ---------------------------------------------------------------------

TEST(FaultMemoryTest, PrimitivesConstructedOnAFailingHeapThrowBadAllocAndLeakNothing) {
    REQUIRE_MALLOC_FAULTS();
    fail_each_call("malloc", "ENOMEM", make_every_primitive, expect_bad_alloc, true);
}

TEST(FaultMemoryTest, QueueGetOnAFailingHeapKeepsTheMessage) {
    REQUIRE_MALLOC_FAULTS();
    ipc::Queue<std::string> q;
    const std::string big(5000, 'q');
    q.put("warm");
    EXPECT_EQ(q.get(), "warm");
    q.put(big);
    bool threw = false;
    {
        faults::Armed armed("malloc:ENOMEM@*");
        try {
            (void)q.get();
        } catch (const std::bad_alloc&) {
            threw = true;
        }
    }
    EXPECT_TRUE(threw) << "get() of a 5000-byte message allocated nothing";
    // "may throw bad_alloc: nothing has changed yet" (queue.cpp)
    EXPECT_EQ(q.size(), 1u) << "a failed get() took the message";
    EXPECT_EQ(q.get_for(faults::hang_bound), big);
    EXPECT_EQ(q.size(), 0u);
}

TEST(FaultMemoryTest, QueuePutOnAFailingHeapPutsNothingOrEverything) {
    REQUIRE_MALLOC_FAULTS();
    ipc::Queue<std::string> q;
    const std::string big(5000, 'p');
    fail_each_call(
        "malloc", "ENOMEM",
        [&] {
            q.put(big);
            EXPECT_EQ(q.size(), 1u);
            EXPECT_EQ(q.get(), big);
        },
        [&](std::exception_ptr e, const std::string& spec) {
            expect_bad_alloc(e, spec);
            EXPECT_EQ(q.size(), 0u) << spec << ": a failed put left something";
        },
        true);
}

TEST(FaultMemoryTest, SpawnAndChannelOnAFailingHeapThrowBadAlloc) {
    REQUIRE_MALLOC_FAULTS();
    ringlet::run([] {
        fail_each_call(
            "malloc", "ENOMEM",
            [] {
                ringlet::Channel<std::string> ch(4);
                auto t = ringlet::spawn([&ch] {
                    struct Closer {
                        ringlet::Channel<std::string>& c;
                        ~Closer() { c.close(); }  // also when a send throws
                    } closer{ch};
                    for (int i = 0; i < 8; ++i) ch.send(std::string(100, char('a' + i)));
                });
                // Whatever throws here, the producer is gone before the channel.
                struct Stopper {
                    ringlet::Task<void>& task;
                    ~Stopper() {
                        task.cancel();
                        task.join();
                    }
                } stopper{t};
                int n = 0;
                while (auto v = ch.recv()) {
                    // No allocation here: only the library's may fail.
                    const char want = char('a' + n);
                    EXPECT_TRUE(v->size() == 100 && std::all_of(v->begin(), v->end(),
                                                                [&](char c) { return c == want; }));
                    ++n;
                }
                t.get();  // rethrows the producer's bad_alloc
                EXPECT_EQ(n, 8);
            },
            expect_bad_alloc, false);
    });
}

// Each of the first allocations of a send, then of a recv, fails in turn. A
// send that returned is received once, whole and in order; a send that threw
// bad_alloc sent nothing (or broke the send side, which then refuses every
// send); a recv that threw leaves its message for the next recv.
TEST(FaultMemoryTest, PipeOnAFailingHeapLosesAndDuplicatesNothing) {
    REQUIRE_MALLOC_FAULTS();
    ringlet::run([] {
        auto [a, b] = ipc::pipe<std::string>();
        std::vector<std::string> sent;
        std::vector<std::string> got;
        int send_failures = 0;
        int recv_failures = 0;
        for (int n = 1; n <= 12; ++n) {
            const std::string spec = "malloc:ENOMEM@" + std::to_string(n);
            std::string m(3000 + n, char('a' + n));
            bool send_threw = false;
            {
                faults::Armed armed(spec.c_str());
                try {
                    a.send(m);
                } catch (const std::bad_alloc&) {
                    send_threw = true;
                }
            }
            if (send_threw) {
                ++send_failures;
            } else {
                sent.push_back(m);
            }
            std::optional<std::string> r;
            bool recv_threw = false;
            if (!send_threw) {
                faults::Armed armed(spec.c_str());
                try {
                    r = b.recv();
                } catch (const std::bad_alloc&) {
                    recv_threw = true;
                }
            }
            if (recv_threw) {
                ++recv_failures;
                r = b.recv();  // the heap is back: the same message
            }
            if (r) got.push_back(std::move(*r));
        }
        a.close();
        while (auto r = b.recv()) got.push_back(std::move(*r));
        EXPECT_GT(send_failures + recv_failures, 0) << "no allocation was ever faulted";
        EXPECT_EQ(got.size(), sent.size());
        EXPECT_TRUE(got == sent) << "a message was lost, duplicated or changed";
    });
}
