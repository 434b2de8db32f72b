#pragma once
// What the HTTP layer and the inference side share about one HTTP request: the reply (delivered
// exactly once, on the I/O thread), cancellation (client gone, timeout, shutdown), and the input
// permits that implement --max-concurrent-requests.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

namespace medenc::serve {

using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t inputs = 0, tokens = 0;  // for the access log
  // Mean per input, in ms, for the access log (< 0: not an inference request).
  double tokenization_ms = -1, queue_ms = -1, inference_ms = -1;
};

// A failure answered with TEI's error body {"error": message, "error_type": type}.
struct ApiError : std::runtime_error {
  int status;
  std::string type;
  ApiError(int status, std::string type, const std::string& message)
      : std::runtime_error(message), status(status), type(std::move(type)) {}
};

Reply error_reply(int status, const std::string& type, const std::string& message);
inline Reply error_reply(const ApiError& e) { return error_reply(e.status, e.type, e.what()); }
// The answer to a request not answered within --request-timeout `seconds`.
Reply timeout_reply(double seconds);
// The OpenAI route's error body: {"message", "code", "type"} (TEI's /v1/embeddings).
Reply openai_error_reply(const ApiError& e);

// TEI's types and codes.
inline ApiError empty_error(const std::string& m) { return {400, "Empty", m}; }
inline ApiError validation_error(const std::string& m) { return {422, "Validation", m}; }
inline ApiError backend_error(const std::string& m) { return {424, "Backend", "Backend error: " + m}; }
inline ApiError overloaded_error() { return {429, "Overloaded", "Model is overloaded"}; }
inline ApiError unhealthy_error() { return {503, "Unhealthy", "unhealthy"}; }

// --max-concurrent-requests: permits counted per input, taken without waiting (TEI).
class Permits {
 public:
  explicit Permits(int64_t max) : max_(max) {}
  bool try_acquire(int64_t n) {
    int64_t used = used_.load();
    do {
      if (used + n > max_) return false;
    } while (!used_.compare_exchange_weak(used, used + n));
    return true;
  }
  void release(int64_t n) { used_.fetch_sub(n); }
  int64_t used() const { return used_.load(); }

 private:
  int64_t max_;
  std::atomic<int64_t> used_{0};
};

// Holds n permits until destroyed (which happens when the last input of the request is computed
// or dropped, as in TEI).
class Permit {
 public:
  Permit() = default;
  Permit(Permits* p, int64_t n) : permits_(p), n_(n) {}
  Permit(Permit&& o) noexcept : permits_(std::exchange(o.permits_, nullptr)), n_(o.n_) {}
  Permit& operator=(Permit&& o) noexcept {
    std::swap(permits_, o.permits_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~Permit() {
    if (permits_) permits_->release(n_);
  }

 private:
  Permits* permits_ = nullptr;
  int64_t n_ = 0;
};

enum class CancelReason { None, ClientGone, Timeout, Failed };

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(boost::asio::any_io_executor io, std::function<void(Reply)> deliver)
      : io_(std::move(io)), deliver_(std::move(deliver)), start_(Clock::now()) {}

  // The first reply wins; later ones are ignored. `make` runs on the I/O thread.
  void reply_with(std::function<Reply()> make) {
    if (replied_.exchange(true)) return;
    boost::asio::post(io_, [self = shared_from_this(), make = std::move(make)] { self->deliver_(make()); });
  }
  void reply(Reply r) {
    reply_with([r = std::move(r)]() mutable { return std::move(r); });
  }
  bool replied() const { return replied_.load(); }

  // Queued inputs of a cancelled exchange are dropped before they are computed.
  void cancel(CancelReason why) {
    CancelReason none = CancelReason::None;
    reason_.compare_exchange_strong(none, why);
  }
  bool cancelled() const { return reason_.load() != CancelReason::None; }
  CancelReason cancel_reason() const { return reason_.load(); }
  Clock::time_point start() const { return start_; }
  // --request-timeout: set before the request is handed on. A timer answers at the deadline
  // (time_out), but a computation finishing around it could win that race; a result made after the
  // deadline is answered as a timeout instead (timed_out_reply), so the limit holds whatever the timing.
  void set_timeout(double seconds) {
    timeout_s_ = seconds;
    deadline_ = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }
  Clock::time_point deadline() const { return deadline_; }
  // Cancels and answers with the timeout (unless answered already).
  void time_out() {
    cancel(CancelReason::Timeout);
    reply(timeout_reply(timeout_s_));
  }
  // time_out() if the deadline has passed; false if it has not (or there is none).
  bool timed_out_reply() {
    if (timeout_s_ <= 0 || Clock::now() < deadline_) return false;
    time_out();
    return true;
  }

 private:
  boost::asio::any_io_executor io_;
  std::function<void(Reply)> deliver_;
  Clock::time_point start_;
  double timeout_s_ = 0;  // 0: no limit
  Clock::time_point deadline_;
  std::atomic<bool> replied_{false};
  std::atomic<CancelReason> reason_{CancelReason::None};
};

}  // namespace medenc::serve
