#include "daemon/control.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include "conf/load.h"
#include "daemon/cli.h"
#include "daemon/log.h"

namespace etld::daemon {

namespace {

constexpr const char* kDefaultConfig = "/etc/etld/etld.toml";

class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    void reset(int fd) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }

  private:
    int fd_;
};

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        throw ControlError("control socket path too long (" + std::to_string(path.size()) +
                           " bytes, at most " + std::to_string(sizeof(addr.sun_path) - 1) +
                           "): " + path);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

bool connect_to(int fd, const std::string& path) {
    const sockaddr_un addr = address_of(path);
    return ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Reads until `stop_at_newline` sees a newline or the peer closes; false on
// timeout or error.
bool read_until(int fd, std::string& out, bool stop_at_newline, int timeout_ms) {
    std::array<char, 4096> buffer{};
    while (true) {
        if (stop_at_newline && out.find('\n') != std::string::npos) {
            return true;
        }
        pollfd p{fd, POLLIN, 0};
        const int r = ::poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return false;
        }
        if (n == 0) {
            return !stop_at_newline || out.find('\n') != std::string::npos;
        }
        out.append(buffer.data(), static_cast<std::size_t>(n));
        if (out.size() > 65536) {
            return false;
        }
    }
}

}  // namespace

std::string control_socket_path(const std::string& state_dir) {
    std::string dir = state_dir;
    while (dir.size() > 1 && dir.back() == '/') {
        dir.pop_back();
    }
    return dir + "/control.sock";
}

struct ControlServer::Impl {
    std::string path;
    ControlHandler handler;
    Fd listener;
    std::atomic<bool> stop{false};
    std::thread thread;

    void serve() {
        while (!stop) {
            pollfd p{listener.get(), POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) {
                continue;
            }
            Fd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (client.get() < 0) {
                continue;
            }
            std::string request;
            if (!read_until(client.get(), request, true, 5000)) {
                continue;
            }
            request.resize(request.find('\n'));
            ControlReply reply;
            try {
                reply = handler(request);
            } catch (const std::exception& e) {
                reply = ControlReply{false, e.what()};
            }
            std::string text = std::string(reply.ok ? "ok" : "error") + "\n" + reply.detail;
            if (!text.empty() && text.back() != '\n') {
                text += '\n';
            }
            (void)write_all(client.get(), text);
        }
    }
};

ControlServer::ControlServer(std::string path, ControlHandler handler)
    : impl_(std::make_unique<Impl>()) {
    impl_->path = std::move(path);
    impl_->handler = std::move(handler);
    {
        Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (connect_to(probe.get(), impl_->path)) {
            throw ControlError("another etld answers on " + impl_->path +
                               "; is a second instance using the same state_dir?");
        }
    }
    ::unlink(impl_->path.c_str());
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un addr = address_of(impl_->path);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd.get(), 4) != 0) {
        throw ControlError("cannot listen on " + impl_->path + ": " + std::strerror(errno));
    }
    impl_->listener.reset(fd.release());
    impl_->thread = std::thread([this] {
        ::pthread_setname_np(::pthread_self(), "etld:control");
        impl_->serve();
    });
}

ControlServer::~ControlServer() {
    impl_->stop = true;
    if (impl_->thread.joinable()) {
        impl_->thread.join();
    }
    ::unlink(impl_->path.c_str());
}

ControlReply send_control(const std::string& path, const std::string& command, int timeout_s) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!connect_to(fd.get(), path)) {
        throw ControlError("no etld answers on " + path + ": " + std::strerror(errno));
    }
    if (!write_all(fd.get(), command + "\n")) {
        throw ControlError("cannot send to " + path + ": " + std::strerror(errno));
    }
    std::string reply;
    if (!read_until(fd.get(), reply, false, timeout_s * 1000)) {
        throw ControlError("no answer from etld within " + std::to_string(timeout_s) + " s");
    }
    const auto nl = reply.find('\n');
    const std::string first = reply.substr(0, nl);
    ControlReply out;
    out.ok = first == "ok";
    out.detail = nl == std::string::npos ? "" : reply.substr(nl + 1);
    if (first != "ok" && first != "error") {
        throw ControlError("unexpected answer from etld: " + first);
    }
    return out;
}

int reload_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    std::string config_path;
    std::string socket_path;
    int timeout_s = 90;
    const char* usage = "usage: etld reload [--config FILE | --socket PATH] [--timeout SECONDS]\n";
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has_value = i + 1 < args.size();
        if ((args[i] == "--config" || args[i] == "-c") && has_value) {
            config_path = args[++i];
        } else if (args[i] == "--socket" && has_value) {
            socket_path = args[++i];
        } else if (args[i] == "--timeout" && has_value) {
            const std::string& v = args[++i];
            const auto r = std::from_chars(v.data(), v.data() + v.size(), timeout_s);
            if (r.ec != std::errc() || r.ptr != v.data() + v.size() || timeout_s <= 0) {
                err << "etld reload: --timeout takes a positive number of seconds\n" << usage;
                return kExitUsage;
            }
        } else {
            err << "etld reload: unexpected argument '" << args[i] << "'\n" << usage;
            return kExitUsage;
        }
    }
    if (socket_path.empty()) {
        if (config_path.empty()) {
            config_path = kDefaultConfig;
        }
        // Only service.state_dir is needed here. The daemon validates the
        // whole file, logs its errors and reports them back, so an invalid
        // file is still sent (and rejected there, visibly in its metrics).
        const std::string state_dir = conf::peek_state_dir(config_path);
        socket_path = control_socket_path(state_dir);
    }
    try {
        const ControlReply reply = send_control(socket_path, "reload", timeout_s);
        (reply.ok ? out : err) << reply.detail;
        return reply.ok ? kExitOk : 1;
    } catch (const ControlError& e) {
        err << "etld reload: " << e.what() << "\n";
        return 69;  // EX_UNAVAILABLE
    }
}

}  // namespace etld::daemon
