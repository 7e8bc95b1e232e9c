#pragma once

// A queue between the batch import's threads. push() waits while the queue is full, so that a
// fast producer cannot fill memory; push_always() does not wait (for the few messages a consumer
// must never be blocked from sending). pop() waits for an item and returns nullopt once the
// channel is closed and empty; pop_until() also returns nullopt at a deadline (closed() tells the
// two apart). close() wakes every waiting thread; later pushes are dropped.
//
// Full means: the items' costs add up to `capacity`. An item's cost is 1 unless the channel was
// given a cost function (such as an item's bytes, to bound memory rather than a count); an item
// that costs more than the capacity is still let into an empty queue, alone.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

namespace csss::pipelines::batch {

template <class T>
class Channel {
 public:
  using Cost = std::function<std::size_t(const T&)>;

  explicit Channel(std::size_t capacity, Cost cost = {})
      : capacity_(capacity), cost_(std::move(cost)) {}

  bool push(T item) {
    const std::size_t cost = cost_of(item);
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.empty() || used_ + cost <= capacity_; });
    if (closed_)
      return false;
    add(std::move(item), cost);
    return true;
  }
  bool push_always(T item) {
    const std::size_t cost = cost_of(item);
    const std::lock_guard lock(mutex_);
    if (closed_)
      return false;
    add(std::move(item), cost);
    return true;
  }
  std::optional<T> pop() { return pop_until(std::chrono::steady_clock::time_point::max()); }
  std::optional<T> pop_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    const auto ready = [&] { return closed_ || !items_.empty(); };
    if (deadline == std::chrono::steady_clock::time_point::max())
      not_empty_.wait(lock, ready);
    else
      not_empty_.wait_until(lock, deadline, ready);
    if (items_.empty())
      return std::nullopt;
    auto [item, cost] = std::move(items_.front());
    items_.pop_front();
    used_ -= cost;
    // Every waiting producer: one whose item did not fit may fit now, or a smaller one behind it.
    not_full_.notify_all();
    return std::move(item);
  }
  bool empty() const {
    const std::lock_guard lock(mutex_);
    return items_.empty();
  }
  bool closed() const {
    const std::lock_guard lock(mutex_);
    return closed_;
  }
  void close() {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::size_t cost_of(const T& item) const { return cost_ ? cost_(item) : 1; }
  void add(T item, std::size_t cost) {
    items_.emplace_back(std::move(item), cost);
    used_ += cost;
    not_empty_.notify_one();
  }

  const std::size_t capacity_;
  const Cost cost_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::pair<T, std::size_t>> items_;
  std::size_t used_ = 0;
  bool closed_ = false;
};

}  // namespace csss::pipelines::batch
