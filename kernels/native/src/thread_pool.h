// A fixed pool of worker threads; parallelFor splits [0, count) into contiguous chunks (a few per
// thread) that the calling thread and the workers take in turn, so a thread the OS delays on a
// shared core does not hold up the others. Chunking never changes a result: each output element
// is produced by exactly one call of the body, with the same code whichever thread runs it.
// Between jobs the workers (and the caller, waiting for the last chunk) spin for a moment before
// they sleep: a decode step is ~100 short jobs in a row, and waking a sleeping thread (on a
// virtual machine, a halted vCPU) took longer than the jobs' chunks.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cotscope {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  void parallelFor(long count, const std::function<void(long begin, long end)>& body);

 private:
  struct Job {
    uint32_t generation;
    const std::function<void(long, long)>* body;
    long count;
    long chunks;
  };
  void work();
  // Takes chunks of `job` until none is left; false once the pool has moved to another job.
  void runChunks(const Job& job);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  Job job_{0, nullptr, 0, 0};
  // (generation << 32) | next chunk: a worker that wakes late cannot take a chunk of a later job.
  std::atomic<uint64_t> next_{0};
  std::atomic<long> finished_{0};
  // job_.generation, readable without the mutex (what spinning threads watch).
  std::atomic<uint32_t> generation_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace cotscope
