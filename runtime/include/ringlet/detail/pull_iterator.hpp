// ringlet/detail/pull_iterator.hpp — input iterator over a "next value or
// nullopt" source (Channel::recv, Generator::next), for range-for loops.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>

namespace ringlet::detail {

template <class Source, class T, std::optional<T> (Source::*Next)()>
class PullIterator {
public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    PullIterator() = default;
    explicit PullIterator(Source* source) : source_(source) { ++*this; }
    T& operator*() { return *current_; }
    PullIterator& operator++() {
        current_ = (source_->*Next)();
        if (!current_) source_ = nullptr;
        return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const PullIterator& it, std::default_sentinel_t) noexcept {
        return it.source_ == nullptr;
    }

private:
    Source* source_ = nullptr;
    std::optional<T> current_;
};

}  // namespace ringlet::detail
