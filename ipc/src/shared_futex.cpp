// shared_futex.cpp — (being written)
