// bench/compare/models.hpp — the six ways of running N units.
//
//   tasks       one ringlet scheduler (ringlet::run); one task per unit.
//   tasks_mt    ringlet::run_threads(W): W schedulers, unit i on thread i % W.
//   threads     one std::thread per unit (default attributes: 8 MiB stacks
//               of address space); the units block their thread.
//   processes   one ipc::Process per unit (fork; the child runs the unit as
//               the main task of a fresh scheduler).
//   pool        ipc::ProcessPool(W): map() over the units (a worker runs one
//               unit at a time); spawn = apply_async + get per unit.
//   hybrid      W ipc::Processes, each a scheduler running its share of the
//               units as tasks (the thread-per-core server shape, with
//               processes).
//
// Each model runs the units of workloads.hpp and brackets them with a
// Section: the measured interval, with the memory measurement of the spawn
// workload (taken while every unit is alive) cut out of it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "measure.hpp"

namespace compare {

class Section {
public:
    // Takes the baselines, then starts the clock.
    void begin();
    // The spawn workload: every unit is alive since `all_ready`. Measures
    // their memory, and cuts [all_ready, now] out of the measured interval.
    void measure_live_units(Clock::time_point all_ready, std::size_t live);
    void end();

    double wall_s() const;
    double spawn_s() const { return spawn_s_; }
    Usage usage() const { return u1_ - u0_ - excluded_usage_; }
    double mem_kib() const { return mem_kib_; }
    double mem_per_unit_kib() const { return mem_per_unit_kib_; }
    double kmem_per_unit_kib() const { return kmem_per_unit_kib_; }

private:
    Clock::time_point t0_{};
    Clock::time_point t1_{};
    Clock::duration excluded_{};
    Usage u0_;
    Usage u1_;
    Usage excluded_usage_;
    double base_pss_kib_ = 0;
    double base_kernel_kib_ = 0;
    double spawn_s_ = -1;
    double mem_kib_ = -1;
    double mem_per_unit_kib_ = -1;
    double kmem_per_unit_kib_ = -1;
};

// Runs `model` on params(); false if there is no such model (or it was not
// built: pool needs ipc/process_pool.hpp).
bool run_model(std::string_view model, Section& section);
// Names of the models this binary has, comma-separated.
std::string model_names();

}  // namespace compare
