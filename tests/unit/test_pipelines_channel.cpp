// pipelines/batch/channel.hpp: the bounded queue between the batch import's threads, by count and
// by cost (bytes), waiting producers, close.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "batch/channel.hpp"

using csss::pipelines::batch::Channel;

namespace {

// True when `done` is still false after a while: the thread it belongs to is waiting.
bool still_waiting(const std::atomic<bool>& done) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return !done;
}

}  // namespace

TEST_CASE("batch channel: first in, first out, and a full queue holds the producer") {
  Channel<int> ch(2);
  REQUIRE(ch.push(1));
  REQUIRE(ch.push(2));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    CHECK(ch.push(3));
    pushed = true;
  });
  CHECK(still_waiting(pushed));
  CHECK(ch.pop() == 1);  // room for one: the third goes in
  producer.join();
  CHECK(pushed);
  CHECK(ch.push_always(4));  // never waits, even when full
  CHECK(ch.pop() == 2);
  CHECK(ch.pop() == 3);
  CHECK(ch.pop() == 4);
  CHECK(ch.empty());
}

TEST_CASE("batch channel: a cost function bounds the sum of the items' costs") {
  // Strings costing their length, at most 10 in all.
  Channel<std::string> ch(10, [](const std::string& s) { return s.size(); });
  REQUIRE(ch.push("abcd"));    // 4
  REQUIRE(ch.push("efghij"));  // 10
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    CHECK(ch.push("kl"));  // 12 > 10: waits
    pushed = true;
  });
  CHECK(still_waiting(pushed));
  CHECK(ch.pop() == "abcd");  // 6 + 2 fits
  producer.join();
  CHECK(ch.pop() == "efghij");
  CHECK(ch.pop() == "kl");

  // An item larger than the whole capacity goes into an empty queue, alone.
  REQUIRE(ch.push(std::string(25, 'x')));
  std::atomic<bool> second{false};
  std::thread next([&] {
    CHECK(ch.push("y"));
    second = true;
  });
  CHECK(still_waiting(second));
  CHECK(ch.pop()->size() == 25u);
  next.join();
  CHECK(ch.pop() == "y");
}

TEST_CASE("batch channel: close wakes producers and consumers, and later pushes are dropped") {
  Channel<int> ch(1);
  REQUIRE(ch.push(1));
  std::atomic<bool> producer_done{false};
  bool accepted = true;
  std::thread producer([&] {
    accepted = ch.push(2);
    producer_done = true;
  });
  CHECK(still_waiting(producer_done));
  ch.close();
  producer.join();
  CHECK_FALSE(accepted);
  CHECK_FALSE(ch.push_always(3));
  CHECK(ch.pop() == 1);  // what was queued before close is still delivered
  CHECK_FALSE(ch.pop().has_value());

  Channel<int> idle(4);
  std::optional<int> got = 0;
  std::thread consumer([&] { got = idle.pop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  idle.close();
  consumer.join();
  CHECK_FALSE(got.has_value());
}

TEST_CASE("batch channel: pop_until returns at its deadline, or sooner with an item") {
  using Clock = std::chrono::steady_clock;
  Channel<int> ch(4);
  const auto start = Clock::now();
  CHECK_FALSE(ch.pop_until(start + std::chrono::milliseconds(50)).has_value());
  CHECK(Clock::now() - start >= std::chrono::milliseconds(50));
  CHECK_FALSE(ch.closed());  // a timeout, not the end

  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(ch.push(7));
  });
  CHECK(ch.pop_until(Clock::now() + std::chrono::seconds(30)) == 7);  // long before 30 s
  producer.join();

  REQUIRE(ch.push(8));
  ch.close();
  CHECK(ch.closed());
  CHECK(ch.pop_until(Clock::now()) == 8);  // what was queued is still handed out
  CHECK_FALSE(ch.pop_until(Clock::now() + std::chrono::seconds(30)).has_value());  // at once
}
