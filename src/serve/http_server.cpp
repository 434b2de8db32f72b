// Boost.Beast connections, the accept loop, signals and draining.
#include "serve/http_server.h"

#include <malloc.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "medenc/error.h"
#include "serve/log.h"

namespace medenc::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(300);  // a keep-alive connection's wait for its next request
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr auto kLingerTimeout = std::chrono::seconds(2);  // reading what a refused client still sends

class Connection;

struct Server {
  asio::io_context& io;
  Service& service;
  Metrics& metrics;
  Log& log;
  const ServerOptions& options;
  uint64_t next_request = 0;
  uint64_t next_connection = 0;
  std::map<uint64_t, std::weak_ptr<Connection>> connections{};
  int64_t busy = 0;  // connections with a request being answered
  bool draining = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)), timer_(server.io), id_(++server.next_connection) {}

  void start() {
    server_.connections[id_] = weak_from_this();
    read();
  }

  // Drain: an idle connection closes now, a busy one after its reply.
  void drain() {
    if (!busy_) close();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit((uint64_t)server_.options.payload_limit);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (closed_) return;
    if (!ec) {
      handle();
      return;
    }
    if (ec == http::error::body_limit) {
      respond_and_close(error_reply(413, "Validation",
                                    fmt::format("Failed to buffer the request body: length limit exceeded "
                                                "(--payload-limit {} bytes)",
                                                server_.options.payload_limit)));
      return;
    }
    // Bytes that are not HTTP/1.1 get a 400; a hang-up, a timeout or a cut-off request just closes.
    if (ec.category() == beast::error_code(http::error::bad_target).category() && ec != http::error::end_of_stream &&
        ec != http::error::partial_message && ec != http::error::need_more) {
      respond_and_close(error_reply(400, "Validation", fmt::format("malformed HTTP request: {}", ec.message())));
      return;
    }
    close();
  }

  void handle() {
    http::request<http::string_body>& req = parser_->get();
    request_id_ = ++server_.next_request;
    started_ = Clock::now();
    bytes_in_ = req.body().size();
    keep_alive_ = req.keep_alive() && !server_.draining;
    HttpRequest request;
    request.method = std::string(req.method_string());
    const std::string target(req.target());
    request.path = target.substr(0, target.find('?'));
    request.body = std::move(req.body());
    request.authorization = std::string(req[http::field::authorization]);
    method_ = request.method;
    path_ = request.path;
    set_busy(true);
    hold_ = shared_from_this();
    std::weak_ptr<Connection> weak = weak_from_this();
    exchange_ = std::make_shared<Exchange>(stream_.get_executor(), [weak](Reply r) {
      if (auto self = weak.lock()) self->write(std::move(r));
    });
    if (server_.options.request_timeout > 0) {
      exchange_->set_timeout(server_.options.request_timeout);
      timer_.expires_at(exchange_->deadline());
      std::weak_ptr<Exchange> ex = exchange_;
      timer_.async_wait([ex](beast::error_code ec) {
        if (ec) return;
        if (auto e = ex.lock()) e->time_out();
      });
    }
    server_.service.handle(request, exchange_);
    watch();
  }

  // While the request is computed, a readable socket means the client hung up (or pipelined its
  // next request, which waits for this reply).
  void watch() {
    if (!busy_ || closed_ || written_) return;
    stream_.expires_never();
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this()](beast::error_code ec) { self->on_readable(ec); });
  }

  void on_readable(beast::error_code ec) {
    if (ec || !busy_ || closed_ || written_) return;
    char c;
    const ssize_t n = ::recv(stream_.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return;  // pipelined bytes: read after the reply
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      watch();
      return;
    }
    exchange_->cancel(CancelReason::ClientGone);
    server_.log.write("info", "client gone", {{"request_id", request_id_}, {"path", path_}});
    close();
  }

  void write(Reply r) {
    if (closed_ || written_) return;
    written_ = true;
    timer_.cancel();
    beast::error_code ignored;
    stream_.socket().cancel(ignored);  // the watch
    send(std::move(r), keep_alive_ && !server_.draining);
  }

  void send(Reply r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
    if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    nlohmann::ordered_json fields = {{"request_id", request_id_}, {"method", method_}, {"path", path_},
                                     {"status", r.status},        {"bytes_in", bytes_in_}, {"bytes_out", res->body().size()}};
    if (r.inputs) fields["inputs"] = r.inputs, fields["tokens"] = r.tokens;
    auto ms3 = [](double ms) { return std::llround(ms * 1000) / 1000.0; };
    if (r.inference_ms >= 0) {
      fields["tokenization_ms"] = ms3(r.tokenization_ms);
      fields["queue_ms"] = ms3(r.queue_ms);
      fields["inference_ms"] = ms3(r.inference_ms);
    }
    fields["ms"] = std::llround(std::chrono::duration<double, std::milli>(Clock::now() - started_).count() * 1000) / 1000.0;
    if (path_ != "/health" || r.status != 200) server_.log.write("info", "request", fields);
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
      self->on_write(ec, keep_alive);
    });
  }

  void on_write(beast::error_code ec, bool keep_alive) {
    exchange_.reset();
    set_busy(false);
    hold_.reset();
    written_ = false;
    if (ec || !keep_alive || server_.draining) {
      close();
      return;
    }
    read();
  }

  // A reply to a request that could not be read whole (payload limit, bad HTTP): then a lingering
  // close, so that the client reads the reply instead of a reset.
  void respond_and_close(Reply r) {
    request_id_ = ++server_.next_request;
    started_ = Clock::now();
    method_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "";
    path_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().target()) : "";
    path_ = path_.substr(0, path_.find('?'));
    set_busy(true);
    written_ = true;
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
    res->set(http::field::content_type, r.content_type);
    res->body() = std::move(r.body);
    res->keep_alive(false);
    res->prepare_payload();
    server_.log.write("info", "request", {{"request_id", request_id_}, {"method", method_}, {"path", path_},
                                          {"status", r.status}});
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      self->set_busy(false);
      self->written_ = false;
      if (ec) {
        self->close();
        return;
      }
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->stream_.expires_after(kLingerTimeout);
      self->discard();
    });
  }

  void discard() {
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) self->close();
      else self->discard();
    });
  }

  void set_busy(bool busy) {
    if (busy == busy_) return;
    busy_ = busy;
    server_.busy += busy ? 1 : -1;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    set_busy(false);
    timer_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    server_.connections.erase(id_);
    hold_.reset();
  }

  Server& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  asio::steady_timer timer_;
  std::shared_ptr<Exchange> exchange_;
  std::shared_ptr<Connection> hold_;  // alive while its request is computed
  uint64_t id_;
  uint64_t request_id_ = 0;
  Clock::time_point started_;
  size_t bytes_in_ = 0;
  std::string method_, path_;
  bool busy_ = false, written_ = false, closed_ = false, keep_alive_ = true;
  char scratch_[4096];
};

