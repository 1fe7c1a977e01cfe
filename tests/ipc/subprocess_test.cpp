// tests/ipc/subprocess_test.cpp — (being written)
#include <gtest/gtest.h>
