#include "daemon/http_server.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>

namespace etld::daemon {

namespace net = Poco::Net;

namespace {

class RouteHandler : public net::HTTPRequestHandler {
  public:
    explicit RouteHandler(const HttpRoutes& routes) : routes_(routes) {}

    void handleRequest(net::HTTPServerRequest& request,
                       net::HTTPServerResponse& response) override {
        HttpReply reply;
        if (request.getMethod() != net::HTTPRequest::HTTP_GET &&
            request.getMethod() != net::HTTPRequest::HTTP_HEAD) {
            reply = HttpReply{405, "text/plain; charset=utf-8", "only GET is served\n"};
            response.set("Allow", "GET, HEAD");
        } else {
            std::string path = request.getURI();
            if (const auto q = path.find('?'); q != std::string::npos) {
                path.resize(q);
            }
            try {
                reply = routes_(path);
            } catch (const std::exception& e) {
                reply = HttpReply{500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
            }
        }
        response.setStatus(static_cast<net::HTTPResponse::HTTPStatus>(reply.status));
        response.setContentType(reply.content_type);
        response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
        response.set("Cache-Control", "no-store");
        if (request.getMethod() == net::HTTPRequest::HTTP_HEAD) {
            response.send();
        } else {
            response.sendBuffer(reply.body.data(), reply.body.size());
        }
    }

  private:
    const HttpRoutes& routes_;
};

class RouteFactory : public net::HTTPRequestHandlerFactory {
  public:
    explicit RouteFactory(const HttpRoutes& routes) : routes_(routes) {}
    net::HTTPRequestHandler* createRequestHandler(const net::HTTPServerRequest&) override {
        return new RouteHandler(routes_);
    }

  private:
    const HttpRoutes& routes_;
};

}  // namespace

struct StatusServer::Impl {
    HttpRoutes routes;
    Poco::ThreadPool pool{1, 2};
    net::ServerSocket socket;
    std::unique_ptr<net::HTTPServer> server;
};

StatusServer::StatusServer(const std::string& host, std::uint16_t port, HttpRoutes routes)
    : impl_(std::make_unique<Impl>()) {
    impl_->routes = std::move(routes);
    try {
        impl_->socket.bind(net::SocketAddress(host, port), true);
        impl_->socket.listen(16);
    } catch (const Poco::Exception& e) {
        throw StatusServerError("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                e.displayText());
    }
    auto params = Poco::makeAuto<net::HTTPServerParams>();
    params->setMaxThreads(2);
    params->setMaxQueued(16);
    params->setKeepAlive(false);
    params->setTimeout(Poco::Timespan(5, 0));
    impl_->server = std::make_unique<net::HTTPServer>(Poco::makeShared<RouteFactory>(impl_->routes),
                                                      impl_->pool, impl_->socket, params);
    impl_->server->start();
}

StatusServer::~StatusServer() {
    if (impl_ && impl_->server) {
        impl_->server->stopAll(true);
        impl_->pool.joinAll();
    }
}

std::uint16_t StatusServer::port() const {
    return impl_->socket.address().port();
}

}  // namespace etld::daemon