void accept(Server& server, tcp::acceptor& acceptor) {
  acceptor.async_accept([&server, &acceptor](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Connection>(server, std::move(socket))->start();
    } else if (ec == asio::error::no_descriptors) {
      // Out of file descriptors: back off instead of spinning.
      auto timer = std::make_shared<asio::steady_timer>(server.io, std::chrono::milliseconds(50));
      timer->async_wait([&server, &acceptor, timer](beast::error_code) { accept(server, acceptor); });
      return;
    }
    accept(server, acceptor);
  });
}

}  // namespace

int run_server(const ServerOptions& options) {
  if (options.models.empty()) throw Error(ErrorKind::InvalidInput, "--model is required");
  Log log(options.json_logs);
  Metrics metrics(8192);
  Service service(options, metrics);
  asio::io_context io(1);
  Server server{io, service, metrics, log, options};

  tcp::acceptor acceptor(io);
  {
    beast::error_code ec;
    const auto address = asio::ip::make_address(options.host, ec);
    if (ec) throw Error(ErrorKind::InvalidInput, fmt::format("--host {}: not an IP address", options.host));
    const tcp::endpoint endpoint(address, (unsigned short)options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint, ec);
    if (ec) throw Error(ErrorKind::Io, fmt::format("cannot listen on {}:{}: {}", options.host, options.port, ec.message()));
    acceptor.listen(asio::socket_base::max_listen_connections);
  }
  const unsigned short port = acceptor.local_endpoint().port();
  log.write("info", fmt::format("listening on http://{}:{}", options.host, port),
            {{"host", options.host}, {"port", port}});
  accept(server, acceptor);

  // Models load while the port already answers /health with 503.
  std::string load_error;
  std::thread loader([&] {
    try {
      service.load();
      log.write("info", "ready", {{"models", options.models.size()}});
    } catch (const std::exception& e) {
      load_error = e.what();
      asio::post(io, [&] { io.stop(); });
    }
  });

  // While no request is in flight, give freed memory back to the system every 200 ms (glibc keeps
  // the heap of a burst otherwise; TEI does the same).
  asio::steady_timer trim_timer(io);
  uint64_t trimmed_at = 0;
  std::function<void()> trim = [&] {
    trim_timer.expires_after(std::chrono::milliseconds(200));
    trim_timer.async_wait([&](beast::error_code ec) {
      if (ec) return;
      if (server.busy == 0 && service.inputs_in_flight() == 0 && trimmed_at != server.next_request) {
        malloc_trim(0);
        trimmed_at = server.next_request;
      }
      trim();
    });
  };
  trim();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer drain_timer(io);
  Clock::time_point drain_deadline;
  std::function<void()> check_drained = [&] {
    if (server.busy == 0 || Clock::now() >= drain_deadline) {
      if (server.busy > 0) log.write("warn", "shutdown timeout: closing with requests in flight", {{"busy", server.busy}});
      io.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](beast::error_code) { check_drained(); });
  };
  signals.async_wait([&](beast::error_code ec, int signo) {
    if (ec) return;
    log.write("info", "signal received, starting graceful shutdown",
              {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}, {"in_flight", server.busy}});
    server.draining = true;
    beast::error_code ignored;
    acceptor.close(ignored);
    std::vector<std::shared_ptr<Connection>> open;
    for (auto& [id, weak] : server.connections)
      if (auto c = weak.lock()) open.push_back(c);
    for (auto& c : open) c->drain();
    drain_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options.shutdown_timeout));
    check_drained();
  });

  io.run();
  loader.join();
  service.stop();
  if (!load_error.empty()) throw Error(ErrorKind::InvalidModel, load_error);
  log.write("info", "stopped");
  return 0;
}

}  // namespace medenc::serve
