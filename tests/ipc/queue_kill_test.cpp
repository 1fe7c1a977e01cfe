// tests/ipc/queue_kill_test.cpp — (being written)
#include <gtest/gtest.h>
