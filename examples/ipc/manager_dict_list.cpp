// examples/ipc/manager_dict_list.cpp — a Manager's dict and list, shared by processes.
//
// Part 1 — a multiprocessing.Manager program ("九、进程间数据共享(字典和列表型)"):
//   def run(d, l):
//       d[randint(1,50)] = randint(51,100); l.append(os.getpid()); print(l)
//   with Manager() as manage:
//       d = manage.dict(); l = manage.list(range(5))
//       ten Process(target=run, args=(d, l)), started, then joined
//       print(d); print(l)
// Part 2 — a multiprocessing.Manager demo: dic = m.dict({'count': 100}) and 100
//   processes doing dic['count'] -= 1. Without a lock that read-modify-write
//   races (two children read 57, both write 56); with the manager's lock
//   around it the count ends at exactly 0.
//
// How it works: Manager() forks a server process that holds the objects; d
// and l are proxies, and each operation on them is one request to the
// server over a Unix socket (so the children's writes are visible to the
// parent, unlike a plain std::map copied by fork). The children inherit the
// proxies and open connections of their own.
//
// Checked: the list holds 0..4 then exactly the children's pids; every key
// and value of the dict is in range and was written by a child; the locked
// count is 0; the unlocked one is between 0 and 99.
//
//   manager_dict_list            10 children (part 1), 100 (part 2)
//   manager_dict_list --smoke    10 children (part 1), 20 (part 2)
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

namespace ipc = ringlet::ipc;

namespace {

bool ok = true;

void check(bool condition, const char* what) {
    if (!condition) {
        std::printf("   CHECK FAILED: %s\n", what);
        ok = false;
    }
}

std::string show(const std::vector<int>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

std::string show(const std::map<int, int>& m) {
    std::string s = "{";
    for (const auto& [k, v] : m) {
        s += (s.size() > 1 ? ", " : "") + std::to_string(k) + ": " + std::to_string(v);
    }
    return s + "}";
}

// Part 1 -----------------------------------------------------------------------
// The Python run(d, l). `writes` records what this child wrote, for the check.
void run(ipc::DictProxy<int, int> d, ipc::ListProxy<int> l,
         ipc::ListProxy<std::pair<int, int>> writes) {
    std::mt19937 rng(std::random_device{}());
    const int key = std::uniform_int_distribution(1, 50)(rng);
    const int value = std::uniform_int_distribution(51, 100)(rng);
    d.set(key, value);  // d[randint(1,50)] = randint(51,100)
    writes.append({key, value});
    l.append(ipc::current_pid());                      // l.append(os.getpid())
    std::printf("%s\n", show(l.to_vector()).c_str());  // print(l)
}

void dict_and_list() {
    std::printf("== Part 1: manage.dict(), manage.list(range(5)), 10 processes\n");
    ipc::Manager manage;
    auto d = manage.dict<int, int>();                // d = manage.dict()
    auto l = manage.list<int>("", {0, 1, 2, 3, 4});  // l = manage.list(range(5))
    auto writes = manage.list<std::pair<int, int>>();
    std::vector<std::unique_ptr<ipc::Process>> p_list;
    std::set<int> pids;
    for (int i = 0; i < 10; ++i) {
        // The proxies are copied into each child (Process(target=run, args=(d, l))).
        p_list.push_back(std::make_unique<ipc::Process>(run, d, l, writes));
        p_list.back()->start();
        pids.insert(p_list.back()->pid());
    }
    for (auto& p : p_list) {
        p->join();
        check(p->exitcode() == 0, "every child ends with exit code 0");
    }
    const std::map<int, int> dict = d.to_map();
    const std::vector<int> list = l.to_vector();
    std::printf("%s\n", show(dict).c_str());  // print(d)
    std::printf("%s\n", show(list).c_str());  // print(l)

    check(list.size() == 15, "the list has range(5) plus one pid per child");
    check(std::vector<int>(list.begin(), list.begin() + std::min<std::size_t>(5, list.size())) ==
              std::vector<int>({0, 1, 2, 3, 4}),
          "the list starts with 0..4");
    check(list.size() == 15 && std::set<int>(list.begin() + 5, list.end()) == pids,
          "the rest are exactly the children's pids");
    std::map<int, std::set<int>> written;
    for (const auto& [k, v] : writes.to_vector()) written[k].insert(v);
    check(dict.size() == written.size(), "one key per distinct random key the children drew");
    for (const auto& [k, v] : dict) {
        check(k >= 1 && k <= 50 && v >= 51 && v <= 100, "keys in 1..50, values in 51..100");
        check(written[k].count(v) == 1, "each value was written by a child for its key");
    }
    std::printf("\n");
}

// Part 2 -----------------------------------------------------------------------
void decrement(ipc::DictProxy<std::string, int> dic) {
    dic.set("count", dic.get("count", 0) - 1);  // d['count'] -= 1: get, then set
}

void decrement_locked(ipc::DictProxy<std::string, int> dic, ipc::LockProxy lock) {
    std::lock_guard guard(lock);  // lock.acquire() ... lock.release()
    dic.set("count", dic.get("count", 0) - 1);
}

int count_down(int processes, bool locked) {
    ipc::Manager m;
    auto dic = m.dict<std::string, int>("", {{"count", processes}});  // m.dict({'count': 100})
    auto lock = m.lock();
    std::vector<std::unique_ptr<ipc::Process>> process_list;
    for (int i = 0; i < processes; ++i) {
        process_list.push_back(locked ? std::make_unique<ipc::Process>(decrement_locked, dic, lock)
                                      : std::make_unique<ipc::Process>(decrement, dic));
        process_list.back()->start();
    }
    for (auto& p : process_list) {
        p->join();
        check(p->exitcode() == 0, "every child ends with exit code 0");
    }
    const int count = dic.get("count", -1);
    std::printf("%s: {'count': %d}\n", locked ? "with m.lock()" : "without a lock", count);
    return count;
}

void counter(int processes) {
    std::printf("== Part 2: dic = m.dict({'count': %d}), %d processes each -= 1\n", processes,
                processes);
    const int racy = count_down(processes, false);
    check(racy >= 0 && racy < processes, "unlocked: some decrements may be lost, never all");
    if (racy > 0) std::printf("   (%d decrements were lost to the race)\n", racy);
    const int exact = count_down(processes, true);
    check(exact == 0, "locked: every decrement counts");
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // children's lines in order, through a pipe too
    ringlet::run([smoke] {
        dict_and_list();
        counter(smoke ? 20 : 100);
    });
    if (!ok) {
        std::fprintf(stderr, "manager_dict_list: a check failed\n");
        return 1;
    }
    return 0;
}
