#include "thread_pool.h"

#include <algorithm>
#include <chrono>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace cotscope {

namespace {
// Enough chunks that a thread finishing early finds work; few enough that taking one is cheap.
constexpr long kChunksPerThread = 4;
// How long a thread spins for the next job (or the last chunk) before it sleeps: longer than the
// gaps between a decode step's jobs, short enough that an idle pool stops using its cores at once.
constexpr auto kSpin = std::chrono::microseconds(1000);

// Spins until done() or kSpin has passed; true if done() came true.
template <typename Done>
bool spinUntil(const Done& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
      _mm_pause();
#else
      std::this_thread::yield();
#endif
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; i++) workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::runChunks(const Job& job) {
  for (;;) {
    uint64_t ticket = next_.load(std::memory_order_acquire);
    do {
      if (static_cast<uint32_t>(ticket >> 32) != job.generation || static_cast<long>(ticket & 0xFFFFFFFFu) >= job.chunks) return;
    } while (!next_.compare_exchange_weak(ticket, ticket + 1, std::memory_order_acq_rel));
    const long chunk = static_cast<long>(ticket & 0xFFFFFFFFu);
    const long begin = job.count * chunk / job.chunks, end = job.count * (chunk + 1) / job.chunks;
    if (begin < end) (*job.body)(begin, end);
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == job.chunks) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::work() {
  uint32_t seen = 0;
  for (;;) {
    spinUntil([&] { return stopping_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; });
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_.load(std::memory_order_relaxed) || job_.generation != seen; });
      if (stopping_.load(std::memory_order_relaxed)) return;
      job = job_;
      seen = job.generation;
    }
    runChunks(job);
  }
}

void ThreadPool::parallelFor(long count, const std::function<void(long, long)>& body) {
  if (workers_.empty() || count < 2) {
    if (count > 0) body(0, count);
    return;
  }
  Job job;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job = {job_.generation + 1, &body, count, std::min<long>(count, kChunksPerThread * size())};
    finished_.store(0, std::memory_order_relaxed);
    next_.store(static_cast<uint64_t>(job.generation) << 32, std::memory_order_release);
    job_ = job;
    generation_.store(job.generation, std::memory_order_release);
  }
  wake_.notify_all();
  runChunks(job);
  if (spinUntil([&] { return finished_.load(std::memory_order_acquire) == job.chunks; })) return;
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == job.chunks; });
}

}  // namespace cotscope
