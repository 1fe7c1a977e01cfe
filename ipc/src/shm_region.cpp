#include "shm_region.hpp"

#include <sys/mman.h>

#include <cerrno>

#include <ringlet/errors.hpp>

namespace ringlet::ipc::detail {

std::shared_ptr<ShmRegion> ShmRegion::create(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_io_error(-errno, "mmap(shared memory)");
    ShmRegion* region = nullptr;
    try {
        region = new ShmRegion(p, bytes);
    } catch (...) {  // bad_alloc: the mapping has no owner yet
        ::munmap(p, bytes);
        throw;
    }
    return std::shared_ptr<ShmRegion>(region);  // deletes `region` if it throws
}

ShmRegion::~ShmRegion() { ::munmap(data_, size_); }

}  // namespace ringlet::ipc::detail
