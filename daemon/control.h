// The control socket: a Unix stream socket in the state directory through
// which `etld reload` asks the running daemon to reload and waits for the
// outcome (so systemd's ExecReload is synchronous).
//
// Protocol: the client sends one line ("reload"); the daemon answers with
// "ok" or "error" on the first line, details on the following lines, and
// closes the connection.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace etld::daemon {

struct ControlReply {
    bool ok = false;
    std::string detail;
};

// Called on the control thread, one request at a time.
using ControlHandler = std::function<ControlReply(const std::string& command)>;

class ControlServer {
  public:
    // Binds `path` (replacing a stale socket file; refusing when another
    // process answers on it) and serves on its own thread.
    ControlServer(std::string path, ControlHandler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class ControlError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Where a daemon running with this state directory listens.
std::string control_socket_path(const std::string& state_dir);

// Sends `command` and waits up to `timeout_s` seconds for the reply. Throws
// ControlError when no daemon answers.
ControlReply send_control(const std::string& path, const std::string& command, int timeout_s);

// `etld reload [--config FILE | --socket PATH] [--timeout SECONDS]`.
int reload_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace etld::daemon
