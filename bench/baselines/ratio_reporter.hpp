// bench/baselines/ratio_reporter.hpp — the console reporter of the bench programs.
//
// Prints Google Benchmark's usual table, then one line per comparison: a
// ringlet figure against its baseline from the same binary (or an absolute
// figure against a budget), each the median over --benchmark_repetitions.
// bench/run_all.sh collects the lines after "== ringlet: comparisons".
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

namespace ringlet::bench {

// Prints the console table, then each comparison from the median over the
// repetitions (--benchmark_repetitions) of the benchmarks involved.
class RatioReporter final : public benchmark::ConsoleReporter {
public:
    struct Line {
        const char* label;
        const char* bench;     // function_name[/args]
        const char* baseline;  // null: an absolute figure, not a ratio
        const char* counter;   // compared counter (for both)
        double scale;          // counter value * scale = shown in `unit`
        const char* unit;
        double target;         // the ratio (or absolute) must not exceed it; 0: none
    };

    RatioReporter(std::vector<Line> lines)
        : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_Color : OO_None), lines_(std::move(lines)) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            if (r.error_occurred) continue;
            std::string key = r.run_name.function_name;
            if (!r.run_name.args.empty()) key += "/" + r.run_name.args;
            for (const auto& [name, c] : r.counters) {
                if (r.run_type == Run::RT_Iteration) {
                    samples_[key + "|" + name].push_back(c.value);
                } else if (r.aggregate_name == "median") {
                    medians_[key + "|" + name] = c.value;
                }
            }
        }
    }

    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\n== ringlet: comparisons (medians) ==\n");
        for (const Line& l : lines_) {
            double v = 0;
            double b = 0;
            if (!median(l.bench, l.counter, v) || (l.baseline && !median(l.baseline, l.counter, b))) {
                std::printf("%-46s (not run)\n", l.label);
                continue;
            }
            if (l.baseline == nullptr) {
                std::printf("%-46s %8s %-4s", l.label, num(v * l.scale).c_str(), l.unit);
                if (l.target > 0) {
                    std::printf("  target < %g %s: %s", l.target, l.unit,
                                v * l.scale < l.target ? "ok" : "MISSED");
                }
            } else {
                const double ratio = v / b;
                std::printf("%-46s %7sx   (%s / %s %s)", l.label, num(ratio).c_str(),
                            num(v * l.scale).c_str(), num(b * l.scale).c_str(), l.unit);
                if (l.target > 0) {
                    std::printf("  target <= %gx: %s", l.target, ratio <= l.target ? "ok" : "MISSED");
                }
            }
            std::printf("\n");
        }
        std::fflush(stdout);
    }

private:
    static std::string num(double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, v >= 100 || v <= -100 ? "%.0f" : "%.3g", v);
        return buf;
    }

    bool median(const std::string& bench, const std::string& counter, double& out) {
        const std::string key = bench + "|" + counter;
        if (auto it = samples_.find(key); it != samples_.end() && !it->second.empty()) {
            std::vector<double> v = it->second;
            std::sort(v.begin(), v.end());
            const std::size_t m = v.size() / 2;
            out = v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
            return true;
        }
        if (auto it = medians_.find(key); it != medians_.end()) {
            out = it->second;
            return true;
        }
        return false;
    }

    std::vector<Line> lines_;
    std::map<std::string, std::vector<double>> samples_;
    std::map<std::string, double> medians_;
};

// False when --benchmark_format asks for something other than the console.
inline bool console_format(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0 &&
            std::strcmp(argv[i] + 19, "console") != 0) {
            return false;
        }
    }
    return true;
}

}  // namespace ringlet::bench
