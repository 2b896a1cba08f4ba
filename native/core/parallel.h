// Minimal fork-join over index ranges. Work items here (tokenizing thousands of pairs) are coarse,
// so plain threads per call cost little next to the work and need no pool lifetime management.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace crossrank {

// Calls fn(i) for i in [0, n) on up to `threads` threads (the caller's thread is one of them).
// Rethrows the first exception any call threw, after all threads have stopped.
template <typename Fn>
void parallel_for(size_t n, size_t threads, Fn&& fn) {
  threads = std::max<size_t>(1, std::min(threads, n));
  if (threads == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::atomic_flag error_taken = ATOMIC_FLAG_INIT;
  constexpr size_t kGrain = 16;  // items taken at once: keeps the shared counter cold
  auto worker = [&] {
    try {
      for (;;) {
        const size_t begin = next.fetch_add(kGrain);
        if (begin >= n || failed.load(std::memory_order_relaxed)) return;
        const size_t end = std::min(n, begin + kGrain);
        for (size_t i = begin; i < end; ++i) fn(i);
      }
    } catch (...) {
      failed = true;
      if (!error_taken.test_and_set()) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace crossrank
