// ringlet/ipc/subprocess.hpp — (being written)
#pragma once
