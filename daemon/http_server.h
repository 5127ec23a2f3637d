// The status endpoint: /healthz, /readyz and /metrics over HTTP (Poco::Net),
// on its own small thread pool so a slow scraper never touches the data path.
//
// Lifecycle: construct (binds the socket; throws StatusServerError when the
// address is taken or invalid), serve until destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace etld::daemon {

struct HttpReply {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

// Answers GET requests by path ("/metrics"); called on the server's threads.
using HttpRoutes = std::function<HttpReply(const std::string& path)>;

class StatusServer {
  public:
    StatusServer(const std::string& host, std::uint16_t port, HttpRoutes routes);
    ~StatusServer();
    StatusServer(const StatusServer&) = delete;
    StatusServer& operator=(const StatusServer&) = delete;

    // The bound port (useful when 0 was asked for).
    std::uint16_t port() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class StatusServerError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace etld::daemon
