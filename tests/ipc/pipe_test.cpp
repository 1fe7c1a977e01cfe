// tests/ipc/pipe_test.cpp — (being written)
#include <gtest/gtest.h>
