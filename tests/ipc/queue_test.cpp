// tests/ipc/queue_test.cpp — (being written)
#include <gtest/gtest.h>
