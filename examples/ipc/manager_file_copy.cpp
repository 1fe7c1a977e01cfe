// examples/ipc/manager_file_copy.cpp — pool workers copy a folder; a Manager queue reports
// progress.
//
// Ports a multiprocessing exercise ("作业：多线程copy文件"): Pool.apply_async and a
// Manager().Queue() reporting progress:
//   def copyFileTask(filename, oldFolderName, newFolderName, queue):
//       read oldFolderName/filename, write newFolderName/filename; queue.put(filename)
//   newFolderName = oldFolderName + '复制'; os.mkdir(newFolderName)
//   queue = Manager().Queue(); pool = Pool(...)
//   for name in filename: pool.apply_async(func=copyFileTask, args=(name, old, new, queue))
//   while num < total: queue.get(); num += 1; print('\r当前复制进度%.2f%%, num是%d' % ...)
//
// The same with ringlet: an ipc::ProcessPool runs copy_file_task in worker
// processes; its arguments travel to the workers as Codec bytes, the
// manager's QueueProxy included (a proxy encodes as the server's address,
// authkey and queue name, and the worker connects on its first put). The
// parent waits on the queue (a request to the manager server that waits
// there) and prints the progress line. Files are read and written with
// ringlet::read_file / write_file: each worker runs a scheduler of its own.
// (examples/net/file_copy.cpp does the same job with tasks in one process.)
//
// Checked: every file arrives on the queue exactly once, every task
// succeeded, and every copy has the bytes of its original.
//
//   manager_file_copy SRC_DIR [--workers N]   copies into SRC_DIR + "复制", as in Python
//   manager_file_copy --smoke                 30 random files in a temp dir; cleans up
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <ringlet/file.hpp>
#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

namespace ipc = ringlet::ipc;
namespace fs = std::filesystem;

namespace {

// The Python copyFileTask, run in a pool worker. A plain function: workers
// are forked from this binary, so the pointer names it there too.
void copy_file_task(std::string filename, std::string old_folder, std::string new_folder,
                    ipc::QueueProxy<std::string> queue) {
    const std::string content = ringlet::read_file(old_folder + "/" + filename);
    ringlet::write_file(new_folder + "/" + filename, content);
    queue.put(filename);  // queue.put(filename)
}

// --smoke: a temp folder of `count` files of random sizes (up to 64 KiB).
std::string make_sample_folder(int count) {
    char pattern[] = "/tmp/ringlet-manager-copy-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    std::mt19937 rng(std::random_device{}());
    for (int i = 0; i < count; ++i) {
        std::string bytes(std::uniform_int_distribution(0, 64 * 1024)(rng), '\0');
        for (char& c : bytes) c = static_cast<char>(rng());
        ringlet::write_file(std::string(pattern) + "/file" + std::to_string(i) + ".bin", bytes);
    }
    return pattern;
}

bool copy_folder(const std::string& old_folder, ipc::Manager& manager, ipc::ProcessPool& pool) {
    const auto start = std::chrono::steady_clock::now();
    const std::string new_folder = old_folder + "复制";  // oldFolderName + '复制'
    fs::create_directories(new_folder);
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(old_folder)) {
        if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
    }

    auto queue = manager.queue<std::string>();  // queue = Manager().Queue()
    std::vector<ipc::AsyncResult<void>> results;
    for (const std::string& name : names) {
        results.push_back(pool.apply_async(copy_file_task, name, old_folder, new_folder, queue));
    }

    std::size_t num = 0;
    const std::size_t total = names.size();
    std::printf("总文件数是:%zu (%zu worker processes)\n", total, pool.processes());
    std::set<std::string> arrived;
    bool ok = true;
    while (num < total) {
        // queue.get(), but give up if the workers stop reporting.
        std::optional<std::string> name = queue.get_for(std::chrono::seconds(30));
        if (!name) {
            std::printf("\nno progress for 30 s: %zu of %zu files reported\n", num, total);
            ok = false;
            break;
        }
        if (!arrived.insert(*name).second) {
            std::printf("\n%s was reported twice\n", name->c_str());
            ok = false;
        }
        ++num;
        std::printf("\r当前复制进度%.2f%%, num是%zu", 100.0 * num / total, num);
        std::fflush(stdout);
    }
    std::printf("\n");
    pool.close();
    pool.join();
    for (auto& r : results) {
        try {
            r.get();
        } catch (const std::exception& e) {
            std::printf("a copy failed: %s\n", e.what());
            ok = false;
        }
    }
    for (const std::string& name : names) {
        const std::string original = ringlet::read_file(old_folder + "/" + name);
        if (ringlet::read_file(new_folder + "/" + name) != original) {
            std::printf("%s: the copy differs\n", name.c_str());
            ok = false;
        }
    }
    std::printf("完成copy用时%.3f秒..... (into %s)\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                new_folder.c_str());
    return ok && arrived.size() == total;
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    std::string folder;
    std::size_t workers = ipc::cpu_count();
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--smoke") {
            smoke = true;
        } else if (a == "--workers" && i + 1 < argc) {
            workers = std::strtoul(argv[++i], nullptr, 10);
        } else {
            folder = a;
        }
    }
    if (!smoke && folder.empty()) {
        std::fprintf(stderr, "usage: manager_file_copy SRC_DIR [--workers N] | --smoke\n");
        return 2;
    }
    if (workers == 0) workers = 1;
    bool ok = false;
    try {
        ringlet::run([&] {
            // The server and the pool first, before this process does any
            // file IO or starts threads: fork copies only the calling thread,
            // and processes forked early have the least to inherit.
            ipc::Manager manager;
            ipc::ProcessPool pool(workers);  // pool = Pool(workers)
            if (smoke) folder = make_sample_folder(30);
            ok = copy_folder(folder, manager, pool);
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "manager_file_copy: %s\n", e.what());
    }
    if (smoke && !folder.empty()) {
        std::error_code ignored;
        fs::remove_all(folder, ignored);
        fs::remove_all(folder + "复制", ignored);
    }
    if (!ok) {
        std::fprintf(stderr, "manager_file_copy: a check failed\n");
        return 1;
    }
    return 0;
}
