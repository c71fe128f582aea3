#include "thread_pool.h"

namespace cotscope {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; i++) workers_.emplace_back([this, i] { work(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

static void chunk(long count, int parts, int index, long* begin, long* end) {
  *begin = count * index / parts;
  *end = count * (index + 1) / parts;
}

void ThreadPool::work(int index) {
  unsigned long seen = 0;
  for (;;) {
    const std::function<void(long, long)>* body;
    long count;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      body = body_;
      count = count_;
    }
    long begin, end;
    chunk(count, size(), index, &begin, &end);
    if (begin < end) (*body)(begin, end);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

void ThreadPool::parallelFor(long count, const std::function<void(long, long)>& body) {
  if (workers_.empty() || count < 2) {
    if (count > 0) body(0, count);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    count_ = count;
    pending_ = static_cast<int>(workers_.size());
    generation_++;
  }
  wake_.notify_all();
  long begin, end;
  chunk(count, size(), 0, &begin, &end);
  if (begin < end) body(begin, end);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
}

}  // namespace cotscope
