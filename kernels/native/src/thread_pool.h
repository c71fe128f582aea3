// A fixed pool of worker threads; parallelFor splits [0, count) into contiguous chunks, one per
// thread, the calling thread taking the first. Chunking never changes a result: each output
// element is produced by exactly one call of the body.
#pragma once
#include <condition_variable>
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
  void work(int index);
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(long, long)>* body_ = nullptr;
  long count_ = 0;
  unsigned long generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
};

}  // namespace cotscope
