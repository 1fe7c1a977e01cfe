// tests/ipc/sync_test.cpp — (being written)
#include <gtest/gtest.h>
