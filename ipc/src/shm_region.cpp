// shm_region.cpp — (being written)
