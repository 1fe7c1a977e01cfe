// ringlet/ipc/codec.hpp — (being written)
#pragma once
