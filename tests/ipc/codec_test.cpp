// tests/ipc/codec_test.cpp — (being written)
#include <gtest/gtest.h>
