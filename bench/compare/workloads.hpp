// bench/compare/workloads.hpp — the units of work that every model runs.
//
// One function per workload, the same code under every model: a unit written
// against ringlet's API suspends its task when it runs in a task, and blocks
// its thread when it runs on a plain thread (the thread-per-unit model), so
// nothing but the model around it changes from column to column.
//
//   io     connect to the delay server on 127.0.0.1, send a 64-byte request,
//          read the 64-byte answer (sent 10 ms later), close.
//   cpu    `rounds` steps of hashing: a xorshift64* stream folded into an
//          FNV-1a-style 64-bit hash. No memory traffic, no system calls.
//   mixed  an io unit, then a cpu unit.
//   spawn  nothing but to exist: the unit tells the controller that it is
//          running, waits on a gate until all units are alive (when the
//          controller measures their memory), and returns.
//
// Every unit returns a 64-bit value; a cell sums them into its checksum, which
// compare.py compares across models (and the cell checks against the known
// answer for io and spawn).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "measure.hpp"

namespace compare {

enum class Workload { io, cpu, mixed, spawn };

bool parse_workload(std::string_view name, Workload& out);
const char* workload_name(Workload w);

// What a cell was asked to do. A global (see params()), set once before any
// unit runs, so that worker processes forked later (and ProcessPool's plain
// function pointers) see the same values.
struct Params {
    Workload workload = Workload::spawn;
    std::size_t units = 1000;
    std::uint16_t port = 0;         // the delay server (io, mixed)
    std::uint64_t rounds = 0;       // hashing steps per unit (cpu, mixed)
    std::size_t workers = 2;        // threads or processes of the N-way models
};
Params& params();

// The request/answer protocol shared with the server and the peers: unit i
// sends the 8 little-endian words i*8 .. i*8+7; the server answers each word
// XORed with answer_key. A unit's value is the sum of the answer's words.
inline constexpr std::size_t message_size = 64;
inline constexpr std::uint64_t answer_key = 0x9E3779B97F4A7C15ull;
std::uint64_t expected_io_value(std::uint64_t i);

std::uint64_t io_unit(std::uint64_t i);
std::uint64_t cpu_unit(std::uint64_t i, std::uint64_t rounds);
// The unit of params().workload, for io, cpu and mixed.
std::uint64_t work_unit(std::uint64_t i);

// State shared by the controller and the units of a cell, in MAP_SHARED
// memory so that it works the same between tasks, threads and forked
// processes (std::atomic of 64 bits is lock-free and address-free).
struct Shared {
    std::atomic<std::uint64_t> launched{0};       // units started by the model
    std::atomic<std::uint64_t> launchers_done{0}; // launch loops that have ended
    std::atomic<std::uint64_t> ready{0};          // spawn units now waiting on the gate
    std::atomic<std::int64_t> all_ready_ns{0};    // steady clock when ready reached units
    std::atomic<std::uint64_t> failed{0};         // units that threw
    std::atomic<std::uint64_t> error_claimed{0};
    char first_error[256] = {};
    char limit[256] = {};                          // why a launch loop stopped early
    std::atomic<std::uint64_t> limit_claimed{0};
    // results[units] follows.
    std::uint64_t* results() { return reinterpret_cast<std::uint64_t*>(this + 1); }

    // Maps a fresh Shared with room for `units` results. Never unmapped: a cell
    // is a process of its own.
    static Shared* create(std::size_t units);
    void record_error(const char* what) noexcept;
    void record_limit(const std::string& why) noexcept;
    bool has_limit() const noexcept { return limit_claimed.load() != 0; }
};
Shared& shared();  // the cell's Shared (created by the cell before any unit runs)

// Runs unit `i` of an io/cpu/mixed workload and stores its value; an exception
// is recorded in shared() and counts as a failed unit.
void run_work_unit(std::uint64_t i) noexcept;

// A spawn unit: tells the controller it runs, waits for the gate, returns i.
template <class Gate>
void run_spawn_unit(std::uint64_t i, Gate& gate) noexcept {
    try {
        if (shared().ready.fetch_add(1) + 1 == params().units) {
            // CLOCK_MONOTONIC: the same clock in every process of the cell.
            shared().all_ready_ns.store(Clock::now().time_since_epoch().count());
        }
        gate.wait();
        shared().results()[i] = i;
    } catch (const std::exception& e) {
        shared().failed.fetch_add(1);
        shared().record_error(e.what());
    }
}

}  // namespace compare
