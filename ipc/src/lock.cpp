// lock.cpp — (being written)
