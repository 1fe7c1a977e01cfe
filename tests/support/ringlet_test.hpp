// tests/support/ringlet_test.hpp — run a GoogleTest body inside ringlet::run.
//
// RINGLET_TEST(Suite, Name) { ... } is TEST(Suite, Name) whose body runs as
// the main task of a fresh scheduler, on the backend chosen by
// RINGLET_BACKEND (so `meson test --setup=epoll` reruns everything on epoll).
// ASSERT_* inside the body returns from the body, which ends run() normally.
#pragma once

#include <gtest/gtest.h>

#include <ringlet/ringlet.hpp>

#define RINGLET_TEST(suite, name)                                         \
    static void ringlet_test_body_##suite##_##name();                     \
    TEST(suite, name) { ::ringlet::run([] { ringlet_test_body_##suite##_##name(); }); } \
    static void ringlet_test_body_##suite##_##name()
