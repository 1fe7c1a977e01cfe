// tests/ps/ps_other_user_test.cpp — another user's process: AccessDenied for
// what Linux protects, values for the rest.
//
// The test (root) forks a child that drops to `nobody` and inspects its
// parent, a root process: exe, cwd, fd/, open files and io are denied to it;
// name, cmdline, status, ppid, uids, memory, threads, times are not. The
// child reports one "field=outcome" line per field through a pipe.
#include <functional>
#include <grp.h>
#include <map>
#include <pwd.h>
#include <sstream>
#include <string>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/wait.h>

#include <ringlet/ps.hpp>

#include "ringlet_test.hpp"

namespace ps = ringlet::ps;

namespace {

std::string outcome(const std::function<void()>& f) {
    try {
        f();
        return "value";
    } catch (const ps::AccessDenied&) {
        return "denied";
    } catch (const ps::NoSuchProcess&) {
        return "nosuch";
    } catch (const std::exception& e) {
        return std::string("error:") + e.what();
    }
}

}  // namespace

RINGLET_TEST(PsOtherUserTest, ProtectedFieldsAreDeniedOthersAreRead) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to become nobody";
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
    const uid_t uid = nobody->pw_uid;
    const gid_t gid = nobody->pw_gid;
    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    const pid_t parent = ::getpid();
    const pid_t c = ::fork();
    if (c == 0) {
        ::close(out[0]);
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(2);
        std::ostringstream r;
        try {
            ps::Process p(parent);
            r << "exe=" << outcome([&] { (void)p.exe(); }) << '\n';
            r << "cwd=" << outcome([&] { (void)p.cwd(); }) << '\n';
            r << "num_fds=" << outcome([&] { (void)p.num_fds(); }) << '\n';
            r << "open_files=" << outcome([&] { (void)p.open_files(); }) << '\n';
            r << "io_counters=" << outcome([&] { (void)p.io_counters(); }) << '\n';
            r << "name=" << outcome([&] { (void)p.name(); }) << '\n';
            r << "cmdline=" << outcome([&] { (void)p.cmdline(); }) << '\n';
            r << "status=" << outcome([&] { (void)p.status(); }) << '\n';
            r << "ppid=" << outcome([&] { (void)p.ppid(); }) << '\n';
            r << "uids=" << outcome([&] {
                if (p.uids().real != 0) throw std::runtime_error("uid not 0");
            }) << '\n';
            r << "username=" << outcome([&] { (void)p.username(); }) << '\n';
            r << "memory_info=" << outcome([&] {
                if (p.memory_info().rss == 0) throw std::runtime_error("rss 0");
            }) << '\n';
            r << "num_threads=" << outcome([&] { (void)p.num_threads(); }) << '\n';
            r << "cpu_times=" << outcome([&] { (void)p.cpu_times(); }) << '\n';
            r << "create_time=" << outcome([&] { (void)p.create_time(); }) << '\n';
            r << "nice=" << outcome([&] { (void)p.nice(); }) << '\n';
            r << "signal=" << outcome([&] { p.send_signal(0); }) << '\n';
            try {
                p.exe();
            } catch (const ps::AccessDenied& e) {
                r << "denied_pid=" << e.pid() << '\n';
            }
        } catch (const std::exception& e) {
            r << "fatal=" << e.what() << '\n';
        }
        const std::string s = r.str();
        if (::write(out[1], s.data(), s.size()) != static_cast<ssize_t>(s.size())) ::_exit(3);
        ::_exit(0);
    }
    ASSERT_GT(c, 0);
    ::close(out[1]);
    std::string text;
    char buf[512];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
        text.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(c, &status, 0), c);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    std::map<std::string, std::string> kv;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const auto eq = line.find('=');
        kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    ASSERT_EQ(kv.count("fatal"), 0u) << kv["fatal"];
    for (const char* f : {"exe", "cwd", "num_fds", "open_files", "io_counters", "signal"}) {
        EXPECT_EQ(kv[f], "denied") << f;
    }
    for (const char* f : {"name", "cmdline", "status", "ppid", "uids", "username", "memory_info",
                          "num_threads", "cpu_times", "create_time", "nice"}) {
        EXPECT_EQ(kv[f], "value") << f;
    }
    EXPECT_EQ(kv["denied_pid"], std::to_string(parent));
}
